package transforms

import (
	"fmt"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

// TestClassify scores parsedBlocks (see TestInvertDocuments) with a model
// that knows the intercept, a and b but not c and d, which weigh 0. Rows
// carry steps and gradients too, which scoring ignores. Hot features are
// sharded, as in training. Margins, z = sum_j w_j x_j:
//
//	block A: 0.5 + 2*(-2) + 1*1 = -2.5;  0.5 + 3*0 + 1*(-2) = -1.5;  0.5 + 0.5*1 = 1
//	block B: 0.5 + 1*0 + 2*1 = 2.5;      0.5 + 0.5*(-2) = -0.5;      0.5
//	block C: 0.5 + 4*0 + (-1)*(-2) = 2.5; 0.5 + 0.5*0 = 0.5
func TestClassify(t *testing.T) {
	rows := map[string]model.Row{
		model.BiasName: {W: 0.5, G: 1, D: 3, H: 2},
		"a":            {W: 1, G: -1, D: -5, H: 1},
		"b":            {W: -2, G: 2, D: 7, H: 1, S: []float64{1}, Y: []float64{2}},
	}
	want := []PredictionBlock{
		{Block: blockA, File: 0, Lines: []int64{1, 2, 3}, Labels: []float64{1, 0, 1}, Margins: []float64{-2.5, -1.5, 1}},
		{Block: blockB, File: 1, Lines: []int64{1, 2, 3}, Labels: []float64{0, 1, 1}, Margins: []float64{2.5, -0.5, 0.5}},
		{Block: blockC, File: 1, Lines: []int64{4, 5}, Labels: []float64{0, 1}, Margins: []float64{2.5, 0.5}},
	}
	for _, threshold := range []int64{0, 2} {
		t.Run(fmt.Sprintf("threshold=%d", threshold), func(t *testing.T) {
			onRunners(t, bothRunners, func(s beam.Scope) {
				idx := InvertDocuments(s, beam.CreateList(s, parsedBlocks), true, invertParts)
				features, hot := ShardHotFeatures(s, idx, ShardingParams{Threshold: threshold}, invertParts)
				idx.Features = features
				preds := Classify(s, keyed(s, fromRowPackRec, rowPacks(invertParts, rows)), idx, hot, invertParts, 0)
				passert.EqualsList(s, preds, want)
			})
		})
	}
}
