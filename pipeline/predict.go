package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register.DoFn2x1[transforms.PredictionBlock, func(int32, []byte), error](&encodePredictionsFn{})
	register.DoFn4x1[context.Context, int32, func(*[]byte) bool, func(ShardFile), error](&writePredictionsFn{})
}

// PredictionsName is the file that marks a prediction output complete.
const PredictionsName = "predictions.json"

// PredictParams configure the prediction pipeline.
type PredictParams struct {
	Files     []InputFile
	Weights   []ShardFile // the model's weights files
	Bias      bool
	BlockSize int
	// Partitions is the number of parameter partitions (PartitionsFor).
	Partitions int32
	Sharding   transforms.ShardingParams
	Output     string // where predictions-* go
	Meta       string // where the manifest goes (a work dir)
	Shards     int
	// Labels says how input lines start (model.LabelOptional: a line
	// whose first token has a ':' has no label).
	Labels model.LabelMode
	// SampleWeights writes each sample's weight (label:weight, 1 when not
	// given) as a sixth column; Labels must then be LabelRequired, the
	// one mode that reads weights.
	SampleWeights bool
	// SplitBytes is the size of the pieces a large local input file is
	// read in by several workers (0: DefaultSplitBytes; negative: every
	// file by one worker; see ReadBlocks).
	SplitBytes int64
	// Classes is K for a multiclass model (ModelInfo.Classes), else 0.
	Classes int
}

// Predict builds the prediction pipeline: read and invert the samples to
// score as training does, Classify them, and write one line per sample,
// "file<TAB>line<TAB>label<TAB>margin<TAB>probability", with
// "<TAB>weight" after it under SampleWeights, sorted by file and line
// within each output file; the label is empty for a sample without one.
// A multiclass model's lines are "file<TAB>line<TAB>label<TAB>class<TAB>
// p_0<TAB>...<TAB>p_K-1": the most probable class and each class's
// probability (AppendClassPrediction).
// The manifest in p.Meta lists the files and counts the rejected
// input lines.
func Predict(s beam.Scope, p PredictParams) {
	s = s.Scope("dpmr.Predict")
	blocks, rejects := ReadBlocks(s, p.Files, p.BlockSize, p.Labels, [2]float64{}, p.SplitBytes, p.Classes >= 2)
	idx := transforms.InvertDocuments(s, blocks, p.Bias, p.Partitions)
	features, hot := transforms.ShardHotFeatures(s, idx, p.Sharding, p.Partitions)
	idx.Features = features
	rows := transforms.PackWeights(s, ReadWeights(s, p.Weights, p.Classes), p.Partitions)
	preds := transforms.Classify(s, rows, idx, hot, p.Partitions, p.Classes)
	paths := make([]string, len(p.Files))
	for _, f := range p.Files {
		paths[f.Index] = f.Path
	}
	keyed := beam.ParDo(s, &encodePredictionsFn{Shards: p.Shards}, preds)
	files := beam.ParDo(s, &writePredictionsFn{Dir: p.Output, Shards: p.Shards, Paths: paths, SampleWeights: p.SampleWeights, Classes: p.Classes}, beam.GroupByKey(s, keyed))
	files = beam.Flatten(s, files,
		WriteDataset(s, p.Meta, "rejects", 1, beam.ParDo(s, &encodeRejectFn{}, rejects)))
	stats := transforms.SumVectors(s, beam.Flatten(s,
		beam.ParDo(s, blockStats, blocks),
		beam.ParDo(s, rejectStats, rejects),
	), numStats)
	first := beam.Combine(s, &firstRejectFn{}, rejects)
	WriteManifest(s, p.Meta, files, beam.ParDo(s, &indexMetaFn{}, stats, beam.SideInput{Input: first}, beam.SideInput{Input: noClasses(s)}))
}

// encodePredictionsFn keys a block's predictions by output shard; a block
// stays in one shard.
type encodePredictionsFn struct{ Shards int }

func (f *encodePredictionsFn) ProcessElement(b transforms.PredictionBlock, emit func(int32, []byte)) error {
	emit(shardOfBlock(b.Block, f.Shards), transforms.AppendPredictionBlock(nil, b))
	return nil
}

type writePredictionsFn struct {
	Dir           string
	Shards        int
	Paths         []string
	SampleWeights bool
	Classes       int
}

