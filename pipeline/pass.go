package pipeline

import (
	"encoding/json"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register.Function2x1[model.Figures, func([]byte), error](figuresJSON)
	register.Function1x2[[]byte, int32, []byte](testRecordFn)
}

// PassParams configure one iteration pipeline.
type PassParams struct {
	Index   *Manifest // the index written by Setup
	State             // what the pass starts from
	Dir     string    // where the new rows snapshot goes
	Plan    model.Plan
	Train   model.TrainParams
	Eta     float64 // resolved step of gd and averaging
	Samples int64   // training samples, for averaging's per-sample shrinkage
	Shards  int
	// Partitions is the index's number of parameter partitions.
	Partitions int32
	// Test, if set, is a test set's index: its samples are scored with the
	// new weights in the same run, and their evaluation (an encoded
	// model.Evaluator) is written as the "test" dataset.
	Test *Manifest
	// KeyLoads times every key of DistributeParameters and
	// RestoreDocuments (transforms.StartKeyLoad), for dpmr bench.
	KeyLoads bool
	// Classes is K under multiclass (the index's class count), else 0.
	Classes int
}

// State is what a pass starts from: the parameter rows, and the margins
// the blocks kept in the pass before (a subspace pass's "margins" dataset,
// one file per index shard of blocks; none before pass 1 or for the other
// optimizers).
type State struct {
	Rows, Margins []ShardFile
}

// stateAfter is the state a pass's snapshot leaves.
func stateAfter(m *Manifest) State {
	return State{Rows: m.Dataset("rows"), Margins: m.Dataset("margins")}
}

// Pass builds one iteration: DistributeParameters, RestoreDocuments, the
// line search, ComputeGradients and UpdateParameters, over the index; it
// writes the new rows and, in the manifest, the figures.
func Pass(s beam.Scope, p PassParams) { passGraph(s, p, nil) }

// Tap, where the pass is built with one, is put on every collection that
// crosses a stage boundary (a shuffle's input, a materialized collection,
// the records read and written), named by stage and what it holds; it
// returns the collection to use in its place. The bench counts what a
// pass moves with one, so that what it counts is the pass itself.
type Tap func(stage, what string, col beam.PCollection) beam.PCollection

func noTap(_, _ string, col beam.PCollection) beam.PCollection { return col }

// passGraph is the one graph of a pass, which Pass and the bench's
// MeteredPass build.
func passGraph(s beam.Scope, p PassParams, tap Tap) {
	s = s.Scope("dpmr.Pass")
	if tap == nil {
		tap = noTap
	}
	features, hot := ReadFeatures(s, p.Index)
	features = tap("ReadIndex", "block features", features)
	rows := tap("ReadIndex", "rows", ReadRows(s, p.Rows))
	up, kept := passTransforms(s, rows, features, hot, p, tap)
	moved := tap("UpdateParameters", "moved rows", up.Rows)
	files := WriteDataset(s, p.Dir, "rows", p.Shards, tap("Write", "records", beam.ParDo(s, &encodeRowsFn{Shards: p.Shards}, moved)))
	if kept.IsValid() {
		_, n := indexShards(p.Index.Dataset("blocks"))
		margins := beam.ParDo(s, &encodeMarginsFn{Shards: int(n)}, tap("Write", "kept margins", kept))
		files = beam.Flatten(s, files, WriteDataset(s, p.Dir, "margins", int(n), margins))
	}
	if p.Test != nil {
		s := s.Scope("test")
		// transforms.Classify, with the test blocks read where their
		// weights are grouped, as the training blocks are.
		tfeatures, thot := ReadFeatures(s, p.Test)
		weights := transforms.DistributeParameters(s, moved, tfeatures, thot, p.Partitions)
		preds := transforms.ScoreBlocks(s, RestoreFromIndex(s, p.Test.Dataset("blocks"), nil, weights, false))
		eval := transforms.EvaluateScores(s, preds)
		files = beam.Flatten(s, files, WriteDataset(s, p.Dir, "test", 1, beam.ParDo(s, testRecordFn, eval)))
	}
	WriteManifest(s, p.Dir, files, beam.ParDo(s, figuresJSON, up.Figures))
}

// passTransforms is the chain of stages of one pass, apart from I/O. Under
// subspace it also returns the margins the blocks keep for the next pass,
// PCollection<transforms.KeptMargins>.
func passTransforms(s beam.Scope, rows, features, hot beam.PCollection, p PassParams, tap Tap) (up transforms.Update, kept beam.PCollection) {
	rows = newtonStage(s, rows, features, hot, p, tap)
	weights := distributeStage(s, tap("DistributeParameters", "rows", rows), tap("DistributeParameters", "block features", features), hot, p)
	trip := TripToIndex(s, p.Index.Dataset("blocks"), p.Margins, tap("RestoreDocuments", "weights", weights))
	blocks := trip.Restore(s, p.KeyLoads)
	choice, grads, kept := gradientStage(s, rows, trip, tap("LineSearch+ComputeGradients", "restored blocks", blocks), p, tap)
	return transforms.UpdateParameters(s, tap("UpdateParameters", "rows", rows), tap("UpdateParameters", "gradients", grads), choice, updateParams(p)), kept
}

