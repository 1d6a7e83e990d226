package transforms

import (
	"fmt"
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
	// AssignRowIDs keeps the elements and their keys, each name become
	// its row's id.
	wantRoutes := []routeRec{
		{Part: 0, Block: 10, Cols: []int32{0}, IDs: []RowID{bias}},
		{Part: 2, Block: 10, Cols: []int32{1}, IDs: []RowID{a}},
		{Part: 2, Block: 10, Cols: []int32{2}, IDs: []RowID{b}},
		{Part: 0, Block: 20, Cols: []int32{0}, IDs: []RowID{a}},
		{Part: 2, Block: 30, Cols: []int32{0}, IDs: []RowID{a}},
		{Part: 0, Block: 30, Cols: []int32{1}, IDs: []RowID{c}},
		{Part: 0, Block: 40, Cols: []int32{0, 1}, IDs: []RowID{bias, c}},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		rows := keyed(s, fromRowPackRec, rowPacks(distParts, distRows))
		hot := keyed(s, fromHotRec, []hotRec{{Name: "a", Shards: 2}})
		routes := AssignRowIDs(s, rows, keyed(s, fromFeatRec, features), hot, distParts, false)
		passert.EqualsList(s, beam.ParDo(s, toRouteRec, routes), wantRoutes)
		weights := DistributeParameters(s, rows, routes, hot, distParts)
		passert.EqualsList(s, beam.ParDo(s, toWeightsRec, weights), want)
	})
}

// TestDistributeParametersMulticlass: a feature's id is where its class 0
// row is, at setup as the fan-out sends each class row alone, and a pass
// sends a column all K rows, from the pack or from a hot copy, which
// carries the K rows together.
func TestDistributeParametersMulticlass(t *testing.T) {
	requirePartitions(t, distParts, distPartitions)
	const K = 3
	rows := map[string]model.Row{}
	for _, name := range []string{"a", "b"} {
		for k := range K {
			rows[model.ClassRow(name, k)] = model.Row{W: float64(len(rows) + 1), D: -float64(len(rows) + 1)}
		}
	}
	// a: W 1, 2, 3 at positions 0-2 of partition 2; b: W 4, 5, 6 at 3-5.
	a, b := RowID{Part: 2, Pos: 0}, RowID{Part: 2, Pos: 3}
	features := []featRec{
		{Part: 2, Block: 10, Names: []string{"a", "b"}, Cols: []int32{0, 1}},
		{Part: 0, Block: 20, Names: []string{"a"}, Cols: []int32{0}}, // a's shard 2
	}
	if BlockShard(20, 2) != 1 {
		t.Fatal("test data assumes block 20 is in a's shard 2 of 2")
	}
	wantRoutes := []routeRec{
		{Part: 2, Block: 10, Cols: []int32{0, 1}, IDs: []RowID{a, b}},
		{Part: 0, Block: 20, Cols: []int32{0}, IDs: []RowID{a}},
	}
	want := []weightsRec{
		{Block: 10, Cols: []int32{0, 1}, IDs: []RowID{a, b}, W: []float64{1, 2, 3, 4, 5, 6}, D: []float64{-1, -2, -3, -4, -5, -6}},
		{Block: 20, Cols: []int32{0}, IDs: []RowID{a}, W: []float64{1, 2, 3}, D: []float64{-1, -2, -3}},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		packs := keyed(s, fromRowPackRec, rowPacks(distParts, rows))
		hot := keyed(s, fromHotRec, []hotRec{{Name: "a", Shards: 2}})
		routes := AssignRowIDs(s, packs, keyed(s, fromFeatRec, features), hot, distParts, false)
		passert.EqualsList(s, beam.ParDo(s, toRouteRec, routes), wantRoutes)
		weights := Distribute(s, packs, routes, hot, DistributeParams{Partitions: distParts, Classes: K})
		passert.EqualsList(s, beam.ParDo(s, toWeightsRec, weights), want)
	})
}

