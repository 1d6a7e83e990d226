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
	register.Function1x2[transforms.PredictionBlock, int32, []byte](encodeTestFn)
}

// PassParams configure one iteration pipeline.
type PassParams struct {
	Index   *Manifest   // the index written by Setup
	Rows    []ShardFile // the parameter rows to start from
	Dir     string      // where the new rows snapshot goes
	Plan    model.Plan
	Train   model.TrainParams
	Eta     float64 // resolved step of gd and averaging
	Samples int64   // training samples, for averaging's per-sample shrinkage
	Shards  int
	// Partitions is the index's number of parameter partitions.
	Partitions int32
	// Test, if set, is a test set's index: its samples are scored with the
	// new weights in the same run and written as the "test" dataset.
	Test *Manifest
}

// Pass builds one iteration: DistributeParameters, RestoreDocuments, the
// line search, ComputeGradients and UpdateParameters, over one shuffle of
// the index; it writes the new rows and, in the manifest, the figures.
func Pass(s beam.Scope, p PassParams) {
	s = s.Scope("dpmr.Pass")
	idx, hot := ReadIndex(s, p.Index)
	rows := ReadRows(s, p.Rows)
	up := passTransforms(s, rows, idx, hot, p)
	files := WriteRows(s, p.Dir, p.Shards, up.Rows)
	if p.Test != nil {
		s := s.Scope("test")
		tidx, thot := ReadIndex(s, p.Test)
		preds := transforms.Classify(s, up.Rows, tidx, thot, p.Partitions)
		files = beam.Flatten(s, files, WriteDataset(s, p.Dir, "test", 1, beam.ParDo(s, encodeTestFn, preds)))
	}
	WriteManifest(s, p.Dir, files, beam.ParDo(s, figuresJSON, up.Figures))
}

// passTransforms is the chain of stages of one pass, apart from I/O.
func passTransforms(s beam.Scope, rows beam.PCollection, idx transforms.Index, hot beam.PCollection, p PassParams) transforms.Update {
	rows = newtonStage(s, rows, idx, hot, p)
	blocks := transforms.RestoreDocuments(s, idx.Docs, distributeStage(s, rows, idx.Features, hot, p))
	choice := searchStage(s, rows, blocks, p)
	grads := transforms.ComputeGradients(s, blocks, choice, gradientParams(p))
	return transforms.UpdateParameters(s, rows, grads, choice, updateParams(p))
}

// newtonStage is subspace's first trip to the blocks, in every pass after
// the first: it sets each row's U (transforms.LocalNewton). The other
// optimizers' rows pass through.
func newtonStage(s beam.Scope, rows beam.PCollection, idx transforms.Index, hot beam.PCollection, p PassParams) beam.PCollection {
	return tappedNewtonStage(s, rows, idx, hot, p, nil)
}

// tappedNewtonStage is newtonStage with tap, when not nil, put on each
// input of its shuffles, so that MeteredPass counts them as it does the
// rest of the pass.
func tappedNewtonStage(s beam.Scope, rows beam.PCollection, idx transforms.Index, hot beam.PCollection, p PassParams, tap func(what string, col beam.PCollection) beam.PCollection) beam.PCollection {
	if !p.Train.Method().Needs().Subspace || p.Plan.Pass == 0 {
		return rows
	}
	if tap == nil {
		tap = func(_ string, col beam.PCollection) beam.PCollection { return col }
	}
	s = s.Scope("newton")
	grads := transforms.DistributeGradients(s, tap("rows", rows), tap("block features", idx.Features), hot, p.Partitions)
	blocks := transforms.RestoreDocuments(s, tap("blocks", idx.Docs), tap("weights", grads))
	return transforms.LocalNewton(s, tap("rows to LocalNewton", rows), blocks, transforms.NewtonParams{Lambda: p.Train.Lambda, Bias: p.Train.Bias, Partitions: p.Partitions})
}

// distributeStage and searchStage are the stages that differ by
// optimizer: subspace sends the blocks the rows themselves and searches a
// subspace where the others search a line.
func distributeStage(s beam.Scope, rows, features, hot beam.PCollection, p PassParams) beam.PCollection {
	if p.Train.Method().Needs().Subspace {
		return transforms.DistributeRows(s, rows, features, hot, p.Partitions)
	}
	return transforms.DistributeParameters(s, rows, features, hot, p.Partitions, false)
}

func searchStage(s beam.Scope, rows, blocks beam.PCollection, p PassParams) beam.PCollection {
	if p.Train.Method().Needs().Subspace {
		return transforms.SubspaceSearch(s, rows, blocks, transforms.SearchParams{Lambda: p.Train.Lambda, Bias: p.Train.Bias, Basis: p.Plan.Pass > 0})
	}
	return transforms.LineSearch(s, blocks, p.Plan, p.Train.Lambda)
}

// gradientParams and updateParams are the stage parameters of a pass.
func gradientParams(p PassParams) transforms.GradientParams {
	needs := p.Train.Method().Needs()
	return transforms.GradientParams{
		Averaging:  needs.LocalSGD,
		Curvature:  needs.Curvature,
		Subspace:   needs.Subspace,
		Eta:        p.Eta,
		Shrink:     p.Train.Lambda / float64(max(p.Samples, 1)),
		Partitions: p.Partitions,
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

func encodeTestFn(b transforms.PredictionBlock) (int32, []byte) {
	return 0, transforms.AppendPredictionBlock(nil, b)
}
