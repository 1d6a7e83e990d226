package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/internal/chart"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn3x1[context.Context, ShardFile, func(string, float64), error](&readWeightsFn{})
	register.Emitter2[string, float64]()
}

// ModelFormat names the model directory format in model.json.
const ModelFormat = "dpmr-logistic-regression"

// modelVersion is the model directory format version: 2 names the
// weights files relative to the model directory (see resolveListed).
const modelVersion = 2

// ModelInfo is model.json: the model's description, how it was trained,
// its history, and the weights files it consists of. It is written last;
// a directory without it is not a model.
type ModelInfo struct {
	Format    string `json:"format"`
	Version   int    `json:"version"`
	Objective string `json:"objective"`
	CreatedAt string `json:"created_at"`

	Lambda float64 `json:"lambda"`
	L1     float64 `json:"l1,omitempty"`
	// ZeroWeights counts the features whose weight the L1 term made 0;
	// the weights files leave them out.
	ZeroWeights int64   `json:"zero_weights,omitempty"`
	Bias        bool    `json:"bias"`
	Intercept   float64 `json:"intercept"` // the intercept's weight (also in the weights files)
	// Classes is K for a multiclass model, whose weights files give each
	// feature K weights, and Intercepts are its K intercepts (Intercept
	// is then 0).
	Classes     int        `json:"classes,omitempty"`
	ClassCounts []int64    `json:"class_counts,omitempty"`
	Intercepts  []float64  `json:"intercepts,omitempty"`
	Optimizer   string     `json:"optimizer"`
	Iterations  int        `json:"iterations"` // passes after the first
	StopReason  model.Stop `json:"stop_reason"`
	// EarlyStop, when set, is the pass exported in place of the last
	// (TrainConfig.EarlyStop).
	EarlyStop *model.EarlyChoice `json:"early_stop,omitempty"`
	// Gap, J and GradNorm are the exported pass's; Gap estimates
	// (J - J*)/J* (see model.GapEstimate), 0 when the optimizer makes none.
	Gap      float64 `json:"final_gap_estimate"`
	J        float64 `json:"final_objective"`
	GradNorm float64 `json:"final_grad_norm"`

	Features  int64 `json:"features"`
	Samples   int64 `json:"samples"`
	Positives int64 `json:"positives"`
	Nonzeros  int64 `json:"nonzeros"`
	BadLines  int64 `json:"bad_lines_skipped"`

	// Retries counts the failed jobs of this run (passes, export) that
	// were rerun (TrainConfig.Retries); RetryLog lists them.
	Retries  int     `json:"retries"`
	RetryLog []Retry `json:"retry_log,omitempty"`

	Train   model.TrainParams `json:"train"`
	Flags   map[string]string `json:"flags,omitempty"`
	Inputs  []string          `json:"inputs"`
	History []model.Figures   `json:"history"`
	Files   []ShardFile       `json:"files"` // the weights files, with sizes and checksums
}

// ModelFileName is the name of the model's description.
const ModelFileName = "model.json"

const objectiveText = "sum_i c_i*[log(1+exp(z_i)) - y_i*z_i] + lambda/2 * sum_j w_j^2 + l1 * sum_j |w_j| (intercept not regularized); z_i = sum_j w_j*x_ij; c_i = sample i's weight times its class's, 1 unless given"

const multiclassObjectiveText = "sum_i c_i*[log(sum_k exp(z_ik)) - z_iy_i] + lambda/2 * sum_jk w_jk^2 + l1 * sum_jk |w_jk| (intercepts not regularized); z_ik = sum_j w_jk*x_ij; c_i = sample i's weight, 1 unless given"

// exportJob is one model to export: its run's config, the rows to write,
// and what model.json records of the run.
type exportJob struct {
	c       *TrainConfig
	label   string // its scope in the export job when there are several
	rows    []ShardFile
	history []model.Figures
	reason  model.Stop
	early   *model.EarlyChoice
}

// export writes the models, their weights files through one pipeline,
// then each one's model.json.
func (c *TrainConfig) export(ctx context.Context, lock *WorkLock, meta IndexMeta, jobs []exportJob, retries *[]Retry) ([]*ModelInfo, error) {
	for _, j := range jobs {
		if err := clearOutputs(j.c.Output, ModelFileName, "weights", HistoryName, HistoryChartName); err != nil {
			return nil, err
		}
	}
	_, err := c.runRetried(ctx, lock, "export", retries, func() *beam.Pipeline {
		p, s := beam.NewPipelineWithRoot()
		for _, j := range jobs {
			s := s
			if j.label != "" {
				s = s.Scope(j.label)
			}
			files := ExportWeights(s, j.c.Output, c.Shards, ReadRows(s, j.rows), j.c.Train)
			WriteManifest(s, j.c.exportDir(), files, beam.PCollection{})
		}
		return p
	})
	if err != nil {
		return nil, fmt.Errorf("export pipeline: %w", err)
	}
	infos := make([]*ModelInfo, len(jobs))
	for i, j := range jobs {
		if infos[i], err = j.c.writeModel(ctx, meta, j, *retries); err != nil {
			return nil, err
		}
	}
	return infos, nil
}

