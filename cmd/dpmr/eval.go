package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
)

func init() {
	register(command{name: "eval", summary: "evaluate predictions: accuracy, per-class P/R/F1, log-loss, AUC, confusion matrix", setup: evalSetup})
}

func evalSetup(fs *flag.FlagSet) func() error {
	dir := fs.String("predictions", "", "prediction output `DIR` written by dpmr predict (required); eval reads it in bounded memory\n(about 11 MiB for the AUC, exact up to 65,536 distinct margins and within the error it prints beyond)")
	threshold := fs.Float64("threshold", 0.5, "predict class 1 when the probability is >= this, in [0, 1]")
	asJSON := fs.Bool("json", false, "print the metrics as JSON instead of a table")
	classWeight := fs.String("class-weight", "", "weigh each labelled row of a class this many times (times its sample weight, with predict --sample-weights),\nas train's --class-weight does for --test: `CLASS=W,...` (1=5,0=1)")
	curves := fs.String("curves", "", "write the ROC curve, the precision-recall curve and a threshold sweep to the local `DIR`\n"+
		"(created if need be): "+curvesFiles+"; other files there are left alone")
	return func() error {
		if *dir == "" {
			return usageError("--predictions is required")
		}
		if !(0 <= *threshold && *threshold <= 1) {
			return usageError("--threshold must be in [0, 1], got %v", *threshold)
		}
		cw, err := parseClassWeight(*classWeight)
		if err != nil {
			return usageError("--class-weight: %v", err)
		}
		var hist *model.ScoreHistogram
		if *curves != "" {
			if err := checkCurvesDir(*curves); err != nil {
				return err
			}
			hist = model.NewScoreHistogram(curveBins)
		}
		rep, err := evalPredictionsWith(context.Background(), *dir, *threshold, cw, hist)
		if err != nil {
			return err
		}
		if rep.Multiclass != nil && flagSet(fs, "threshold") {
			return usageError("--threshold is for two classes; a multiclass model predicts its most probable class")
		}
		if hist != nil {
			if err := writeCurves(*curves, hist, rep); err != nil {
				return err
			}
		}
		if *asJSON {
			return writeEvalJSON(os.Stdout, rep)
		}
		if err := writeEvalTable(os.Stdout, rep); err != nil {
			return err
		}
		if hist != nil {
			fmt.Printf("\ncurves: %s (%s)\n", *curves, curvesFiles)
		}
		return nil
	}
}

// predictionsManifestName is the file that marks a prediction output
// complete; dpmr predict writes it after every predictions file it lists.
const predictionsManifestName = "predictions.json"

// predictionsManifest is the content of predictions.json. Unknown fields
// are ignored, so the writer may add some.
type predictionsManifest struct {
	Files  []predictionsFile `json:"files"`
	Model  string            `json:"model"`
	Inputs []string          `json:"inputs"`
	// SampleWeights: each line has a sixth column, the sample's weight.
	SampleWeights bool `json:"sample_weights"`
	// Classes is K for a multiclass model's predictions, whose lines are
	// file<TAB>line<TAB>label<TAB>class<TAB>p_0...<TAB>p_K-1.
	Classes int `json:"classes"`
}

