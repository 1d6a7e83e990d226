package transforms

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

// Two parsed blocks, written as the sample lines they come from:
//
//	file 0, block size 3, lines 1-3 (block blockA):
//	  1 b:2 a:1      features not in name order: postings follow rows
//	  0 c:3 b:1
//	  1 a:0.5
//	file 1, lines 1-3 (block blockB):
//	  0 c:1 a:2
//	  1 b:0.5
//	  1              no features: only the intercept uses it
var (
	blockA = model.BlockKey(0, 1, 3) // 0
	blockB = model.BlockKey(1, 1, 3) // 1<<40

	parsedBlocks = []ParsedBlock{
		{
			Block: blockA, File: 0, Lines: []int64{1, 2, 3}, Labels: []float64{1, 0, 1},
			RowPtr: []int32{0, 2, 4, 5},
			Names:  []string{"b", "a", "c", "b", "a"},
			Vals:   []float64{2, 1, 3, 1, 0.5},
		},
		{
			Block: blockB, File: 1, Lines: []int64{1, 2, 3}, Labels: []float64{0, 1, 1},
			RowPtr: []int32{0, 2, 3, 3},
			Names:  []string{"c", "a", "b"},
			Vals:   []float64{1, 2, 0.5},
		},
	}
)

// featurePostings are the postings of parsedBlocks' real features: each
// feature's rows in a block, ascending, with their values.
var featurePostings = []postingRec{
	{Name: "a", Block: blockA, Rows: []int32{0, 2}, Vals: []float64{1, 0.5}},
	{Name: "b", Block: blockA, Rows: []int32{0, 1}, Vals: []float64{2, 1}},
	{Name: "c", Block: blockA, Rows: []int32{1}, Vals: []float64{3}},
	{Name: "a", Block: blockB, Rows: []int32{0}, Vals: []float64{2}},
	{Name: "b", Block: blockB, Rows: []int32{1}, Vals: []float64{0.5}},
	{Name: "c", Block: blockB, Rows: []int32{0}, Vals: []float64{1}},
}

// biasPostings are the intercept's postings: every row of every block,
// the featureless row 2 of blockB included, with value 1.
var biasPostings = []postingRec{
	{Name: model.BiasName, Block: blockA, Rows: []int32{0, 1, 2}, Vals: []float64{1, 1, 1}},
	{Name: model.BiasName, Block: blockB, Rows: []int32{0, 1, 2}, Vals: []float64{1, 1, 1}},
}

func TestInvertDocuments(t *testing.T) {
	wantLabels := []labelRec{
		{Block: blockA, File: 0, Lines: []int64{1, 2, 3}, Labels: []float64{1, 0, 1}},
		{Block: blockB, File: 1, Lines: []int64{1, 2, 3}, Labels: []float64{0, 1, 1}},
	}
	// Frequencies summed over both blocks:
	//   a: 3 postings, 1^2 + 0.5^2 + 2^2 = 5.25
	//   b: 3 postings, 2^2 + 1^2 + 0.5^2 = 5.25
	//   c: 2 postings, 3^2 + 1^2         = 10
	//   intercept: 6 postings of 1       = 6
	featureFreq := []freqRec{
		{Name: "a", Postings: 3, SumSq: 5.25},
		{Name: "b", Postings: 3, SumSq: 5.25},
		{Name: "c", Postings: 2, SumSq: 10},
	}
	biasFreq := freqRec{Name: model.BiasName, Postings: 6, SumSq: 6}

	cases := []struct {
		name         string
		bias         bool
		wantPostings []postingRec
		wantFreq     []freqRec
	}{
		{"bias", true, append(append([]postingRec{}, featurePostings...), biasPostings...), append(append([]freqRec{}, featureFreq...), biasFreq)},
		{"no-bias", false, featurePostings, featureFreq},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onRunners(t, bothRunners, func(s beam.Scope) {
				idx := InvertDocuments(s, beam.CreateList(s, parsedBlocks), tc.bias)
				passert.EqualsList(s, beam.ParDo(s, toPostingRec, idx.Postings), tc.wantPostings)
				passert.EqualsList(s, beam.ParDo(s, toLabelRec, idx.Labels), wantLabels)
				passert.EqualsList(s, beam.ParDo(s, toFreqRec, idx.Freq), tc.wantFreq)
			})
		})
	}
}

// TestInvertDocumentsFreqExact checks that a feature's sum of squares is
// added exactly across blocks. Squares 1e16, 1, 1, 1, 1: float64 spaces
// numbers near 1e16 by 2, so 1e16 + 1 rounds (to even) back to 1e16 and a
// left-to-right sum that starts with 1e16 ends at 1e16, while the exact
// total 1e16 + 4 is representable.
func TestInvertDocumentsFreqExact(t *testing.T) {
	var blocks []ParsedBlock
	for i, v := range []float64{1e8, 1, 1, 1, 1} {
		blocks = append(blocks, ParsedBlock{
			Block: int64(i), Lines: []int64{int64(i + 1)}, Labels: []float64{1},
			RowPtr: []int32{0, 1}, Names: []string{"x"}, Vals: []float64{v},
		})
	}
	want := freqRec{Name: "x", Postings: 5, SumSq: 1e16 + 4}
	onRunners(t, bothRunners, func(s beam.Scope) {
		idx := InvertDocuments(s, beam.CreateList(s, blocks), false)
		passert.Equals(s, beam.ParDo(s, toFreqRec, idx.Freq), want)
	})
}
