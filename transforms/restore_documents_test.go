package transforms

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

// Inverted blocks 10 (4 samples) and 20 (2 samples):
//
//	block 10: a (rows 0-3), b (rows 0, 1), c (row 1), d (rows 0, 2, 3)
//	block 20: the intercept (rows 0, 1), a (row 0), b (row 1)
//
// and their weights, in pieces as several partitions send them, columns
// not in order within a piece nor across pieces, with their rows' ids
// (restoreIDs).
var (
	restoreDocs = []DocBlock{
		{
			Block: 10, File: 0, Lines: []int64{1, 2, 3, 4}, Labels: []float64{1, 0, 1, 0},
			ColPtr: []int32{0, 4, 6, 7, 10},
			Rows:   []int32{0, 1, 2, 3, 0, 1, 1, 0, 2, 3},
			Vals:   []float64{1, 2, 0.5, 4, 2, 1, 3, 7, 5, 6},
		},
		{
			Block: 20, File: 1, Lines: []int64{5, 6}, Labels: []float64{0, 1},
			Intercept: 1, // column 0
			ColPtr:    []int32{0, 2, 3, 4},
			Rows:      []int32{0, 1, 0, 1},
			Vals:      []float64{1, 1, 2, 0.5},
		},
	}
	restoreIDs     = map[string]RowID{model.BiasName: {0, 0}, "a": {2, 0}, "b": {2, 1}, "c": {0, 1}, "d": {1, 0}}
	restoreWeights = []weightsRec{
		{Block: 10, Cols: []int32{2}, IDs: restoreIDsOf("c"), W: []float64{1.5}, D: []float64{0}},
		{Block: 10, Cols: []int32{3, 0}, IDs: restoreIDsOf("d", "a"), W: []float64{3, 0.5}, D: []float64{1, -1}},
		{Block: 10, Cols: []int32{1}, IDs: restoreIDsOf("b"), W: []float64{-2}, D: []float64{0.25}},
		{Block: 20, Cols: []int32{2, 1}, IDs: restoreIDsOf("b", "a"), W: []float64{-2, 0.5}, D: []float64{0.25, -1}},
		{Block: 20, Cols: []int32{0}, IDs: restoreIDsOf(model.BiasName), W: []float64{0.25}, D: []float64{0.5}},
	}
)

func restoreIDsOf(names ...string) []RowID {
	var ids []RowID
	for _, name := range names {
		ids = append(ids, restoreIDs[name])
	}
	return ids
}

func docRecs(docs []DocBlock) []docRec {
	var out []docRec
	for _, d := range docs {
		out = append(out, docRecOf(d))
	}
	return out
}

func TestRestoreDocuments(t *testing.T) {
	// Each weight lands in its column; the matrix is the DocBlock's.
	want := []SufficientBlock{
		{
			DocBlock: DocBlock{
				Block: 10, File: 0, Lines: []int64{1, 2, 3, 4}, Labels: []float64{1, 0, 1, 0},
				ColPtr: []int32{0, 4, 6, 7, 10},
				Rows:   []int32{0, 1, 2, 3, 0, 1, 1, 0, 2, 3},
				Vals:   []float64{1, 2, 0.5, 4, 2, 1, 3, 7, 5, 6},
			},
			IDs: restoreIDsOf("a", "b", "c", "d"),
			W:   []float64{0.5, -2, 1.5, 3},
			D:   []float64{-1, 0.25, 0, 1},
		},
		{
			DocBlock: DocBlock{
				Block: 20, File: 1, Lines: []int64{5, 6}, Labels: []float64{0, 1},
				Intercept: 1, // column 0
				ColPtr:    []int32{0, 2, 3, 4},
				Rows:      []int32{0, 1, 0, 1},
				Vals:      []float64{1, 1, 2, 0.5},
			},
			IDs: restoreIDsOf(model.BiasName, "a", "b"),
			W:   []float64{0.25, 0.5, -2},
			D:   []float64{0.5, -1, 0.25},
		},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		blocks := RestoreDocuments(s, keyed(s, fromDocRec, docRecs(restoreDocs)), keyed(s, fromWeightsRec, restoreWeights))
		passert.EqualsList(s, blocks, want)
	})
}