// predictionsFile describes one predictions-SSSSS-of-NNNNN file.
type predictionsFile struct {
	Path    string `json:"path"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	CRC32C  uint32 `json:"crc32c"` // CRC-32 Castagnoli of the whole file
}

var (
	// errIncompletePredictions marks a directory without a readable
	// predictions.json: an unfinished or failed run, or not a prediction
	// output at all.
	errIncompletePredictions = errors.New("not a complete prediction output")
	// errDamagedPredictions marks a predictions file whose size, checksum
	// or record count differs from predictions.json.
	errDamagedPredictions = errors.New("damaged prediction output")
	// errNoLabels marks a prediction output where no row has a label.
	errNoLabels = errors.New("no labelled predictions")
)

// predictionLineError reports a malformed line of a predictions file, at
// its 1-based line number.
type predictionLineError struct {
	Path string
	Line int64
	Err  error
}

func (e *predictionLineError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
}

func (e *predictionLineError) Unwrap() error { return e.Err }

// predictionColumns is the line format, for error messages, and
// weightColumn the column predict --sample-weights adds.
const (
	predictionColumns = "file<TAB>line<TAB>label<TAB>margin<TAB>probability"
	weightColumn      = "<TAB>weight"
)

// maxPredictionLine bounds a line; only the source file name can make one
// long.
const maxPredictionLine = 1 << 20

// probabilityTolerance is how far the probability column may be from
// sigmoid(margin): both are written from the same float64, so any real
// difference means a column mix-up or a damaged writer.
const probabilityTolerance = 1e-9

// predictions is a prediction output as eval reads it: the labelled rows
// go, in file order, into Eval, and into Hist if set; nothing is kept per
// row.
type predictions struct {
	Dir        string
	Manifest   predictionsManifest
	Rows       int64 // every row
	Unlabelled int64 // rows with an empty label, not evaluated
	Eval       *model.Evaluator
	// ClassWeight multiplies each labelled row's weight by its class's (0
	// counts as 1).
	ClassWeight [2]float64
	// Hist, if set, also counts the labelled rows' probabilities.
	Hist *model.ScoreHistogram
	// Class counts a multiclass model's labelled rows, in place of Eval.
	Class *model.ClassEvaluator
}

// readPredictions reads the prediction output in dir: predictions.json,
// then every file it lists, checking each file's size, CRC-32C and record
// count against it and every line's format. The files are looked up in dir
// under their base names, so a moved or copied output still reads.
func readPredictions(ctx context.Context, dir string, eval *model.Evaluator, classWeight [2]float64, hist *model.ScoreHistogram) (*predictions, error) {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "/"
	}
	fsys, err := filesystem.New(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()

	man, err := readPredictionsManifest(ctx, fsys, dir)
	if err != nil {
		return nil, err
	}
	files, err := checkPredictionFiles(dir, man.Files)
	if err != nil {
		return nil, err
	}
	p := &predictions{Dir: dir, Manifest: *man, Eval: eval, ClassWeight: classWeight, Hist: hist}
	if man.Classes != 0 {
		if hist != nil || classWeight != [2]float64{} {
			return nil, fmt.Errorf("%s holds a multiclass model's predictions: --curves and --class-weight are for two classes", dir)
		}
		if p.Class, err = model.NewClassEvaluator(man.Classes); err != nil {
			return nil, fmt.Errorf("%s: %s: %v", dir, predictionsManifestName, err)
		}
	}
	for _, f := range files {
		if err := p.readFile(ctx, fsys, f); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func readPredictionsManifest(ctx context.Context, fsys filesystem.Interface, dir string) (*predictionsManifest, error) {
	path := joinDir(dir, predictionsManifestName)
	r, err := fsys.OpenRead(ctx, path)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			if others, lerr := fsys.List(ctx, joinDir(dir, "*")); lerr == nil && len(others) == 0 {
				return nil, fmt.Errorf("%s is %w: it does not exist or is empty", dir, errIncompletePredictions)
			}
			return nil, fmt.Errorf("%s is %w: it has no %s, which dpmr predict writes last (did it finish?)",
				dir, errIncompletePredictions, predictionsManifestName)
		}
		return nil, fmt.Errorf("%s is %w: %v", dir, errIncompletePredictions, err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var man predictionsManifest
	if err := json.Unmarshal(data, &man); err != nil {
		return nil, fmt.Errorf("%s is %w: %s: %v", dir, errIncompletePredictions, path, err)
	}
	return &man, nil
}

// predictionFile is one listed file, resolved in the output directory.
type predictionFile struct {
	listed predictionsFile
	path   string // where it is read
	shard  int
}

// checkPredictionFiles resolves the listed files in dir and checks that
// they are shards of one set predictions-SSSSS-of-NNNNN, each listed once.
// A shard may be absent: the writer makes no file for a shard no row fell
// in, and predictions.json, written last, is the authority on the set. It
// returns the files in shard order, so the evaluation is deterministic.
func checkPredictionFiles(dir string, listed []predictionsFile) ([]predictionFile, error) {
	manPath := joinDir(dir, predictionsManifestName)
	files := make([]predictionFile, 0, len(listed))
	seen := map[int]bool{}
	shards := -1
	for _, f := range listed {
		base := f.Path[strings.LastIndex(f.Path, "/")+1:]
		shard, of, ok := pipeline.ParseShardName(base, "predictions")
		if !ok || shard >= of {
			return nil, fmt.Errorf("%w: %s lists %q, not a predictions-SSSSS-of-NNNNN file",
				errDamagedPredictions, manPath, f.Path)
		}
		if shards >= 0 && of != shards {
			return nil, fmt.Errorf("%w: %s lists files of %d and of %d shards",
				errDamagedPredictions, manPath, shards, of)
		}
		if seen[shard] {
			return nil, fmt.Errorf("%w: %s lists %s twice", errDamagedPredictions, manPath, base)
		}
		if f.Records < 0 || f.Bytes < 0 {
			return nil, fmt.Errorf("%w: %s lists %s with %d records and %d bytes",
				errDamagedPredictions, manPath, base, f.Records, f.Bytes)
		}
		shards = of
		seen[shard] = true
		files = append(files, predictionFile{listed: f, path: joinDir(dir, base), shard: shard})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].shard < files[j].shard })
	return files, nil
}

// readFile streams one predictions file. It hashes every byte as it parses,
// and on a malformed line reads on to the end, so that a damaged file is
// reported as damaged rather than by whichever line the damage broke.
func (p *predictions) readFile(ctx context.Context, fsys filesystem.Interface, f predictionFile) error {
	r, err := fsys.OpenRead(ctx, f.path)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("%w: %s is listed in %s but missing", errDamagedPredictions, f.path, predictionsManifestName)
		}
		return err
	}
	defer r.Close()
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	counted := &countingReader{r: io.TeeReader(r, crc)}
	sc := bufio.NewScanner(counted)
	sc.Buffer(make([]byte, 0, 64<<10), maxPredictionLine)
	sc.Split(splitLinesLF)

	var records int64
	var lineErr error
	for sc.Scan() {
		records++
		if err := p.addLine(sc.Bytes()); err != nil {
			lineErr = &predictionLineError{Path: f.path, Line: records, Err: err}
			break
		}
	}
	if err := sc.Err(); err != nil {
		if !errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("reading %s: %v", f.path, err)
		}
		lineErr = &predictionLineError{Path: f.path, Line: records + 1,
			Err: fmt.Errorf("line longer than %d bytes", maxPredictionLine)}
	}
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return fmt.Errorf("reading %s: %v", f.path, err)
	}
	if counted.n != f.listed.Bytes {
		return fmt.Errorf("%w: %s has %d bytes, %s says %d", errDamagedPredictions, f.path, counted.n, predictionsManifestName, f.listed.Bytes)
	}
	if sum := crc.Sum32(); sum != f.listed.CRC32C {
		return fmt.Errorf("%w: %s has CRC-32C %d, %s says %d", errDamagedPredictions, f.path, sum, predictionsManifestName, f.listed.CRC32C)
	}
	if lineErr != nil {
		return lineErr
	}
	if records != f.listed.Records {
		return fmt.Errorf("%w: %s has %d lines, %s says %d records", errDamagedPredictions, f.path, records, predictionsManifestName, f.listed.Records)
	}
	return nil
}

// addLine parses one line, file<TAB>line<TAB>label<TAB>margin<TAB>probability
// and, when the output has them, <TAB>weight, and counts its label and
// margin, with its weight, when it has a label.
func (p *predictions) addLine(text []byte) error {
	if p.Class != nil {
		return p.addClassLine(text)
	}
	var col [6][]byte
	n, format := 5, predictionColumns
	if p.Manifest.SampleWeights {
		n, format = 6, predictionColumns+weightColumn
	}
	rest := text
	for i := range n {
		var ok bool
		col[i], rest, ok = bytes.Cut(rest, []byte{'\t'})
		if ok != (i < n-1) {
			return fmt.Errorf("want %d tab-separated fields %s, got %d", n, format, bytes.Count(text, []byte{'\t'})+1)
		}
	}
	source, line, label, margin, prob := col[0], col[1], col[2], col[3], col[4]
	w := 1.0
	if p.Manifest.SampleWeights {
		var err error
		if w, err = parseRowWeight(col[5]); err != nil {
			return err
		}
	}
	if err := checkSampleKey(source, line); err != nil {
		return err
	}
	var y float64
	switch string(label) {
	case "0":
	case "1":
		y = 1
	case "":
	default:
		return fmt.Errorf("label %q is not 0, 1 or empty", label)
	}
	z, err := strconv.ParseFloat(string(margin), 64)
	if err != nil || math.IsInf(z, 0) || math.IsNaN(z) {
		return fmt.Errorf("margin %q is not a finite number", margin)
	}
	q, err := strconv.ParseFloat(string(prob), 64)
	if err != nil || !(0 <= q && q <= 1) {
		return fmt.Errorf("probability %q is not a number in [0, 1]", prob)
	}
	s := model.Sigmoid(z)
	if math.Abs(q-s) > probabilityTolerance {
		return fmt.Errorf("probability %s is not sigmoid(margin %s) = %.17g", prob, margin, s)
	}
	p.Rows++
	if len(label) == 0 {
		p.Unlabelled++
		return nil
	}
	w = model.SampleWeight(w, y, p.ClassWeight)
	if err := p.Eval.AddWeighted(y, z, w); err != nil {
		return err
	}
	if p.Hist != nil {
		// The probability eval's rule compares with the threshold. The
		// curves count samples, not weights.
		p.Hist.Add(y == 1, s)
	}
	return nil
}

// checkSampleKey checks a prediction line's source: a file name and a
// line number.
func checkSampleKey(source, line []byte) error {
	if len(source) == 0 {
		return errors.New("empty source file name")
	}
	if n, err := strconv.ParseInt(string(line), 10, 64); err != nil || n < 1 {
		return fmt.Errorf("source line %q is not a positive integer", line)
	}
	return nil
}

// parseRowWeight reads predict --sample-weights' weight column.
func parseRowWeight(b []byte) (float64, error) {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("weight %q is not a finite number > 0", b)
	}
	return v, nil
}

// addClassLine parses one line of a multiclass model's predictions,
// file<TAB>line<TAB>label<TAB>class<TAB>p_0<TAB>...<TAB>p_K-1 and, when
// the output has them, <TAB>weight, and counts it when it has a label.
func (p *predictions) addClassLine(text []byte) error {
	K := p.Manifest.Classes
	n := 4 + K
	if p.Manifest.SampleWeights {
		n++
	}
	col := bytes.Split(text, []byte{'\t'})
	if len(col) != n {
		return fmt.Errorf("want %d tab-separated fields file<TAB>line<TAB>label<TAB>class<TAB>%d probabilities, got %d", n, K, len(col))
	}
	if err := checkSampleKey(col[0], col[1]); err != nil {
		return err
	}
	class := func(b []byte, what string) (int, error) {
		k, err := strconv.Atoi(string(b))
		if err != nil || k < 0 || k >= K || string(b) != strconv.Itoa(k) {
			return 0, fmt.Errorf("%s %q is not a class 0 to %d", what, b, K-1)
		}
		return k, nil
	}
	pred, err := class(col[3], "predicted class")
	if err != nil {
		return err
	}
	probs := make([]float64, K)
	sum := 0.0
	for k := range probs {
		x, err := strconv.ParseFloat(string(col[4+k]), 64)
		if err != nil || !(0 <= x && x <= 1) {
			return fmt.Errorf("probability %q of class %d is not a number in [0, 1]", col[4+k], k)
		}
		probs[k], sum = x, sum+x
	}
	if math.Abs(sum-1) > probabilityTolerance*float64(K) || probs[pred] < slices.Max(probs) {
		return fmt.Errorf("the probabilities sum to %.17g, or class %d is not the most probable", sum, pred)
	}
	w := 1.0
	if p.Manifest.SampleWeights {
		if w, err = parseRowWeight(col[n-1]); err != nil {
			return err
		}
	}
	p.Rows++
	if len(col[2]) == 0 {
		p.Unlabelled++
		return nil
	}
	y, err := class(col[2], "label")
	if err != nil {
		return err
	}
	return p.Class.Add(y, pred, probs[y], w)
}

// splitLinesLF splits at '\n' only: unlike bufio.ScanLines it keeps a
// '\r', which no predictions line has, so a damaged line is seen as such.
func splitLinesLF(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// joinDir joins a directory and a file name with '/', which every Beam
// file system accepts (local ones on Unix, gs://, s3://).
func joinDir(dir, name string) string {
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// evalReport is what dpmr eval prints; its JSON field names are stable.
type evalReport struct {
	Predictions string   `json:"predictions"` // the directory
	Model       string   `json:"model"`       // as predictions.json names it
	Inputs      []string `json:"inputs"`      // as predictions.json lists them
	Files       int      `json:"files"`
	Rows        int64    `json:"rows"`       // every prediction
	Unlabelled  int64    `json:"unlabelled"` // predictions without a label, not evaluated
	N           int64    `json:"n"`          // labelled predictions, evaluated
	// Weight is the rows' summed weight when some weighs other than 1
	// (predict --sample-weights, --class-weight): every metric then counts
	// each row's weight, except N, the supports and the confusion matrix,
	// which count rows.
	Weight    float64 `json:"weight,omitempty"`
	Threshold float64 `json:"threshold"`
	Accuracy  float64 `json:"accuracy"`
	LogLoss   float64 `json:"log_loss"` // mean negative log-likelihood, from the margins
	// AUC is null when only one class occurs (AUCDefined false).
	AUC        *float64 `json:"auc"`
	AUCDefined bool     `json:"auc_defined"`
	// AUCErrorBound bounds |AUC - exact AUC|: 0 up to model.EvalAUCBins
	// distinct margins, beyond which eval ranks them in that many bins.
	AUCErrorBound float64         `json:"auc_error_bound"`
	Class1        classReport     `json:"class_1"`
	Class0        classReport     `json:"class_0"`
	MacroAvg      macroReport     `json:"macro_avg"`
	Confusion     confusionReport `json:"confusion"`
	// Multiclass, when set, is the whole report: the predictions are a
	// multiclass model's.
	Multiclass *multiclassReport `json:"-"`
}

// multiclassReport is dpmr eval's report on a multiclass model's
// predictions; its JSON field names are stable. Weight, as in evalReport,
// says that the metrics count each row's weight; N, the supports and the
// confusion matrix count rows.
type multiclassReport struct {
	Predictions string        `json:"predictions"`
	Model       string        `json:"model"`
	Inputs      []string      `json:"inputs"`
	Files       int           `json:"files"`
	Rows        int64         `json:"rows"`
	Unlabelled  int64         `json:"unlabelled"`
	N           int64         `json:"n"`
	Weight      float64       `json:"weight,omitempty"`
	Classes     int           `json:"classes"`
	Accuracy    float64       `json:"accuracy"`
	LogLoss     float64       `json:"log_loss"` // mean -log p(true class), p clipped at model.LogLossFloor
	PerClass    []classReport `json:"per_class"`
	MacroAvg    macroReport   `json:"macro_avg"`
	MicroAvg    macroReport   `json:"micro_avg"`
	Confusion   [][]int64     `json:"confusion"` // [true class][predicted class]
}

// classEvalReport makes the report of a multiclass model's predictions.
func classEvalReport(p *predictions) (evalReport, error) {
	if p.Class.N() == 0 {
		return evalReport{}, fmt.Errorf("%s: %w: none of its %d predictions has a label (predict on labelled data to evaluate)",
			p.Dir, errNoLabels, p.Rows)
	}
	m := p.Class.Metrics()
	r := &multiclassReport{
		Predictions: p.Dir, Model: p.Manifest.Model, Inputs: p.Manifest.Inputs, Files: len(p.Manifest.Files),
		Rows: p.Rows, Unlabelled: p.Unlabelled, N: m.N, Weight: m.Weight, Classes: len(m.Classes),
		Accuracy: m.Accuracy, LogLoss: m.LogLoss, Confusion: m.Confusion,
		MacroAvg: macroReport{m.MacroPrecision, m.MacroRecall, m.MacroF1},
		MicroAvg: macroReport{m.MicroPrecision, m.MicroRecall, m.MicroF1},
	}
	for _, c := range m.Classes {
		r.PerClass = append(r.PerClass, classReport{c.Precision, c.Recall, c.F1, c.Support})
	}
	if r.Inputs == nil {
		r.Inputs = []string{}
	}
	return evalReport{Multiclass: r}, nil
}

// writeReportHead prints what both reports start with: where the
// predictions come from and how many rows count.
func writeReportHead(pf func(string, ...any), dir, model string, inputs []string, files int, rows, unlabelled, n int64, weight float64) {
	pf("predictions:\t%s (%d files, %d rows)\n", dir, files, rows)
	if model != "" {
		pf("model:\t%s\n", model)
	}
	if len(inputs) > 0 {
		pf("inputs:\t%s\n", strings.Join(inputs, ", "))
	}
	if unlabelled > 0 {
		pf("unlabelled:\t%d of %d rows have no label and are not evaluated\n", unlabelled, rows)
	}
	pf("\nN\t%d\n", n)
	if weight > 0 {
		pf("weighted\tthe metrics count each row's weight, %.6g in all (N, the supports and the confusion matrix count rows)\n", weight)
	}
}

// writeClassTable prints a multiclass report for a reader.
func writeClassTable(w io.Writer, rep *multiclassReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pf := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	writeReportHead(pf, rep.Predictions, rep.Model, rep.Inputs, rep.Files, rep.Rows, rep.Unlabelled, rep.N, rep.Weight)
	pf("classes\t%d (the predicted class is the most probable)\n", rep.Classes)
	pf("accuracy\t%.4f\n", rep.Accuracy)
	pf("log-loss\t%.6f\n", rep.LogLoss)
	if err := tw.Flush(); err != nil {
		return err
	}

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	pf("\n%-9s\tprecision\trecall\tF1\tsupport\t\n", "class")
	for k, c := range rep.PerClass {
		pf("%-9d\t%.4f\t%.4f\t%.4f\t%d\t\n", k, c.Precision, c.Recall, c.F1, c.Support)
	}
	pf("macro avg\t%.4f\t%.4f\t%.4f\t%d\t\n", rep.MacroAvg.Precision, rep.MacroAvg.Recall, rep.MacroAvg.F1, rep.N)
	pf("micro avg\t%.4f\t%.4f\t%.4f\t%d\t\n", rep.MicroAvg.Precision, rep.MicroAvg.Recall, rep.MicroAvg.F1, rep.N)
	if err := tw.Flush(); err != nil {
		return err
	}

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	pf("\nconfusion matrix (rows: true class, columns: predicted class)\n%-9s\t", "")
	for k := range rep.Classes {
		pf("predicted %d\t", k)
	}
	pf("\n")
	for t, row := range rep.Confusion {
		pf("%-9s\t", fmt.Sprintf("true %d", t))
		for _, n := range row {
			pf("%d\t", n)
		}
		pf("\n")
	}
	return tw.Flush()
}

type classReport struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int64   `json:"support"`
}

type macroReport struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// confusionReport counts at the threshold, class 1 being the positive one:
// tp true 1 predicted 1, fn true 1 predicted 0, fp true 0 predicted 1, tn
// true 0 predicted 0.
type confusionReport struct {
	TP int64 `json:"tp"`
	FN int64 `json:"fn"`
	FP int64 `json:"fp"`
	TN int64 `json:"tn"`
}

// evalPredictions reads the prediction output in dir and evaluates its
// labelled rows at threshold.
func evalPredictions(ctx context.Context, dir string, threshold float64) (evalReport, error) {
	return evalPredictionsWith(ctx, dir, threshold, [2]float64{}, nil)
}

// evalPredictionsWith is evalPredictions that weighs each class by
// classWeight and also counts the labelled rows in hist, if not nil, for
// the curves.
func evalPredictionsWith(ctx context.Context, dir string, threshold float64, classWeight [2]float64, hist *model.ScoreHistogram) (evalReport, error) {
	eval, err := model.NewEvaluator(threshold, model.EvalAUCBins)
	if err != nil {
		return evalReport{}, err
	}
	p, err := readPredictions(ctx, dir, eval, classWeight, hist)
	if err != nil {
		return evalReport{}, err
	}
	if p.Class != nil {
		return classEvalReport(p)
	}
	if eval.N() == 0 {
		return evalReport{}, fmt.Errorf("%s: %w: none of its %d predictions has a label (predict on labelled data to evaluate)",
			p.Dir, errNoLabels, p.Rows)
	}
	m, err := eval.Metrics()
	if err != nil {
		return evalReport{}, fmt.Errorf("%s: %v", p.Dir, err)
	}
	rep := evalReport{
		Predictions:   p.Dir,
		Model:         p.Manifest.Model,
		Inputs:        p.Manifest.Inputs,
		Files:         len(p.Manifest.Files),
		Rows:          p.Rows,
		Unlabelled:    p.Unlabelled,
		N:             m.N,
		Weight:        m.Weight,
		Threshold:     m.Threshold,
		Accuracy:      m.Accuracy,
		LogLoss:       m.LogLoss,
		AUCDefined:    m.AUCDefined,
		AUCErrorBound: m.AUCBound,
		Class1:        classReport{m.Positive.Precision, m.Positive.Recall, m.Positive.F1, m.Positive.Support},
		Class0:        classReport{m.Negative.Precision, m.Negative.Recall, m.Negative.F1, m.Negative.Support},
		MacroAvg:      macroReport{m.MacroPrecision, m.MacroRecall, m.MacroF1},
		Confusion:     confusionReport{TP: m.Confusion.TP, FN: m.Confusion.FN, FP: m.Confusion.FP, TN: m.Confusion.TN},
	}
	if m.AUCDefined {
		auc := m.AUC
		rep.AUC = &auc
	}
	if rep.Inputs == nil {
		rep.Inputs = []string{}
	}
	return rep, nil
}

func writeEvalJSON(w io.Writer, rep evalReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if rep.Multiclass != nil {
		return enc.Encode(rep.Multiclass)
	}
	return enc.Encode(rep)
}

// writeEvalTable prints the report for a reader: the provenance, the
// summary metrics, the per-class table and the confusion matrix.
func writeEvalTable(w io.Writer, rep evalReport) error {
	if rep.Multiclass != nil {
		return writeClassTable(w, rep.Multiclass)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pf := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	writeReportHead(pf, rep.Predictions, rep.Model, rep.Inputs, rep.Files, rep.Rows, rep.Unlabelled, rep.N, rep.Weight)
	pf("threshold\t%g\n", rep.Threshold)
	pf("accuracy\t%.4f\n", rep.Accuracy)
	pf("log-loss\t%.6f\n", rep.LogLoss)
	switch {
	case rep.AUC != nil && rep.AUCErrorBound > 0:
		pf("AUC\t%.4f (within %.2g of the exact AUC: the margins are ranked in %d bins)\n", *rep.AUC, rep.AUCErrorBound, model.EvalAUCBins)
	case rep.AUC != nil:
		pf("AUC\t%.4f\n", *rep.AUC)
	default:
		pf("AUC\tundefined: one class only\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	pf("\n")
	// The first column is padded by hand to read left-aligned.
	pf("%-9s\tprecision\trecall\tF1\tsupport\t\n", "class")
	for _, c := range []struct {
		name string
		m    classReport
	}{{"1", rep.Class1}, {"0", rep.Class0}} {
		pf("%-9s\t%.4f\t%.4f\t%.4f\t%d\t\n", c.name, c.m.Precision, c.m.Recall, c.m.F1, c.m.Support)
	}
	pf("macro avg\t%.4f\t%.4f\t%.4f\t%d\t\n", rep.MacroAvg.Precision, rep.MacroAvg.Recall, rep.MacroAvg.F1, rep.N)
	if err := tw.Flush(); err != nil {
		return err
	}

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	pf("\nconfusion matrix at threshold %g (rows: true class, columns: predicted class)\n", rep.Threshold)
	pf("%-9s\tpredicted 1\tpredicted 0\t\n", "")
	pf("%-9s\t%d\t%d\t\n", "true 1", rep.Confusion.TP, rep.Confusion.FN)
	pf("%-9s\t%d\t%d\t\n", "true 0", rep.Confusion.FP, rep.Confusion.TN)
	return tw.Flush()
}
