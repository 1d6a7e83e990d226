package transforms

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.Function2x1[FeatureKey, model.Row, keyedRowRec](toKeyedRowRec)
}

// keyedRowRec is a KV<FeatureKey, model.Row>: a row fanned out to a key.
type keyedRowRec struct {
	Name  string
	Shard int32
	W, D  float64
}

func toKeyedRowRec(k FeatureKey, r model.Row) keyedRowRec {
	return keyedRowRec{Name: k.Name, Shard: k.Shard, W: r.W, D: r.D}
}

// Parameter rows and postings of blocks 10, 20, 30. Feature a is hot with
// 2 shards: its block-10 postings are in shard 1, its block-20 and -30
// postings in shard 2. d has a row and no postings.
var (
	distRows = []rowRec{
		{Name: "a", W: 0.5, D: -1, H: 2},
		{Name: "b", W: -2, D: 0.25, H: 1},
		{Name: "c", W: 1.5, D: 0, H: 3},
		{Name: "d", W: 3, D: 1, H: 1},
		{Name: model.BiasName, W: 0.25, D: 0.5, H: 1},
	}
	distHot      = []hotRec{{Name: "a", Shards: 2}}
	distPostings = []postingRec{
		{Name: "a", Shard: 1, Block: 10, Rows: []int32{0, 1}, Vals: []float64{1, 2}},
		{Name: "a", Shard: 2, Block: 20, Rows: []int32{0}, Vals: []float64{3}},
		{Name: "a", Shard: 2, Block: 30, Rows: []int32{1}, Vals: []float64{0.5}},
		{Name: "b", Block: 10, Rows: []int32{1}, Vals: []float64{4}},
		{Name: "c", Block: 30, Rows: []int32{0}, Vals: []float64{1}},
		{Name: model.BiasName, Block: 10, Rows: []int32{0, 1}, Vals: []float64{1, 1}},
	}
)

func TestDistributeParameters(t *testing.T) {
	// One WeightedPostings per Postings element, keyed by its block, with
	// its feature's W and D; a's row reaches both of its shards. d, with
	// no postings, reaches no block.
	want := []weightedRec{
		{Block: 10, Feature: "a", W: 0.5, D: -1, Rows: []int32{0, 1}, Vals: []float64{1, 2}},
		{Block: 20, Feature: "a", W: 0.5, D: -1, Rows: []int32{0}, Vals: []float64{3}},
		{Block: 30, Feature: "a", W: 0.5, D: -1, Rows: []int32{1}, Vals: []float64{0.5}},
		{Block: 10, Feature: "b", W: -2, D: 0.25, Rows: []int32{1}, Vals: []float64{4}},
		{Block: 30, Feature: "c", W: 1.5, D: 0, Rows: []int32{0}, Vals: []float64{1}},
		{Block: 10, Feature: model.BiasName, W: 0.25, D: 0.5, Rows: []int32{0, 1}, Vals: []float64{1, 1}},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		rows := keyed(s, fromRowRec, distRows)
		weighted := DistributeParameters(s, rows, keyed(s, fromPostingRec, distPostings), keyed(s, fromHotRec, distHot), false)
		passert.EqualsList(s, beam.ParDo(s, toWeightedRec, weighted), want)
	})
}

// TestFanOutRows checks the keyed fan-out on its own: a hot feature's row
// goes to every shard 1..k, other rows to shard 0 only.
func TestFanOutRows(t *testing.T) {
	rows := []rowRec{{Name: "a", W: 0.5, D: -1}, {Name: "b", W: -2, D: 0.25}, {Name: "e", W: 1, D: 2}}
	hot := []hotRec{{Name: "a", Shards: 3}, {Name: "e", Shards: 2}}
	want := []keyedRowRec{
		{Name: "a", Shard: 1, W: 0.5, D: -1}, {Name: "a", Shard: 2, W: 0.5, D: -1}, {Name: "a", Shard: 3, W: 0.5, D: -1},
		{Name: "b", Shard: 0, W: -2, D: 0.25},
		{Name: "e", Shard: 1, W: 1, D: 2}, {Name: "e", Shard: 2, W: 1, D: 2},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		out := beam.ParDo(s, &fanOutRowFn{}, keyed(s, fromRowRec, rows), beam.SideInput{Input: keyed(s, fromHotRec, hot)})
		passert.EqualsList(s, beam.ParDo(s, toKeyedRowRec, out), want)
	})
}

// TestDistributeParametersMissingRow: postings of x, which has no row, in
// block 20 and (x being hot with 2 shards) in shard 1 of block 30.
func TestDistributeParametersMissingRow(t *testing.T) {
	rows := []rowRec{{Name: "a", W: 0.5, D: -1}}
	hot := []hotRec{{Name: "x", Shards: 2}}
	postings := []postingRec{
		{Name: "a", Block: 10, Rows: []int32{0}, Vals: []float64{1}},
		{Name: "x", Shard: 1, Block: 30, Rows: []int32{0, 2}, Vals: []float64{2, 3}},
		{Name: "x", Shard: 2, Block: 20, Rows: []int32{1}, Vals: []float64{4}},
	}
	build := func(missingIsZero bool, check func(s beam.Scope, weighted beam.PCollection)) func(s beam.Scope) {
		return func(s beam.Scope) {
			weighted := DistributeParameters(s, keyed(s, fromRowRec, rows), keyed(s, fromPostingRec, postings), keyed(s, fromHotRec, hot), missingIsZero)
			check(s, weighted)
		}
	}
	t.Run("error", func(t *testing.T) {
		buildErr := build(false, func(s beam.Scope, weighted beam.PCollection) {})
		const want = `feature "x" has postings but no parameter row`
		t.Run("default-runner", func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			buildErr(s)
			requireErrorContains(t, ptest.Run(p), want)
		})
		t.Run("prism", func(t *testing.T) {
			requireErrorContains(t, runPipeline("prism", buildErr), want)
		})
	})
	t.Run("missing-is-zero", func(t *testing.T) {
		// Prediction: unseen features weigh 0 (and step 0).
		want := []weightedRec{
			{Block: 10, Feature: "a", W: 0.5, D: -1, Rows: []int32{0}, Vals: []float64{1}},
			{Block: 30, Feature: "x", Rows: []int32{0, 2}, Vals: []float64{2, 3}},
			{Block: 20, Feature: "x", Rows: []int32{1}, Vals: []float64{4}},
		}
		onRunners(t, bothRunners, build(true, func(s beam.Scope, weighted beam.PCollection) {
			passert.EqualsList(s, beam.ParDo(s, toWeightedRec, weighted), want)
		}))
	})
}

func TestDistributeParametersDuplicateRow(t *testing.T) {
	rows := []rowRec{{Name: "a", W: 0.5}, {Name: "a", W: 0.75}}
	postings := []postingRec{{Name: "a", Block: 10, Rows: []int32{0}, Vals: []float64{1}}}
	failsOnRunners(t, bothRunners, `feature "a" has more than one parameter row`, func(s beam.Scope) {
		DistributeParameters(s, keyed(s, fromRowRec, rows), keyed(s, fromPostingRec, postings), keyed(s, fromHotRec, []hotRec{}), false)
	})
}