// TestFanOutRows checks the keyed fan-out on its own: every pack goes to
// its own partition, and a hot feature's row also, alone, to the
// partition of each of its shard keys 1..k, even where that is its own
// partition or where two shards share one, saying where the row lives.
// A pass's rows keep only what the blocks need, W and D, and no names;
// AssignRowIDs' keep the names alone.
func TestFanOutRows(t *testing.T) {
	requirePartitions(t, distParts, distPartitions)
	rows := map[string]model.Row{
		"a":            {W: 0.5, G: 3, D: -1, H: 2, S: []float64{1}, Y: []float64{2}},
		"b":            {W: -2, D: 0.25, H: 1},
		model.BiasName: {W: 1, G: -1, D: 2},
	}
	ra, rb, rbias := model.Row{W: 0.5, D: -1}, model.Row{W: -2, D: 0.25}, model.Row{W: 1, D: 2}
	fromA, fromBias := &RowID{Part: 2, Pos: 0}, &RowID{Part: 0, Pos: 0}
	wantPass := []rowPackRec{
		{Part: 0, Rows: []model.Row{rbias}},
		{Part: 2, Rows: []model.Row{ra, rb}},
		{Part: 2, Rows: []model.Row{ra}, From: fromA}, // shard 1
		{Part: 0, Rows: []model.Row{ra}, From: fromA}, // shard 2
		{Part: 0, Rows: []model.Row{ra}, From: fromA}, // shard 3
		{Part: 0, Rows: []model.Row{rbias}, From: fromBias},
		{Part: 2, Rows: []model.Row{rbias}, From: fromBias},
	}
	wantNames := []rowPackRec{
		{Part: 0, Names: []string{model.BiasName}},
		{Part: 2, Names: []string{"a", "b"}},
		{Part: 2, Names: []string{"a"}, From: fromA},
		{Part: 0, Names: []string{"a"}, From: fromA},
		{Part: 0, Names: []string{"a"}, From: fromA},
		{Part: 0, Names: []string{model.BiasName}, From: fromBias},
		{Part: 2, Names: []string{model.BiasName}, From: fromBias},
	}
	hot := []hotRec{{Name: "a", Shards: 3}, {Name: model.BiasName, Shards: 2}, {Name: "unused", Shards: 5}}
	onRunners(t, bothRunners, func(s beam.Scope) {
		packs, table := keyed(s, fromRowPackRec, rowPacks(distParts, rows)), keyed(s, fromHotRec, hot)
		pass := beam.ParDo(s, &fanOutRowsFn{Partitions: distParts}, packs, beam.SideInput{Input: table})
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, pass), wantPass)
		names := beam.ParDo(s, &fanOutRowsFn{Partitions: distParts, Fields: NamesOnly}, packs, beam.SideInput{Input: table})
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, names), wantNames)
	})
}