// exportDir is where the export's manifest of the weights files goes.
func (c *TrainConfig) exportDir() string { return joinPath(c.WorkDir, "export") }

// writeModel writes an exported model's model.json, history.csv and
// history.svg beside its weights files.
func (c *TrainConfig) writeModel(ctx context.Context, meta IndexMeta, j exportJob, retries []Retry) (*ModelInfo, error) {
	m, err := readManifest(ctx, c.exportDir(), true)
	if err != nil {
		return nil, err
	}
	history, early := j.history, j.early
	last := history[len(history)-1]
	if early != nil {
		last = history[early.Pass]
	}
	info := &ModelInfo{
		Format: ModelFormat, Version: modelVersion, Objective: objectiveText,
		CreatedAt: time.Now().UTC().Format(time.RFC3339),
		Lambda:    c.Train.Lambda, L1: c.Train.L1, ZeroWeights: last.Zeros, Bias: c.Train.Bias, Optimizer: c.Train.Optimizer,
		Iterations: len(history) - 1, StopReason: j.reason, Gap: last.Gap, J: last.J, GradNorm: last.GradNorm,
		Features: meta.Features, Samples: meta.Samples, Positives: meta.Positives, Nonzeros: meta.Nonzeros,
		BadLines: meta.BadLines, Train: c.Train, Flags: c.Flags, History: history, Files: m.Dataset("weights"),
		Retries: len(retries), RetryLog: retries, EarlyStop: early,
	}
	if c.Train.Multiclass {
		info.Objective = multiclassObjectiveText
		info.Classes, info.ClassCounts = meta.Classes(), meta.ClassCounts
	}
	for _, f := range c.Inputs {
		info.Inputs = append(info.Inputs, f)
	}
	if c.Train.Bias {
		b, err := readIntercept(ctx, info.Files, c.Shards)
		if err != nil {
			return nil, err
		}
		if c.Train.Multiclass {
			info.Intercepts = b
		} else {
			info.Intercept = b[0]
		}
	}
	if err := writeFile(ctx, joinPath(c.Output, HistoryName), historyCSV(history, c.Train.L1 > 0)); err != nil {
		return nil, err
	}
	if !strings.Contains(c.Output, "://") {
		// A chart is for a reader of a local model dir; history.csv has
		// the numbers everywhere.
		var svg bytes.Buffer
		if err := chart.Write(&svg, historyChart(history, early)); err != nil {
			return nil, err
		}
		if err := writeFile(ctx, joinPath(c.Output, HistoryChartName), svg.Bytes()); err != nil {
			return nil, err
		}
	}
	stored := *info
	stored.Files = listedFiles(c.Output, info.Files)
	data, err := json.MarshalIndent(stored, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFile(ctx, joinPath(c.Output, ModelFileName), append(data, '\n')); err != nil {
		return nil, err
	}
	return info, nil
}

// clearOutputs removes from a local output directory the files an earlier
// run of dpmr wrote there, the marker first, so no mix of old and new ever
// looks complete: the files named in names, and shard files
// PREFIX-SSSSS-of-NNNNN unless prefix is "". Nothing else is touched: a
// user's own files stay, even one named weights-notes.txt.
func clearOutputs(dir, marker, prefix string, names ...string) error {
	if strings.Contains(dir, "://") {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := removeIfThere(filepath.Join(dir, marker)); err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if _, _, shard := ParseShardName(n, prefix); (prefix != "" && shard || slices.Contains(names, n)) && e.Type().IsRegular() {
			if err := removeIfThere(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

func removeIfThere(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// readIntercept finds the intercept's line: the first of its shard, since
// its empty name sorts first.
func readIntercept(ctx context.Context, files []ShardFile, shards int) ([]float64, error) {
	want := ShardName("weights", int(shardOfName(model.BiasName, shards)), shards)
	for _, f := range files {
		if !strings.HasSuffix(f.Path, want) {
			continue
		}
		data, err := readFile(ctx, f.Path)
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(data, []byte("\t")) {
			line, _, _ := bytes.Cut(data[1:], []byte("\n"))
			var b []float64
			for _, v := range strings.Split(string(line), "\t") {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return nil, err
				}
				b = append(b, x)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("the intercept is missing from the exported weights")
}

// ReadModel reads dir/model.json and checks that every weights file it
// lists is there with the recorded size (checksums are checked when the
// weights are read).
func ReadModel(ctx context.Context, dir string) (*ModelInfo, error) {
	path := joinPath(dir, ModelFileName)
	data, err := readFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s is not a dpmr model: %v", dir, err)
	}
	info, err := parseModel(path, data)
	if err != nil {
		return nil, err
	}
	if err := checkSizes(ctx, path, info.Files); err != nil {
		return nil, fmt.Errorf("%v: the model is damaged", err)
	}
	return info, nil
}

// parseModel decodes the model.json at path and resolves its files in
// its directory.
func parseModel(path string, data []byte) (*ModelInfo, error) {
	var info ModelInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if info.Format != ModelFormat || info.Version < 1 || info.Version > modelVersion {
		return nil, fmt.Errorf("%s: format %q version %d, this dpmr reads %q versions 1 to %d", path, info.Format, info.Version, ModelFormat, modelVersion)
	}
	var err error
	if info.Files, err = resolveListed(path, info.Files, info.Version < 2, false); err != nil {
		return nil, fmt.Errorf("%v: the model is damaged", err)
	}
	return &info, nil
}

// ReadWeights reads a model's weights files, checking each against
// model.json: those of a model of classes classes (ModelInfo.Classes; 0
// for two) give each feature's weight for class k as the row
// model.ClassRow(feature, k). Returns PCollection<KV<string, float64>>,
// row name to weight.
func ReadWeights(s beam.Scope, files []ShardFile, classes int) beam.PCollection {
	s = s.Scope("dpmr.ReadWeights")
	return beam.ParDo(s, &readWeightsFn{Classes: classes}, beam.Reshuffle(s, beam.CreateList(s, files)))
}

type readWeightsFn struct{ Classes int }

func (f *readWeightsFn) ProcessElement(ctx context.Context, sf ShardFile, emit func(string, float64)) error {
	return scanWeightsFile(ctx, sf, f.Classes, func(name []byte, w float64) error {
		emit(string(name), w)
		return nil
	})
}

// ScanWeights passes every weight of a model's files (ModelInfo.Files, as
// ReadModel resolves them) to fn, file after file and line by line, so a
// model of any size reads in the memory of its longest line. Each file is
// checked against model.json (size, CRC-32C, count) when it ends: fn may
// have seen weights of a damaged file before the error that names it.
// name is valid only during the call; an error from fn stops the scan and
// is returned as it is.
func ScanWeights(ctx context.Context, files []ShardFile, fn func(name []byte, w float64) error) error {
	return scanModelFiles(ctx, files, 0, fn)
}

// ScanModelWeights is ScanWeights for the model info describes: a
// multiclass model's weights reach fn by their rows' names,
// model.ClassRow(feature, k), which model.RowFeature splits.
func ScanModelWeights(ctx context.Context, info *ModelInfo, fn func(row []byte, w float64) error) error {
	return scanModelFiles(ctx, info.Files, info.Classes, fn)
}

// scanModelFiles is ScanWeights for a model of classes classes, whose
// weights fn gets by their class rows (scanWeights).
func scanModelFiles(ctx context.Context, files []ShardFile, classes int, fn func(name []byte, w float64) error) error {
	for _, sf := range files {
		if err := scanWeightsFile(ctx, sf, classes, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanWeightsFile(ctx context.Context, sf ShardFile, classes int, fn func(name []byte, w float64) error) error {
	r, err := openFile(ctx, sf.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	return scanWeights(sf, r, classes, fn)
}

// scanWeights reads a weights file's content from r, lines
// feature<TAB>weight with the weight finite, and passes each weight to fn;
// for a multiclass model (classes K >= 2) lines of K weights, each passed
// with its class row's name (model.ClassRow).
// A malformed line stops the weights but not the reading: a file whose
// size or checksum differs from model.json is reported as damaged rather
// than by whichever line the damage broke.
func scanWeights(sf ShardFile, r io.Reader, classes int, fn func(name []byte, w float64) error) error {
	K := model.Width(classes)
	want := "feature<TAB>weight, a finite number"
	if K > 1 {
		want = fmt.Sprintf("feature and %d finite weights, separated by tabs", K)
	}
	w := make([]float64, K)
	crc := crc32.New(castagnoli)
	br := bufio.NewReaderSize(io.TeeReader(r, crc), 64<<10)
	var size, n int64
	var lineErr error
	var long []byte // a line longer than br's buffer
	for {
		text, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], text...)
			for errors.Is(err, bufio.ErrBufferFull) {
				text, err = br.ReadSlice('\n')
				long = append(long, text...)
			}
			text = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s: %v", sf.Path, err)
		}
		if len(text) == 0 {
			break
		}
		size += int64(len(text))
		n++
		if lineErr != nil {
			continue
		}
		name, vals, ok := bytes.Cut(bytes.TrimSuffix(text, []byte("\n")), []byte("\t"))
		for k := range w {
			var val []byte
			val, vals, _ = bytes.Cut(vals, []byte("\t"))
			x, perr := strconv.ParseFloat(string(val), 64)
			ok = ok && perr == nil && !math.IsInf(x, 0) && !math.IsNaN(x) && (k < K-1 || vals == nil)
			w[k] = x
		}
		if !ok {
			lineErr = fmt.Errorf("%s:%d: want %s", sf.Path, n, want)
			continue
		}
		for k, x := range w {
			row := name
			if K > 1 {
				row = []byte(model.ClassRow(string(name), k))
			}
			if err := fn(row, x); err != nil {
				return err
			}
		}
	}
	if size != sf.Bytes || crc.Sum32() != sf.CRC32C {
		return corrupt(sf, "size or checksum differs from model.json")
	}
	if lineErr != nil {
		return lineErr
	}
	if n != sf.Records {
		return corrupt(sf, "%d weights, model.json says %d", n, sf.Records)
	}
	return nil
}

// HistoryName is the per-iteration history, as CSV, in a model directory.
const HistoryName = "history.csv"

// HistoryChartName is the chart of the history that Train draws in a
// local model directory.
const HistoryChartName = "history.svg"

// historyCSV formats the history one row per pass; the test columns are
// empty without a test set, the gap estimate for optimizers that make none.
// With an L1 term a last column counts the weights at zero.
func historyCSV(history []model.Figures, l1 bool) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	header := []string{"iteration", "objective", "grad_norm", "gap_estimate", "step", "seconds",
		"test_accuracy", "test_log_loss", "test_auc", "test_macro_f1", "test_f1_positive", "test_f1_negative"}
	if l1 {
		header = append(header, "zero_weights")
	}
	w.Write(header)
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, f := range history {
		gap := ""
		if f.Gap > 0 {
			gap = g(f.Gap)
		}
		row := []string{strconv.Itoa(f.Pass), g(f.J), g(f.GradNorm), gap, g(f.Alpha), strconv.FormatFloat(f.Seconds, 'f', 3, 64)}
		if t := f.Test; t != nil {
			auc := ""
			if t.AUCDefined {
				auc = g(t.AUC)
			}
			row = append(row, g(t.Accuracy), g(t.LogLoss), auc, g(t.MacroF1), g(t.Positive.F1), g(t.Negative.F1))
		} else {
			row = append(row, "", "", "", "", "", "")
		}
		if l1 {
			row = append(row, strconv.FormatInt(f.Zeros, 10))
		}
		w.Write(row)
	}
	w.Flush()
	return b.Bytes()
}

// historyChart draws J by pass on a log axis and, with a test set, the
// test macro F1, AUC and accuracy below it. With early stopping, a last
// series on J marks the iteration exported.
func historyChart(history []model.Figures, early *model.EarlyChoice) chart.Chart {
	j := chart.Series{Name: "J (objective)"}
	f1 := chart.Series{Name: "test macro F1"}
	auc := chart.Series{Name: "test AUC"}
	acc := chart.Series{Name: "test accuracy"}
	for _, f := range history {
		x := float64(f.Pass)
		j.Points = append(j.Points, chart.Point{X: x, Y: f.J})
		if t := f.Test; t != nil {
			f1.Points = append(f1.Points, chart.Point{X: x, Y: t.MacroF1})
			acc.Points = append(acc.Points, chart.Point{X: x, Y: t.Accuracy})
			if t.AUCDefined {
				auc.Points = append(auc.Points, chart.Point{X: x, Y: t.AUC})
			}
		}
	}
	c := chart.Chart{Title: "dpmr training", XLabel: "iteration (one pass over the data each)",
		Panels: []chart.Panel{{YLabel: "J", LogY: true, Series: []chart.Series{j}}}}
	if early != nil {
		c.Panels[0].Series = append(c.Panels[0].Series, chart.Series{
			Name:   fmt.Sprintf("exported: iteration %d, the best test %s", early.Pass, early.Metric),
			Points: []chart.Point{{X: float64(early.Pass), Y: history[early.Pass].J}},
		})
	}
	if len(f1.Points) > 0 {
		c.Panels = append(c.Panels, chart.Panel{YLabel: "test metric", Series: []chart.Series{f1, auc, acc}})
		c.Height = 650
	}
	return c
}
