package transforms

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.Function1x1[SufficientBlock, PredictionBlock](scoreBlock)
}

// PredictionBlock holds the scores of one block's samples.
type PredictionBlock struct {
	Block   int64
	File    int32
	Lines   []int64
	Labels  []float64
	Weights []float64 // the samples' weights, nil when all are 1
	Margins []float64 // z = sum_j w_j x_j, the intercept included
}

// Classify is the paper's classifying pipeline (section 5): the samples to
// score get their weights exactly as in training, through
// DistributeParameters and RestoreDocuments (no model in memory, no side
// input), and each sufficient block is scored. Features the model has never
// seen weigh 0. Expects the model's rows PCollection<KV<int32, RowPack>>
// (PackWeights or the rows of a pass), the inverted samples, partitioned
// alike, and the hot table; returns PCollection<PredictionBlock>.
func Classify(s beam.Scope, rows beam.PCollection, idx Index, hot beam.PCollection, partitions int32) beam.PCollection {
	s = s.Scope("dpmr.Classify")
	weights := DistributeParameters(s, rows, idx.Features, hot, partitions, true)
	return ScoreBlocks(s, RestoreDocuments(s, idx.Docs, weights))
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
