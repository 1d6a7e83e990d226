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
	blocks := RestoreFromIndex(s, p.Index.Dataset("blocks"), distributeStage(s, rows, idx.Features, hot, p))
	choice, grads := gradientStage(s, rows, blocks, p)
	return transforms.UpdateParameters(s, rows, grads, choice, updateParams(p))
}

// newtonStage is subspace's first trip to the blocks, in every pass after
// the first: it sets each row's U (transforms.LocalNewton). The other
// optimizers' rows pass through.
func newtonStage(s beam.Scope, rows beam.PCollection, idx transforms.Index, hot beam.PCollection, p PassParams) beam.PCollection {
	if !p.Train.Method().Needs().Subspace || p.Plan.Pass == 0 {
		return rows
	}
	s = s.Scope("newton")
	blocks := RestoreFromIndex(s, p.Index.Dataset("blocks"), transforms.DistributeGradients(s, rows, idx.Features, hot, p.Partitions))
	return transforms.LocalNewton(s, rows, blocks, transforms.NewtonParams{Lambda: p.Train.Lambda, Bias: p.Train.Bias, Partitions: p.Partitions})
}

// distributeStage and gradientStage are the stages that differ by
// optimizer: subspace sends the blocks the rows themselves and searches a
// subspace where the others search a line.
func distributeStage(s beam.Scope, rows, features, hot beam.PCollection, p PassParams) beam.PCollection {
	if p.Train.Method().Needs().Subspace {
		return transforms.DistributeRows(s, rows, features, hot, p.Partitions)
	}
	return transforms.DistributeParameters(s, rows, features, hot, p.Partitions, false)
}

// gradientStage searches from the blocks and differentiates at the point
// chosen: it returns the choice and the gradient packs.
func gradientStage(s beam.Scope, rows, blocks beam.PCollection, p PassParams) (choice, grads beam.PCollection) {
	if p.Train.Method().Needs().Subspace {
		searched := transforms.SubspaceSearch(s, rows, blocks, transforms.SearchParams{Lambda: p.Train.Lambda, Bias: p.Train.Bias, Basis: p.Plan.Pass > 0})
		return searched.Choice, transforms.SubspaceGradients(s, searched, p.Partitions)
	}
	choice = transforms.LineSearch(s, blocks, p.Plan, p.Train.Lambda)
	return choice, transforms.ComputeGradients(s, blocks, choice, gradientParams(p))
}

// gradientParams and updateParams are the stage parameters of a pass.
func gradientParams(p PassParams) transforms.GradientParams {
	needs := p.Train.Method().Needs()
	return transforms.GradientParams{
		Averaging:  needs.LocalSGD,
		Curvature:  needs.Curvature,
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