type predictionRow struct {
	file    int32
	line    int64
	label   float64
	margins []float64 // one, or K under multiclass
	weight  float64
}

func (f *writePredictionsFn) ProcessElement(ctx context.Context, shard int32, recs func(*[]byte) bool, emit func(ShardFile)) error {
	var rows []predictionRow
	var rec []byte
	for recs(&rec) {
		b, err := transforms.DecodePredictionBlock(rec)
		if err != nil {
			return err
		}
		K := model.Width(f.Classes)
		for i := range b.Lines {
			rows = append(rows, predictionRow{b.File, b.Lines[i], b.Labels[i], b.Margins[i*K : (i+1)*K], model.WeightAt(b.Weights, i)})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].file != rows[j].file {
			return rows[i].file < rows[j].file
		}
		return rows[i].line < rows[j].line
	})
	var buf []byte
	for _, r := range rows {
		for _, z := range r.margins {
			if math.IsInf(z, 0) || math.IsNaN(z) {
				// Values are bounded (model.MaxMagnitude) but a model's
				// weights need not be.
				return fmt.Errorf("%s:%d: the sample's margin overflows: the model's weights times its values exceed the float64 range",
					f.Paths[r.file], r.line)
			}
		}
		if f.Classes >= 2 {
			buf = AppendClassPrediction(buf, f.Paths[r.file], r.line, r.label, r.margins)
		} else {
			buf = AppendPrediction(buf, f.Paths[r.file], r.line, r.label, r.margins[0])
		}
		if f.SampleWeights {
			buf = AppendSampleWeight(buf, r.weight)
		}
	}
	path := joinPath(f.Dir, ShardName("predictions", int(shard), f.Shards))
	sf, err := writeWhole(ctx, path, buf)
	if err != nil {
		return err
	}
	sf.Dataset, sf.Records = "predictions", int64(len(rows))
	emit(sf)
	return nil
}

// AppendPrediction formats one prediction line; the label column is empty
// for model.NoLabel.
func AppendPrediction(b []byte, file string, line int64, label, margin float64) []byte {
	b = appendSampleKey(b, file, line, label)
	b = append(b, '\t')
	b = strconv.AppendFloat(b, margin, 'g', -1, 64)
	b = append(b, '\t')
	b = strconv.AppendFloat(b, model.Sigmoid(margin), 'g', -1, 64)
	return append(b, '\n')
}

// AppendClassPrediction formats one prediction line of a multiclass
// model from the sample's K margins: the label (empty for model.NoLabel),
// the most probable class (the first of equals) and each class's
// probability.
func AppendClassPrediction(b []byte, file string, line int64, label float64, margins []float64) []byte {
	b = appendSampleKey(b, file, line, label)
	p := make([]float64, len(margins))
	model.Softmax(p, margins)
	best := 0
	for k, z := range margins {
		if z > margins[best] {
			best = k
		}
	}
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(best), 10)
	for _, x := range p {
		b = append(b, '\t')
		b = strconv.AppendFloat(b, x, 'g', -1, 64)
	}
	return append(b, '\n')
}

// appendSampleKey starts a prediction line: the sample's file, line and
// label (empty for model.NoLabel).
func appendSampleKey(b []byte, file string, line int64, label float64) []byte {
	b = append(b, file...)
	b = append(b, '\t')
	b = strconv.AppendInt(b, line, 10)
	b = append(b, '\t')
	if model.Labelled(label) {
		b = strconv.AppendInt(b, int64(label), 10)
	}
	return b
}

// AppendSampleWeight adds the weight column to the prediction line that
// ends b.
func AppendSampleWeight(b []byte, weight float64) []byte {
	b = append(b[:len(b)-1], '\t')
	b = strconv.AppendFloat(b, weight, 'g', -1, 64)
	return append(b, '\n')
}

// PredictConfig is a prediction run.
type PredictConfig struct {
	Model    string   // model directory
	Inputs   []string // globs
	Output   string   // directory for predictions-* and predictions.json
	WorkDir  string
	Sharding transforms.ShardingParams
	Shards   int
	// Partitions is the number of parameter partitions; 0 derives it from
	// the input's size.
	Partitions int32
	Run        Runner // nil is runners.Run
	Log        io.Writer
	// Unlabelled reads every input line as features only
	// (model.LabelNone); otherwise a line whose first token has a ':' has
	// no label (model.LabelOptional).
	Unlabelled bool
	// SampleWeights reads every input line's label as training does,
	// label:weight included (model.LabelRequired), and writes each
	// sample's weight in the predictions, for eval to weigh it.
	SampleWeights bool
	// SplitBytes is the size of the pieces a large local input file is
	// read in by several workers (0: DefaultSplitBytes; negative: every
	// file by one worker; see ReadBlocks).
	SplitBytes int64
}