// TestRestoreDocumentsNoFeatures: a block whose samples have no feature
// (no intercept either) still comes out, with its labels and no columns.
func TestRestoreDocumentsNoFeatures(t *testing.T) {
	docs := []DocBlock{{Block: 30, File: 2, Lines: []int64{7, 8}, Labels: []float64{1, 0}, ColPtr: []int32{0}}}
	want := SufficientBlock{DocBlock: docs[0]}
	onRunners(t, bothRunners, func(s beam.Scope) {
		blocks := RestoreDocuments(s, keyed(s, fromDocRec, docRecs(docs)), keyed(s, fromWeightsRec, []weightsRec{}))
		passert.Equals(s, blocks, want)
	})
}

func TestRestoreDocumentsErrors(t *testing.T) {
	cases := []struct {
		name    string
		docs    []DocBlock
		weights []weightsRec
		want    string
		runners []string // both when nil
	}{
		{
			name:    "no-doc",
			docs:    restoreDocs,
			weights: append(append([]weightsRec{}, restoreWeights...), weightsRec{Block: 40, Cols: []int32{0}, IDs: restoreIDsOf("a"), W: []float64{1}, D: []float64{0}}),
			want:    "block 40 has 0 inverted blocks, want 1",
		},
		{
			name:    "two-docs",
			docs:    append(append([]DocBlock{}, restoreDocs...), restoreDocs[1]),
			weights: restoreWeights,
			want:    "block 20 has 2 inverted blocks, want 1",
		},
		{
			// Column 2 of block 10 (c) gets no weight.
			name:    "column-without-weight",
			docs:    restoreDocs,
			weights: restoreWeights[1:],
			want:    `block 10: column 2 got no weight (3 of 4 columns did)`,
		},
		{
			// Block 20's columns get no weight at all.
			name:    "block-without-weights",
			docs:    restoreDocs,
			weights: restoreWeights[:3],
			want:    `block 20: column 0 got no weight (0 of 3 columns did)`,
		},
		{
			// Column 1 of block 20 (a) gets two weights, equal ones even.
			name:    "column-twice",
			docs:    restoreDocs,
			weights: append(append([]weightsRec{}, restoreWeights...), weightsRec{Block: 20, Cols: []int32{1}, IDs: restoreIDsOf("a"), W: []float64{0.5}, D: []float64{-1}}),
			want:    "block 20: a weight for column 1 of its 3 arrived twice",
		},
		{
			name:    "column-outside",
			docs:    restoreDocs,
			weights: append(append([]weightsRec{}, restoreWeights...), weightsRec{Block: 20, Cols: []int32{3}, IDs: restoreIDsOf("a"), W: []float64{1}, D: []float64{1}}),
			want:    "block 20: a weight for column 3 of its 3 arrived twice or out of range",
		},
		{
			// On prism the coder refuses such an element before the
			// restore sees it (TestDecodersRefuseMalformed, BlockWeights/ids).
			name:    "column-without-id",
			docs:    restoreDocs,
			weights: append(append([]weightsRec{}, restoreWeights[:4]...), weightsRec{Block: 20, Cols: []int32{0}, W: []float64{1}, D: []float64{1}}),
			want:    "block 20: weights for 1 columns arrived with 1 values and 0 row ids, want 1 values and 1 id per column",
			runners: []string{"direct"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runners := tc.runners
			if runners == nil {
				runners = bothRunners
			}
			failsOnRunners(t, runners, tc.want, func(s beam.Scope) {
				RestoreDocuments(s, keyed(s, fromDocRec, docRecs(tc.docs)), keyed(s, fromWeightsRec, tc.weights))
			})
		})
	}
}

// restoredAt runs the index and one iteration's first stages on
// parsedBlocks (see TestInvertDocuments), with the intercept, at the
// weights of warm, over parts partitions, sharding at threshold.
func restoredAt(s beam.Scope, warm []weightRec, threshold int64, parts int32) (blocks, hot beam.PCollection) {
	idx := InvertDocuments(s, beam.CreateList(s, parsedBlocks), true, parts)
	rows := InitParameters(s, idx.Freq, PackWeights(s, keyed(s, fromWeightRec, warm), parts))
	features, hot := ShardHotFeatures(s, idx, ShardingParams{Threshold: threshold}, parts)
	return RestoreDocuments(s, idx.Docs, distributeByName(s, rows, features, hot, parts, false)), hot
}

