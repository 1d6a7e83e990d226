package transforms

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.Function2x2[string, float64, string, model.Row](weightRow)
	register.Function1x1[SufficientBlock, PredictionBlock](scoreBlock)
}

// PredictionBlock holds the scores of one block's samples.
type PredictionBlock struct {
	Block   int64
	File    int32
	Lines   []int64
	Labels  []float64
	Margins []float64 // z = sum_j w_j x_j, the intercept included
}

// Classify is the paper's classifying pipeline (section 5): the samples to
// score get their weights exactly as in training, through
// DistributeParameters and RestoreDocuments (no model in memory, no side
// input), and each sufficient block is scored. Features the model has never
// seen weigh 0. Expects the model's weights PCollection<KV<string,
// float64>>, the inverted samples and the hot table; returns
// PCollection<PredictionBlock>.
func Classify(s beam.Scope, weights beam.PCollection, idx Index, hot beam.PCollection) beam.PCollection {
	s = s.Scope("dpmr.Classify")
	rows := beam.ParDo(s, weightRow, weights)
	weighted := DistributeParameters(s, rows, idx.Postings, hot, true)
	return beam.ParDo(s, scoreBlock, RestoreDocuments(s, idx.Labels, weighted))
}

func weightRow(name string, w float64) (string, model.Row) { return name, model.Row{W: w} }

func scoreBlock(b SufficientBlock) PredictionBlock {
	n := len(b.Labels)
	z, zd := make([]float64, n), make([]float64, n)
	b.Matrix().Margins(b.W, b.D, z, zd)
	return PredictionBlock{Block: b.Block, File: b.File, Lines: b.Lines, Labels: b.Labels, Margins: z}
}