// FirstTrip is the stage name of subspace's first trip to the blocks
// (newtonStage) where the pass is tapped.
const FirstTrip = "LocalNewton (first trip)"

// newtonStage is subspace's first trip to the blocks, in every pass after
// the first: it sets each row's U (transforms.LocalNewton). The other
// optimizers' rows pass through.
func newtonStage(s beam.Scope, rows, features, hot beam.PCollection, p PassParams, tap Tap) beam.PCollection {
	if !p.Train.Method().Needs().Subspace || p.Plan.Pass == 0 {
		return rows
	}
	s = s.Scope("newton")
	grads := transforms.Distribute(s, tap(FirstTrip, "rows", rows), tap(FirstTrip, "block features", features), hot,
		transforms.DistributeParams{Partitions: p.Partitions, Fields: transforms.NewtonRows, KeyLoads: p.KeyLoads})
	blocks := RestoreFromIndex(s, p.Index.Dataset("blocks"), p.Margins, tap(FirstTrip, "weights", grads), p.KeyLoads)
	return transforms.LocalNewton(s, tap(FirstTrip, "rows to LocalNewton", rows), blocks, transforms.NewtonParams{Lambda: p.Train.Lambda, Bias: p.Train.Bias})
}

// distributeStage and gradientStage are the stages that differ by
// optimizer: after pass 0 subspace sends the blocks the parts of the rows
// its search reads (G, H and U: the blocks kept their margins at W and
// along the steps) and searches a subspace where the others search a
// line.
func distributeStage(s beam.Scope, rows, features, hot beam.PCollection, p PassParams) beam.PCollection {
	dp := transforms.DistributeParams{Partitions: p.Partitions, KeyLoads: p.KeyLoads, Classes: p.Classes}
	if p.Train.Method().Needs().Subspace && p.Plan.Pass > 0 {
		dp.Fields = transforms.SearchRows
	}
	return transforms.Distribute(s, rows, features, hot, dp)
}

// gradientStage searches from the blocks and differentiates at the point
// chosen: it returns the choice, the gradient packs and, under subspace,
// the margins the blocks keep. The gradients read the blocks from the
// index again, after the choice (IndexTrip.Gradients, .SubspaceGradients):
// blocks held until then would all be in memory at once on a local runner.
func gradientStage(s beam.Scope, rows beam.PCollection, trip IndexTrip, blocks beam.PCollection, p PassParams, tap Tap) (choice, grads, kept beam.PCollection) {
	const stage = "LineSearch+ComputeGradients"
	if p.Train.Method().Needs().Subspace {
		searched := transforms.SubspaceSearch(s, rows, blocks, transforms.SearchParams{Lambda: p.Train.Lambda, Bias: p.Train.Bias, Basis: p.Plan.Pass > 0})
		searched.Blocks = tap(stage, "searched blocks", searched.Blocks)
		grads, kept = trip.SubspaceGradients(s, searched, p.Train.Memory)
		return searched.Choice, grads, kept
	}
	choice = transforms.LineSearch(s, blocks, p.Plan, p.Train.Lambda, p.Train.Bias, p.Classes)
	trip.keyed = tap(stage, "weights, grouped again", trip.keyed)
	return choice, trip.Gradients(s, choice, gradientParams(p)), beam.PCollection{}
}

// gradientParams and updateParams are the stage parameters of a pass.
func gradientParams(p PassParams) transforms.GradientParams {
	needs := p.Train.Method().Needs()
	return transforms.GradientParams{
		Averaging: needs.LocalSGD,
		Curvature: needs.Curvature,
		L1:        p.Train.L1 > 0,
		Bias:      p.Train.Bias,
		Classes:   p.Classes,
		Eta:       p.Eta,
		Shrink:    p.Train.Lambda / float64(max(p.Samples, 1)),
	}
}

func updateParams(p PassParams) transforms.UpdateParams {
	return transforms.UpdateParams{Train: p.Train, Eta: p.Eta, Pass: p.Plan.Pass}
}

func figuresJSON(f model.Figures, emit func([]byte)) error {
	if err := f.CheckFinite(); err != nil {
		return err
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	emit(data)
	return nil
}

func testRecordFn(eval []byte) (int32, []byte) { return 0, eval }
