package transforms

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.Function1x1[SufficientBlock, bool](hasNoColumns)
}

// Labels of blocks 10 (4 samples) and 20 (2 samples), and their weighted
// postings listed out of feature order:
//
//	block 10: c, a (rows 0 and 2, one shard), b, a (rows 1 and 3, the
//	          other shard: interleaves with the first), d (rows 2, 3),
//	          d (row 0: comes before the other piece)
//	block 20: b, the intercept, a
var (
	restoreLabels = []labelRec{
		{Block: 10, File: 0, Lines: []int64{1, 2, 3, 4}, Labels: []float64{1, 0, 1, 0}},
		{Block: 20, File: 1, Lines: []int64{5, 6}, Labels: []float64{0, 1}},
	}
	restoreWeighted = []weightedRec{
		{Block: 10, Feature: "c", W: 1.5, D: 0, Rows: []int32{1}, Vals: []float64{3}},
		{Block: 10, Feature: "a", W: 0.5, D: -1, Rows: []int32{0, 2}, Vals: []float64{1, 0.5}},
		{Block: 10, Feature: "b", W: -2, D: 0.25, Rows: []int32{0, 1}, Vals: []float64{2, 1}},
		{Block: 10, Feature: "a", W: 0.5, D: -1, Rows: []int32{1, 3}, Vals: []float64{2, 4}},
		{Block: 10, Feature: "d", W: 3, D: 1, Rows: []int32{2, 3}, Vals: []float64{5, 6}},
		{Block: 10, Feature: "d", W: 3, D: 1, Rows: []int32{0}, Vals: []float64{7}},
		{Block: 20, Feature: "b", W: -2, D: 0.25, Rows: []int32{1}, Vals: []float64{0.5}},
		{Block: 20, Feature: model.BiasName, W: 0.25, D: 0.5, Rows: []int32{0, 1}, Vals: []float64{1, 1}},
		{Block: 20, Feature: "a", W: 0.5, D: -1, Rows: []int32{0}, Vals: []float64{2}},
	}
)

func TestRestoreDocuments(t *testing.T) {
	// Columns in feature order ("" < "a" < "b" < ...). In block 10, a's two
	// pieces merge into rows 0, 1, 2, 3 with values 1, 2, 0.5, 4 (each
	// value stays with its row), and d's into rows 0, 2, 3 with 7, 5, 6.
	want := []SufficientBlock{
		{
			Block: 10, File: 0, Lines: []int64{1, 2, 3, 4}, Labels: []float64{1, 0, 1, 0},
			Features: []string{"a", "b", "c", "d"},
			W:        []float64{0.5, -2, 1.5, 3},
			D:        []float64{-1, 0.25, 0, 1},
			ColPtr:   []int32{0, 4, 6, 7, 10},
			Rows:     []int32{0, 1, 2, 3, 0, 1, 1, 0, 2, 3},
			Vals:     []float64{1, 2, 0.5, 4, 2, 1, 3, 7, 5, 6},
		},
		{
			Block: 20, File: 1, Lines: []int64{5, 6}, Labels: []float64{0, 1},
			Features: []string{model.BiasName, "a", "b"},
			W:        []float64{0.25, 0.5, -2},
			D:        []float64{0.5, -1, 0.25},
			ColPtr:   []int32{0, 2, 3, 4},
			Rows:     []int32{0, 1, 0, 1},
			Vals:     []float64{1, 1, 2, 0.5},
		},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		blocks := RestoreDocuments(s, keyed(s, fromLabelRec, restoreLabels), keyed(s, fromWeightedRec, restoreWeighted))
		passert.EqualsList(s, blocks, want)
	})
}

// hasNoColumns tells whether a restored block has no feature at all.
func hasNoColumns(b SufficientBlock) bool {
	return len(b.Features) == 0 && len(b.W) == 0 && len(b.D) == 0 &&
		len(b.ColPtr) == 1 && b.ColPtr[0] == 0 && len(b.Rows) == 0 && len(b.Vals) == 0 &&
		b.Block == 30 && len(b.Labels) == 2 && b.Matrix().NumCols() == 0
}

// TestRestoreDocumentsNoFeatures: a block whose samples have no feature
// (no intercept either) still comes out, with its labels and no columns.
func TestRestoreDocumentsNoFeatures(t *testing.T) {
	labels := []labelRec{{Block: 30, File: 0, Lines: []int64{7, 8}, Labels: []float64{1, 0}}}
	onRunners(t, bothRunners, func(s beam.Scope) {
		blocks := RestoreDocuments(s, keyed(s, fromLabelRec, labels), keyed(s, fromWeightedRec, []weightedRec{}))
		passert.Count(s, blocks, "blocks", 1)
		passert.True(s, blocks, hasNoColumns)
	})
}

