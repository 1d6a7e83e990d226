package transforms

import (
	"math"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

// distParts partitions the keys of these tests:
//
//	"" and c: 0; d: 1; a and b: 2
//	a's shard keys 1, 2, 3: partitions 2 (its own), 0, 0
//	""'s shard keys 1, 2: partitions 0 (its own), 2
const distParts = 3

var distPartitions = map[FeatureKey]int32{
	{Name: model.BiasName}: 0, {Name: "c"}: 0, {Name: "d"}: 1, {Name: "a"}: 2, {Name: "b"}: 2, {Name: "x"}: 1,
	{Name: "a", Shard: 1}: 2, {Name: "a", Shard: 2}: 0, {Name: "a", Shard: 3}: 0,
	{Name: model.BiasName, Shard: 1}: 0, {Name: model.BiasName, Shard: 2}: 2,
}

// distRows are the parameter rows; d is used by no block.
var distRows = map[string]model.Row{
	"a":            {W: 0.5, D: -1, H: 2},
	"b":            {W: -2, D: 0.25, H: 1},
	"c":            {W: 1.5, D: 0, H: 3},
	"d":            {W: 3, D: 1, H: 1},
	model.BiasName: {W: 0.25, D: 0.5, H: 1},
}

func TestDistributeParameters(t *testing.T) {
	requirePartitions(t, distParts, distPartitions)
	// Block features as ShardHotFeatures leaves them with a hot, of 2
	// shards: BlockShard(block, 2) is 0 for blocks 10 and 30 and 1 for
	// block 20, so a's references of blocks 10 and 30 are in shard 1's
	// partition (2, a's own, which also holds its row) and block 20's in
	// shard 2's (0, where only the fan-out brings a's row).
	//
	//	block 10: columns "" 0, a 1, b 2
	//	block 20: column a 0
	//	block 30: columns a 0, c 1
	//	block 40: columns "" 0, c 1 (one element of two features)
	for _, b := range []struct {
		block int64
		want  int32
	}{{10, 0}, {20, 1}, {30, 0}} {
		if got := BlockShard(b.block, 2); got != b.want {
			t.Fatalf("test data assumes BlockShard(%d, 2) = %d, it is %d", b.block, b.want, got)
		}
	}
	features := []featRec{
		{Part: 0, Block: 10, Names: []string{model.BiasName}, Cols: []int32{0}},
		{Part: 2, Block: 10, Names: []string{"a"}, Cols: []int32{1}},
		{Part: 2, Block: 10, Names: []string{"b"}, Cols: []int32{2}},
		{Part: 0, Block: 20, Names: []string{"a"}, Cols: []int32{0}},
		{Part: 2, Block: 30, Names: []string{"a"}, Cols: []int32{0}},
		{Part: 0, Block: 30, Names: []string{"c"}, Cols: []int32{1}},
		{Part: 0, Block: 40, Names: []string{model.BiasName, "c"}, Cols: []int32{0, 1}},
	}
	// One BlockWeights per element, keyed by its block, with its
	// features' rows and their W and D in its column order. Block 20 gets
	// a's row from a copy in partition 0, yet the row's id is where it
	// lives, partition 2.
	ids := packIDs(rowPacks(distParts, distRows))
	bias, a, b, c := ids[model.BiasName], ids["a"], ids["b"], ids["c"]
	if a.Part != 2 || b.Part != 2 || a.Pos != 0 || b.Pos != 1 {
		t.Fatalf("test data: a and b at %+v and %+v, want positions 0 and 1 of partition 2", a, b)
	}
	want := []weightsRec{
		{Block: 10, Cols: []int32{0}, IDs: []RowID{bias}, W: []float64{0.25}, D: []float64{0.5}},
		{Block: 10, Cols: []int32{1}, IDs: []RowID{a}, W: []float64{0.5}, D: []float64{-1}},
		{Block: 10, Cols: []int32{2}, IDs: []RowID{b}, W: []float64{-2}, D: []float64{0.25}},
		{Block: 20, Cols: []int32{0}, IDs: []RowID{a}, W: []float64{0.5}, D: []float64{-1}},
		{Block: 30, Cols: []int32{0}, IDs: []RowID{a}, W: []float64{0.5}, D: []float64{-1}},
		{Block: 30, Cols: []int32{1}, IDs: []RowID{c}, W: []float64{1.5}, D: []float64{0}},
		{Block: 40, Cols: []int32{0, 1}, IDs: []RowID{bias, c}, W: []float64{0.25, 1.5}, D: []float64{0.5, 0}},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		rows := keyed(s, fromRowPackRec, rowPacks(distParts, distRows))
		hot := keyed(s, fromHotRec, []hotRec{{Name: "a", Shards: 2}})
		weights := DistributeParameters(s, rows, keyed(s, fromFeatRec, features), hot, distParts, false)
		passert.EqualsList(s, beam.ParDo(s, toWeightsRec, weights), want)
	})
}

