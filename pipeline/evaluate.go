package pipeline

import (
	"context"
	"fmt"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

// testMetrics evaluates the test set's scores a pass wrote (the "test"
// dataset) at threshold 0.5. The driver holds two float64 per test sample.
func testMetrics(ctx context.Context, m *Manifest) (*model.Metrics, error) {
	var labels, margins []float64
	for _, f := range m.Dataset("test") {
		data, err := readFile(ctx, f.Path)
		if err != nil {
			return nil, err
		}
		err = forEachRecord(f, data, func(rec []byte) error {
			b, err := transforms.DecodePredictionBlock(rec)
			if err != nil {
				return err
			}
			labels = append(labels, b.Labels...)
			margins = append(margins, b.Margins...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("the test set has no samples")
	}
	met, err := model.EvaluateMargins(labels, margins, 0.5)
	if err != nil {
		return nil, err
	}
	return &met, nil
}