// TestAssignRowIDsMissingRow: a block uses a feature without a
// parameter row, either in a partition that has no rows at all (x, in
// partition 1) or in one that has rows of other features (b, beside a in
// partition 2).
func TestAssignRowIDsMissingRow(t *testing.T) {
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
				return distributeByName(s, keyed(s, fromRowPackRec, rowPacks(distParts, rows)),
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

// TestAssignRowIDsLayout: AssignRowIDs refuses rows it cannot give ids
// to: two packs of one partition, a feature with rows in two places, a
// class row apart from its feature's others. A copy of a row where it
// lives (as the fan-out makes when a shard key falls in its feature's own
// partition) is one row.
func TestAssignRowIDsLayout(t *testing.T) {
	requirePartitions(t, distParts, distPartitions)
	features := []featRec{{Part: 2, Block: 10, Names: []string{"a"}, Cols: []int32{0}}}
	assign := func(s beam.Scope, rows []rowPackRec) beam.PCollection {
		return AssignRowIDs(s, keyed(s, fromRowPackRec, rows), keyed(s, fromFeatRec, features), noHotTable(s), distParts, false)
	}
	a := RowID{Part: 2, Pos: 0}
	for _, tc := range []struct {
		name string
		rows []rowPackRec
		want string
	}{
		{"two-packs", []rowPackRec{{Part: 2, Names: []string{"a"}}, {Part: 2, Names: []string{"b"}}}, "partition 2 has two parameter row packs"},
		{"two-places", []rowPackRec{{Part: 2, Names: []string{"a", "b"}}, {Part: 2, Names: []string{"a"}, From: &RowID{Part: 1, Pos: 0}}}, `feature "a" has two parameter rows`},
		{"class-apart", []rowPackRec{{Part: 2, Names: []string{model.ClassRow("a", 0), model.ClassRow("b", 1)}}}, fmt.Sprintf("parameter row %q does not follow its feature's class 0 row", model.ClassRow("b", 1))},
		{"class-first", []rowPackRec{{Part: 2, Names: []string{model.ClassRow("a", 1)}}}, fmt.Sprintf("parameter row %q does not follow its feature's class 0 row", model.ClassRow("a", 1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failsOnRunners(t, bothRunners, tc.want, func(s beam.Scope) { assign(s, tc.rows) })
		})
	}
	t.Run("copy-where-it-lives", func(t *testing.T) {
		rows := []rowPackRec{{Part: 2, Names: []string{"a"}}, {Part: 2, Names: []string{"a"}, From: &a}}
		onRunners(t, bothRunners, func(s beam.Scope) {
			passert.EqualsList(s, beam.ParDo(s, toRouteRec, assign(s, rows)), []routeRec{{Part: 2, Block: 10, Cols: []int32{0}, IDs: []RowID{a}}})
		})
	})
}

// TestDistributeParametersOutOfStep: a pass refuses block features whose
// ids do not fit the rows it is given (an index built for other rows),
// and copies of a hot feature that do not hold its K rows. A column
// without a row weighs 0, and a diverged (NaN) weight is sent as it is.
func TestDistributeParametersOutOfStep(t *testing.T) {
	own := rowPackRec{Part: 2, Rows: []model.Row{{W: 0.5, D: 1}}}
	for _, tc := range []struct {
		name   string
		rows   []rowPackRec
		routes []routeRec
		want   string
	}{
		{"two-packs", []rowPackRec{own, own}, []routeRec{{Part: 2, Block: 10, Cols: []int32{0}, IDs: []RowID{{Part: 2, Pos: 0}}}},
			"partition 2 has two parameter row packs"},
		{"beyond-the-pack", []rowPackRec{own}, []routeRec{{Part: 2, Block: 10, Cols: []int32{0}, IDs: []RowID{{Part: 2, Pos: 1}}}},
			"block 10 uses row 1 of partition 2, which has 1 rows (index out of step)"},
		{"no-pack", nil, []routeRec{{Part: 2, Block: 10, Cols: []int32{0}, IDs: []RowID{{Part: 2, Pos: 0}}}},
			"block 10 uses row 0 of partition 2, which has 0 rows (index out of step)"},
		{"no-copy", []rowPackRec{own}, []routeRec{{Part: 2, Block: 10, Cols: []int32{0}, IDs: []RowID{{Part: 1, Pos: 3}}}},
			"block 10 uses row 3 of partition 1, which partition 2 was not sent (index out of step)"},
		{"copy-size", []rowPackRec{own, {Part: 2, Rows: []model.Row{{W: 1}, {W: 2}}, From: &RowID{Part: 1, Pos: 3}}}, nil,
			"a hot feature's copy holds 2 rows, want 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failsOnRunners(t, bothRunners, tc.want, func(s beam.Scope) {
				DistributeParameters(s, keyed(s, fromRowPackRec, tc.rows), keyed(s, fromRouteRec, tc.routes), noHotTable(s), distParts)
			})
		})
	}
	t.Run("no-row-and-nan", func(t *testing.T) {
		rows := []rowPackRec{{Part: 2, Rows: []model.Row{{W: math.NaN(), D: 1}}}}
		routes := []routeRec{{Part: 2, Block: 10, Cols: []int32{0, 1}, IDs: []RowID{NoRow, {Part: 2, Pos: 0}}}}
		onRunners(t, bothRunners, func(s beam.Scope) {
			weights := DistributeParameters(s, keyed(s, fromRowPackRec, rows), keyed(s, fromRouteRec, routes), noHotTable(s), distParts)
			// NaN != NaN, so compare the printed element.
			printed := beam.ParDo(s, printWeightsRec, beam.ParDo(s, toWeightsRec, weights))
			passert.EqualsList(s, printed, []string{"{Block:10 Cols:[0 1] IDs:[{Part:-1 Pos:-1} {Part:2 Pos:0}] W:[0 NaN] D:[0 1]}"})
		})
	})
}
