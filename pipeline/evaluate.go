package pipeline

import (
	"context"
	"fmt"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

// testMetrics evaluates the test set's scores a pass wrote (the "test"
// dataset) at threshold 0.5, streaming them through a model.Evaluator:
// the driver's memory does not grow with the test set.
func testMetrics(ctx context.Context, m *Manifest) (*model.Metrics, error) {
	e, err := model.NewEvaluator(0.5, model.EvalAUCBins)
	if err != nil {
		return nil, err
	}
	err = eachRecord(ctx, m.Dataset("test"), func(rec []byte) error {
		b, err := transforms.DecodePredictionBlock(rec)
		if err != nil {
			return err
		}
		for i, y := range b.Labels {
			if err := e.AddWeighted(y, b.Margins[i], model.WeightAt(b.Weights, i)); err != nil {
				return fmt.Errorf("test set scores: %v", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if e.N() == 0 {
		return nil, fmt.Errorf("the test set has no samples")
	}
	met, err := e.Metrics()
	if err != nil {
		return nil, err
	}
	return &met, nil
}