// TestFanOutRows checks the keyed fan-out on its own: every pack goes to
// its own partition, and a hot feature's row also, alone, to the
// partition of each of its shard keys 1..k, even where that is its own
// partition or where two shards share one, saying where the row lives.
// Rows keep only what the blocks need, W and D.
func TestFanOutRows(t *testing.T) {
	requirePartitions(t, distParts, distPartitions)
	rows := map[string]model.Row{
		"a":            {W: 0.5, G: 3, D: -1, H: 2, S: []float64{1}, Y: []float64{2}},
		"b":            {W: -2, D: 0.25, H: 1},
		model.BiasName: {W: 1, G: -1, D: 2},
	}
	ra, rb, rbias := model.Row{W: 0.5, D: -1}, model.Row{W: -2, D: 0.25}, model.Row{W: 1, D: 2}
	fromA, fromBias := &RowID{Part: 2, Pos: 0}, &RowID{Part: 0, Pos: 0}
	want := []rowPackRec{
		{Part: 0, Names: []string{model.BiasName}, Rows: []model.Row{rbias}},
		{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{ra, rb}},
		{Part: 2, Names: []string{"a"}, Rows: []model.Row{ra}, From: fromA}, // shard 1
		{Part: 0, Names: []string{"a"}, Rows: []model.Row{ra}, From: fromA}, // shard 2
		{Part: 0, Names: []string{"a"}, Rows: []model.Row{ra}, From: fromA}, // shard 3
		{Part: 0, Names: []string{model.BiasName}, Rows: []model.Row{rbias}, From: fromBias},
		{Part: 2, Names: []string{model.BiasName}, Rows: []model.Row{rbias}, From: fromBias},
	}
	hot := []hotRec{{Name: "a", Shards: 3}, {Name: model.BiasName, Shards: 2}, {Name: "unused", Shards: 5}}
	onRunners(t, bothRunners, func(s beam.Scope) {
		out := beam.ParDo(s, &fanOutRowsFn{Partitions: distParts}, keyed(s, fromRowPackRec, rowPacks(distParts, rows)),
			beam.SideInput{Input: keyed(s, fromHotRec, hot)})
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, out), want)
	})
}

// TestDistributeParametersMissingRow: a block uses a feature without a
// parameter row, either in a partition that has no rows at all (x, in
// partition 1) or in one that has rows of other features (b, beside a in
// partition 2).
func TestDistributeParametersMissingRow(t *testing.T) {
	requirePartitions(t, distParts, distPartitions)
	rows := map[string]model.Row{"a": {W: 0.5, D: -1}}
	cases := []struct {
		name     string
		features []featRec
		want     string
		zero     []weightsRec // with missingIsZero
	}{
		{
			name: "empty-partition",
			features: []featRec{
				{Part: 2, Block: 10, Names: []string{"a"}, Cols: []int32{0}},
				{Part: 1, Block: 20, Names: []string{"x"}, Cols: []int32{1}},
			},
			want: `feature "x" is used by block 20 but has no parameter row`,
			zero: []weightsRec{
				{Block: 10, Cols: []int32{0}, IDs: []RowID{{Part: 2, Pos: 0}}, W: []float64{0.5}, D: []float64{-1}},
				{Block: 20, Cols: []int32{1}, IDs: []RowID{NoRow}, W: []float64{0}, D: []float64{0}},
			},
		},
		{
			name: "shared-partition",
			features: []featRec{
				{Part: 2, Block: 10, Names: []string{"a", "b"}, Cols: []int32{0, 1}},
			},
			want: `feature "b" is used by block 10 but has no parameter row`,
			zero: []weightsRec{{Block: 10, Cols: []int32{0, 1}, IDs: []RowID{{Part: 2, Pos: 0}, NoRow}, W: []float64{0.5, 0}, D: []float64{-1, 0}}},
		},
	}
	for _, tc := range cases {
		build := func(missingIsZero bool) func(s beam.Scope) beam.PCollection {
			return func(s beam.Scope) beam.PCollection {
				return DistributeParameters(s, keyed(s, fromRowPackRec, rowPacks(distParts, rows)),
					keyed(s, fromFeatRec, tc.features), noHotTable(s), distParts, missingIsZero)
			}
		}
		t.Run(tc.name+"/error", func(t *testing.T) {
			failsOnRunners(t, bothRunners, tc.want, func(s beam.Scope) { build(false)(s) })
		})
		t.Run(tc.name+"/missing-is-zero", func(t *testing.T) {
			// Prediction: unseen features weigh 0 (and step 0).
			onRunners(t, bothRunners, func(s beam.Scope) {
				passert.EqualsList(s, beam.ParDo(s, toWeightsRec, build(true)(s)), tc.zero)
			})
		})
	}
}

