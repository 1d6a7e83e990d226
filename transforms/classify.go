package transforms

import (
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.Function1x1[SufficientBlock, PredictionBlock](scoreBlock)
	register.DoFn1x1[SufficientBlock, PredictionBlock](&scoreClassesFn{})
	register.Combiner3[Evaluation, PredictionBlock, []byte](&evaluateFn{})
}

// PredictionBlock holds the scores of one block's samples.
type PredictionBlock struct {
	Block   int64
	File    int32
	Lines   []int64
	Labels  []float64
	Weights []float64 // the samples' weights, nil when all are 1
	Margins []float64 // z = sum_j w_j x_j, the intercept included; K per sample under multiclass
}

// Classify is the paper's classifying pipeline (section 5): the samples to
// score get their weights exactly as in training, through AssignRowIDs,
// DistributeParameters and RestoreDocuments (no model in memory, no side
// input), and each sufficient block is scored. Features the model has never
// seen weigh 0. Expects the model's rows PCollection<KV<int32, RowPack>>
// (PackWeights or the rows of a pass), the inverted samples, partitioned
// alike, and the hot table; returns PCollection<PredictionBlock>.
//
// classes is K for a multiclass model, whose rows are its features' class
// rows (model.ClassRow), else 0.
func Classify(s beam.Scope, rows beam.PCollection, idx Index, hot beam.PCollection, partitions int32, classes int) beam.PCollection {
	s = s.Scope("dpmr.Classify")
	routes := AssignRowIDs(s, rows, idx.Features, hot, partitions, true)
	weights := Distribute(s, rows, routes, hot, DistributeParams{Partitions: partitions, Classes: classes})
	blocks := RestoreDocuments(s, idx.Docs, weights)
	if classes >= 2 {
		return beam.ParDo(s, &scoreClassesFn{Classes: classes}, blocks)
	}
	return ScoreBlocks(s, blocks)
}

// scoreClassesFn is scoreBlock for K classes: K margins per sample.
type scoreClassesFn struct{ Classes int }

func (f *scoreClassesFn) ProcessElement(b SufficientBlock) PredictionBlock {
	n := f.Classes * len(b.Labels)
	z, zd := make([]float64, n), make([]float64, n)
	m := b.Matrix()
	m.Classes = f.Classes
	m.Margins(b.W, b.D, z, zd)
	return PredictionBlock{Block: b.Block, File: b.File, Lines: b.Lines, Labels: b.Labels, Weights: b.Weights, Margins: z}
}

// ScoreBlocks is Classify's last step: each sufficient block's margins.
// Expects PCollection<SufficientBlock>; returns
// PCollection<PredictionBlock>.
func ScoreBlocks(s beam.Scope, blocks beam.PCollection) beam.PCollection {
	return beam.ParDo(s, scoreBlock, blocks)
}

func scoreBlock(b SufficientBlock) PredictionBlock {
	n := len(b.Labels)
	z, zd := make([]float64, n), make([]float64, n)
	b.Matrix().Margins(b.W, b.D, z, zd)
	return PredictionBlock{Block: b.Block, File: b.File, Lines: b.Lines, Labels: b.Labels, Weights: b.Weights, Margins: z}
}

// Evaluation is EvaluateScores' accumulator: the metrics of the blocks
// counted so far, in bounded memory (model.Evaluator).
type Evaluation struct{ E *model.Evaluator }

// EvaluateScores evaluates a test set's scored blocks at threshold 0.5:
// each worker counts its own blocks into an Evaluation and the counts
// merge, so no machine holds the scores, however many there are. Every
// metric is the one of the scores counted at once, the AUC exact while the
// distinct margins fit model.EvalAUCBins bins and within its bound after
// (model.ScoreHistogram.Merge). Expects PCollection<PredictionBlock>;
// returns a PCollection of one encoded Evaluation (AppendEvaluation), or
// of none when there are no blocks.
func EvaluateScores(s beam.Scope, preds beam.PCollection) beam.PCollection {
	return beam.Combine(s.Scope("EvaluateScores"), &evaluateFn{}, preds)
}

type evaluateFn struct{}

func (*evaluateFn) CreateAccumulator() (Evaluation, error) {
	e, err := model.NewEvaluator(0.5, model.EvalAUCBins)
	return Evaluation{e}, err
}

func (*evaluateFn) AddInput(a Evaluation, b PredictionBlock) (Evaluation, error) {
	for i, y := range b.Labels {
		if err := a.E.AddWeighted(y, b.Margins[i], model.WeightAt(b.Weights, i)); err != nil {
			return a, fmt.Errorf("test set, block %d: %v", b.Block, err)
		}
	}
	return a, nil
}

func (*evaluateFn) MergeAccumulators(a, b Evaluation) (Evaluation, error) {
	return a, a.E.Merge(b.E)
}

func (*evaluateFn) ExtractOutput(a Evaluation) []byte { return AppendEvaluation(nil, a) }