// TestRestoreDocumentsAfterSharding restores parsedBlocks through the
// stages before it, unsharded and with features split into shards, over 3
// partitions and over 1 (where every shard key shares the partition of
// its feature): all give the same blocks, parsedDocs with the warm
// weights and zero steps, and each column its row's id, where the row
// lives and not the shard that served it.
func TestRestoreDocumentsAfterSharding(t *testing.T) {
	warmW := map[string]float64{model.BiasName: 0.25, "a": 0.5, "b": -1, "c": 2, "d": -0.5}
	var warm []weightRec
	for name, w := range warmW {
		warm = append(warm, weightRec{Name: name, W: w})
	}
	wantAt := func(parts int32) []SufficientBlock {
		ids := rowIDs(parts, model.BiasName, "a", "b", "c", "d")
		var want []SufficientBlock
		names := parsedFeatures(true)
		for i, d := range parsedDocs(true) {
			sb := SufficientBlock{DocBlock: d, D: make([]float64, d.Columns())}
			for _, name := range names[i] {
				sb.W = append(sb.W, warmW[name])
				sb.IDs = append(sb.IDs, ids[name])
			}
			want = append(want, sb)
		}
		return want
	}
	want, want1 := wantAt(invertParts), wantAt(1)
	// Postings: the intercept 8, a 3, b 4, c 2, d 2. Threshold 1 makes
	// every feature hot with ceil(postings/1) shards; threshold 2 the
	// intercept (4 shards), a and b (2 each).
	wantHot1 := []hotRec{{Name: model.BiasName, Shards: 8}, {Name: "a", Shards: 3}, {Name: "b", Shards: 4}, {Name: "c", Shards: 2}, {Name: "d", Shards: 2}}
	wantHot2 := []hotRec{{Name: model.BiasName, Shards: 4}, {Name: "a", Shards: 2}, {Name: "b", Shards: 2}}
	onRunners(t, bothRunners, func(s beam.Scope) {
		plain, _ := restoredAt(s, warm, 0, invertParts)
		sharded1, hot1 := restoredAt(s, warm, 1, invertParts)
		sharded2, hot2 := restoredAt(s, warm, 2, 1)
		passert.EqualsList(s, beam.ParDo(s, toHotRec, hot1), wantHot1)
		passert.EqualsList(s, beam.ParDo(s, toHotRec, hot2), wantHot2)
		passert.EqualsList(s, plain, want)
		passert.EqualsList(s, sharded1, want)
		passert.EqualsList(s, sharded2, want1)
	})
}

// TestRestoreBlockPlacesRows: subspace's trips send rows (RowFields) and no
// weights; each lands in its column, and a block whose columns came as
// both is refused.
func TestRestoreBlockPlacesRows(t *testing.T) {
	doc := DocBlock{Lines: []int64{1, 2}, Labels: []float64{1, 0}, ColPtr: []int32{0, 1, 3}, Rows: []int32{0, 0, 1}, Vals: []float64{1, 2, 3}}
	from := func(ws ...BlockWeights) func(*BlockWeights) bool {
		return func(w *BlockWeights) bool {
			if len(ws) == 0 {
				return false
			}
			*w, ws = ws[0], ws[1:]
			return true
		}
	}
	rows := []BlockWeights{
		{Block: 4, Cols: []int32{1}, IDs: []RowID{{0, 3}}, G: []float64{-1}, H: []float64{2}, U: []float64{0.5}},
		{Block: 4, Cols: []int32{0}, IDs: []RowID{{1, 0}}, G: []float64{3}, H: []float64{4}},
	}
	sb, err := RestoreBlock(4, doc, from(rows...))
	require.NoError(t, err)
	require.Equal(t, []model.Row{{G: 3, H: 4}, {G: -1, H: 2, U: 0.5}}, sb.ParamRows)
	require.Equal(t, []RowID{{1, 0}, {0, 3}}, sb.IDs)
	require.Nil(t, sb.W)

	weights := BlockWeights{Block: 4, Cols: []int32{0}, IDs: []RowID{{1, 0}}, W: []float64{1}, D: []float64{0}}
	_, err = RestoreBlock(4, doc, from(rows[0], weights))
	require.ErrorContains(t, err, "block 4: some of its columns arrived as weights, others as rows")
}