// TestDistributeParametersDuplicateRow: two different rows of one feature
// are an error; the same row twice (as the fan-out makes when a shard key
// falls in its feature's own partition) is not. Nor are two packs of a
// partition's own.
func TestDistributeParametersDuplicateRow(t *testing.T) {
	requirePartitions(t, distParts, distPartitions)
	features := []featRec{{Part: 2, Block: 10, Names: []string{"a"}, Cols: []int32{0}}}
	copyOf := &RowID{Part: 2, Pos: 0}
	t.Run("two-packs", func(t *testing.T) {
		rows := []rowPackRec{
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 0.5}}},
			{Part: 2, Names: []string{"b"}, Rows: []model.Row{{W: 1}}},
		}
		failsOnRunners(t, bothRunners, `partition 2 has two parameter row packs`, func(s beam.Scope) {
			DistributeParameters(s, keyed(s, fromRowPackRec, rows), keyed(s, fromFeatRec, features), noHotTable(s), distParts, false)
		})
	})
	t.Run("different", func(t *testing.T) {
		rows := []rowPackRec{
			{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{{W: 0.5}, {W: 1}}},
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 0.75}}, From: copyOf},
		}
		failsOnRunners(t, bothRunners, `feature "a" has two different parameter rows`, func(s beam.Scope) {
			DistributeParameters(s, keyed(s, fromRowPackRec, rows), keyed(s, fromFeatRec, features), noHotTable(s), distParts, false)
		})
	})
	t.Run("different-step", func(t *testing.T) {
		rows := []rowPackRec{
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 0.5, D: 1}}},
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 0.5, D: 2}}, From: copyOf},
		}
		failsOnRunners(t, bothRunners, `feature "a" has two different parameter rows`, func(s beam.Scope) {
			DistributeParameters(s, keyed(s, fromRowPackRec, rows), keyed(s, fromFeatRec, features), noHotTable(s), distParts, false)
		})
	})
	t.Run("same", func(t *testing.T) {
		rows := []rowPackRec{
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 0.5, D: 1}}},
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 0.5, D: 1}}, From: copyOf},
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			weights := DistributeParameters(s, keyed(s, fromRowPackRec, rows), keyed(s, fromFeatRec, features), noHotTable(s), distParts, false)
			passert.EqualsList(s, beam.ParDo(s, toWeightsRec, weights), []weightsRec{{Block: 10, Cols: []int32{0}, IDs: []RowID{*copyOf}, W: []float64{0.5}, D: []float64{1}}})
		})
	})
	// A diverged row (NaN weight) copied by the fan-out is still one row:
	// the error to report is the divergence, not a duplicate.
	t.Run("same-nan", func(t *testing.T) {
		nan := math.NaN()
		rows := []rowPackRec{
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: nan, D: 1}}},
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: nan, D: 1}}, From: copyOf},
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			weights := DistributeParameters(s, keyed(s, fromRowPackRec, rows), keyed(s, fromFeatRec, features), noHotTable(s), distParts, false)
			// NaN != NaN, so compare the printed element.
			printed := beam.ParDo(s, printWeightsRec, beam.ParDo(s, toWeightsRec, weights))
			passert.EqualsList(s, printed, []string{"{Block:10 Cols:[0] IDs:[{Part:2 Pos:0}] W:[NaN] D:[1]}"})
		})
	})
}
