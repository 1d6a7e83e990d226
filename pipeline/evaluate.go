package pipeline

import (
	"context"
	"fmt"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

// testEvaluations is the first snapshot format whose passes hold their
// test set's evaluation (transforms.EvaluateScores) rather than its
// scores.
const testEvaluations = 5

// testMetrics reads the test set's metrics from the evaluation a pass
// wrote (the "test" dataset): one record, however large the test set.
func testMetrics(ctx context.Context, m *Manifest) (*model.Metrics, error) {
	if m.Version < testEvaluations {
		return nil, fmt.Errorf("scores written by an older dpmr (snapshot format %d), not their evaluation; use a new work dir", m.Version)
	}
	var evals []*model.Evaluator
	err := eachRecord(ctx, m.Dataset("test"), func(rec []byte) error {
		a, err := transforms.DecodeEvaluation(rec)
		if err != nil {
			return notDecodable("test", err)
		}
		evals = append(evals, a.E)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(evals) > 1 {
		return nil, fmt.Errorf("%d evaluations of the test set, want one", len(evals))
	}
	if len(evals) == 0 || evals[0].N() == 0 {
		return nil, fmt.Errorf("the test set has no samples")
	}
	met, err := evals[0].Metrics()
	if err != nil {
		return nil, err
	}
	return &met, nil
}