// PredictionsInfo is predictions.json.
type PredictionsInfo struct {
	Model   string   `json:"model"`
	Inputs  []string `json:"inputs"`
	Samples int64    `json:"samples"`
	// Unlabelled counts the samples without a label, whose label column
	// is empty.
	Unlabelled int64 `json:"unlabelled"`
	// SampleWeights: every line has a last column, the sample's weight
	// (the sixth of a two-class model's).
	SampleWeights bool `json:"sample_weights,omitempty"`
	// Classes is K for a multiclass model's predictions (AppendClassPrediction).
	Classes   int         `json:"classes,omitempty"`
	CreatedAt string      `json:"created_at"`
	Files     []ShardFile `json:"files"`
}

// RunPredict scores the inputs with the model and writes the predictions;
// predictions.json is written last, only when every input line parsed.
func RunPredict(ctx context.Context, c PredictConfig) (*PredictionsInfo, error) {
	c.Run = runner(c.Run)
	info, err := ReadModel(ctx, c.Model)
	if err != nil {
		return nil, err
	}
	files, err := ExpandInputs(ctx, c.Inputs)
	if err != nil {
		return nil, err
	}
	if c.Shards == 0 {
		c.Shards = 8
	}
	if c.Partitions == 0 {
		stamps, err := stampInputs(ctx, files)
		if err != nil {
			return nil, err
		}
		c.Partitions = PartitionsFor(totalBytes(stamps))
	}
	lock, err := claimDirs(ctx, c.Output, c.WorkDir)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if err := clearOutputs(c.Output, PredictionsName, "predictions"); err != nil {
		return nil, err
	}
	meta := joinPath(c.WorkDir, "predict")
	labels := model.LabelOptional
	switch {
	case c.Unlabelled && c.SampleWeights:
		return nil, errors.New("a prediction run reads sample weights from labelled lines only: give one of Unlabelled and SampleWeights")
	case c.Unlabelled:
		labels = model.LabelNone
	case c.SampleWeights:
		labels = model.LabelRequired
	}
	p, s := beam.NewPipelineWithRoot()
	Predict(s, PredictParams{Files: files, Weights: info.Files, Bias: info.Bias, BlockSize: info.Train.BlockSize,
		Partitions: c.Partitions, Sharding: c.Sharding, Output: c.Output, Meta: meta, Shards: c.Shards, Labels: labels,
		SampleWeights: c.SampleWeights, SplitBytes: c.SplitBytes, Classes: info.Classes})
	if _, err := c.Run(ctx, p); err != nil {
		return nil, fmt.Errorf("prediction pipeline: %w", err)
	}
	m, err := readManifest(ctx, meta, true)
	if err != nil {
		return nil, err
	}
	var im IndexMeta
	if err := json.Unmarshal(m.Meta, &im); err != nil || string(m.Meta) == "null" {
		return nil, fmt.Errorf("no samples in %v", c.Inputs)
	}
	if im.BadLines > 0 {
		list := joinPath(c.WorkDir, RejectsName)
		if err := writeRejects(ctx, m.Dataset("rejects"), list); err != nil {
			return nil, err
		}
		return nil, &BadInputError{Count: im.BadLines, First: im.FirstBad.Message, List: list}
	}
	out := &PredictionsInfo{Model: c.Model, Inputs: c.Inputs, Samples: im.Samples, Unlabelled: im.Unlabelled, SampleWeights: c.SampleWeights, Classes: info.Classes,
		CreatedAt: time.Now().UTC().Format(time.RFC3339), Files: m.Dataset("predictions")}
	stored := *out
	stored.Files = listedFiles(c.Output, out.Files)
	data, err := json.MarshalIndent(stored, "", "  ")
	if err != nil {
		return nil, err
	}
	return out, writeFile(ctx, joinPath(c.Output, PredictionsName), append(data, '\n'))
}