func TestRestoreDocumentsErrors(t *testing.T) {
	cases := []struct {
		name     string
		labels   []labelRec
		weighted []weightedRec
		want     string
	}{
		{
			name:     "missing-labels",
			labels:   restoreLabels,
			weighted: append(append([]weightedRec{}, restoreWeighted...), weightedRec{Block: 40, Feature: "a", W: 0.5, Rows: []int32{0}, Vals: []float64{1}}),
			want:     "block 40 has 0 label records, want 1",
		},
		{
			name:     "duplicate-labels",
			labels:   append(append([]labelRec{}, restoreLabels...), restoreLabels[1]),
			weighted: restoreWeighted,
			want:     "block 20 has 2 label records, want 1",
		},
		{
			// Two pieces of a in block 20 that both hold row 1.
			name:   "row-twice",
			labels: restoreLabels,
			weighted: []weightedRec{
				{Block: 20, Feature: "a", W: 0.5, Rows: []int32{0, 1}, Vals: []float64{1, 2}},
				{Block: 20, Feature: "a", W: 0.5, Rows: []int32{1}, Vals: []float64{3}},
			},
			want: `feature "a" has row 1 twice`,
		},
		{
			name:     "row-outside",
			labels:   restoreLabels,
			weighted: []weightedRec{{Block: 20, Feature: "a", W: 0.5, Rows: []int32{0, 2}, Vals: []float64{1, 2}}},
			want:     `feature "a" has row 2 outside the block's 2 rows`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			failsOnRunners(t, bothRunners, tc.want, func(s beam.Scope) {
				RestoreDocuments(s, keyed(s, fromLabelRec, tc.labels), keyed(s, fromWeightedRec, tc.weighted))
			})
		})
	}
}

// restoredAt runs the index and one iteration's first stages on
// parsedBlocks (see TestInvertDocuments), with the intercept, at the
// weights of warm, sharding at threshold.
func restoredAt(s beam.Scope, warm []weightRec, threshold int64) (blocks, hot beam.PCollection) {
	idx := InvertDocuments(s, beam.CreateList(s, parsedBlocks), true)
	rows := InitParameters(s, idx.Freq, keyed(s, fromWeightRec, warm), 1, true)
	postings, hot := ShardHotFeatures(s, idx, ShardingParams{Threshold: threshold})
	return RestoreDocuments(s, idx.Labels, DistributeParameters(s, rows, postings, hot, false)), hot
}

// TestRestoreDocumentsAfterSharding restores parsedBlocks through the
// stages before it, unsharded and with every feature of more than one
// posting split into shards: both give the same blocks, written here by
// hand.
func TestRestoreDocumentsAfterSharding(t *testing.T) {
	warm := []weightRec{{Name: model.BiasName, W: 0.25}, {Name: "a", W: 0.5}, {Name: "b", W: -1}, {Name: "c", W: 2}}
	want := []SufficientBlock{
		{
			Block: blockA, File: 0, Lines: []int64{1, 2, 3}, Labels: []float64{1, 0, 1},
			Features: []string{model.BiasName, "a", "b", "c"},
			W:        []float64{0.25, 0.5, -1, 2},
			D:        []float64{0, 0, 0, 0},
			ColPtr:   []int32{0, 3, 5, 7, 8},
			Rows:     []int32{0, 1, 2, 0, 2, 0, 1, 1},
			Vals:     []float64{1, 1, 1, 1, 0.5, 2, 1, 3},
		},
		{
			Block: blockB, File: 1, Lines: []int64{1, 2, 3}, Labels: []float64{0, 1, 1},
			Features: []string{model.BiasName, "a", "b", "c"},
			W:        []float64{0.25, 0.5, -1, 2},
			D:        []float64{0, 0, 0, 0},
			ColPtr:   []int32{0, 3, 4, 5, 6},
			Rows:     []int32{0, 1, 2, 0, 1, 0},
			Vals:     []float64{1, 1, 1, 2, 0.5, 1},
		},
	}
	// Threshold 1: the intercept (6 postings), a, b (3 each) and c (2) are
	// all hot, with ceil(postings/1) shards.
	wantHot := []hotRec{{Name: model.BiasName, Shards: 6}, {Name: "a", Shards: 3}, {Name: "b", Shards: 3}, {Name: "c", Shards: 2}}
	onRunners(t, bothRunners, func(s beam.Scope) {
		plain, _ := restoredAt(s, warm, 0)
		sharded, hot := restoredAt(s, warm, 1)
		passert.EqualsList(s, beam.ParDo(s, toHotRec, hot), wantHot)
		passert.EqualsList(s, plain, want)
		passert.EqualsList(s, sharded, want)
	})
}
