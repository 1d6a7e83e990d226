package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
	"github.com/stretchr/testify/require"
)

// predRow is one prediction line; label is "" for a sample without one,
// and weight 1 where the output has no weight column.
type predRow struct {
	label          string
	margin, weight float64
}

// readPredictionRows reads a prediction output's rows by source line.
func readPredictionRows(t *testing.T, info *PredictionsInfo) map[predKey]predRow {
	t.Helper()
	out := map[predKey]predRow{}
	for _, f := range info.Files {
		fh, err := os.Open(f.Path)
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			parts := strings.Split(sc.Text(), "\t")
			weight := 1.0
			if info.SampleWeights {
				require.Len(t, parts, 6, sc.Text())
				weight, err = strconv.ParseFloat(parts[5], 64)
				require.NoError(t, err)
			} else {
				require.Len(t, parts, 5, sc.Text())
			}
			line, err := strconv.ParseInt(parts[1], 10, 64)
			require.NoError(t, err)
			margin, err := strconv.ParseFloat(parts[3], 64)
			require.NoError(t, err)
			prob, err := strconv.ParseFloat(parts[4], 64)
			require.NoError(t, err)
			require.Equal(t, model.Sigmoid(margin), prob)
			out[predKey{parts[0], line}] = predRow{parts[2], margin, weight}
		}
		require.NoError(t, sc.Err())
		fh.Close()
	}
	return out
}

// requireReferencePredictions checks a prediction output of the file path
// against the in-memory reference: ReadDataset of the same file (under the
// label mode given) scored with the weights.
func requireReferencePredictions(t *testing.T, got map[predKey]predRow, path string, labels model.LabelMode, w map[string]float64, blockSize int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r := model.NewReader(f, path)
	r.Labels = labels
	b := model.NewDatasetBuilder(true, blockSize)
	var s model.Sample
	for {
		err := r.Read(&s)
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
		b.Add(0, &s)
	}
	d := b.Dataset()
	want := d.Margins(w)
	require.Len(t, got, int(d.Samples))
	i := 0
	for _, blk := range d.Blocks {
		for r, line := range blk.Lines {
			p, ok := got[predKey{path, line}]
			require.True(t, ok, "%s:%d has no prediction", path, line)
			wantLabel := ""
			if y := blk.Labels[r]; model.Labelled(y) {
				wantLabel = strconv.Itoa(int(y))
			}
			require.Equal(t, wantLabel, p.label, "%s:%d", path, line)
			require.InDelta(t, want[i], p.margin, predictTol*math.Max(1, math.Abs(want[i])), "%s:%d", path, line)
			require.Equal(t, blk.Weight(r), p.weight, "%s:%d's weight", path, line)
			i++
		}
	}
}

// TestCompressedAndBOMInputsMatchPlain trains and predicts on the same
// samples as plain text, with a byte order mark, gzip (two members, a
// byte order mark inside) and bzip2: every form gives the plain text's
// model and predictions, which match the in-memory reference.
func TestCompressedAndBOMInputsMatchPlain(t *testing.T) {
	dir := t.TempDir()
	plainPath := "../testdata/good/libsvm.txt"
	plain, err := os.ReadFile(plainPath)
	require.NoError(t, err)
	bom := filepath.Join(dir, "bom.txt")
	require.NoError(t, os.WriteFile(bom, append([]byte("\xEF\xBB\xBF"), plain...), 0o644))
	var gz bytes.Buffer
	for _, part := range [][]byte{append([]byte("\xEF\xBB\xBF"), plain[:100]...), plain[100:]} {
		zw := gzip.NewWriter(&gz)
		_, err := zw.Write(part)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
	}
	gzPath := filepath.Join(dir, "libsvm.txt.gz")
	require.NoError(t, os.WriteFile(gzPath, gz.Bytes(), 0o644))
	inputs := []string{plainPath, bom, gzPath, "../testdata/good/libsvm.txt.bz2"}

	tp := model.TrainParams{Lambda: 0.1, Bias: true, BlockSize: 8, Iterations: 3, Tol: -1, GTol: -1, GapTol: -1}
	var plainWeights map[string]float64
	var plainModel string
	for i, in := range inputs {
		out := filepath.Join(dir, "model"+strconv.Itoa(i))
		res, err := Train(context.Background(), TrainConfig{Inputs: []string{in}, WorkDir: out + ".work", Output: out,
			Train: tp, Shards: 2, Run: runnerFor("direct")})
		require.NoError(t, err, in)
		require.EqualValues(t, 30, res.Model.Samples, in)
		w := readModelWeights(t, res.Model)
		ref, _ := reference(t, []string{in}, tp)
		requireClose(t, ref.Weights(), w, oracleTol)
		if i == 0 {
			plainWeights, plainModel = w, out
			continue
		}
		require.Equal(t, plainWeights, w, "%s trains another model than the plain text", in)
	}

	var plainRows []predRow
	for i, in := range inputs {
		out := filepath.Join(dir, "pred"+strconv.Itoa(i))
		info, err := RunPredict(context.Background(), PredictConfig{Model: plainModel, Inputs: []string{in}, Output: out,
			WorkDir: out + ".work", Shards: 2, Run: runnerFor("direct")})
		require.NoError(t, err, in)
		require.EqualValues(t, 30, info.Samples)
		require.Zero(t, info.Unlabelled)
		got := readPredictionRows(t, info)
		requireReferencePredictions(t, got, in, model.LabelOptional, plainWeights, tp.BlockSize)
		var rows []predRow
		for line := int64(1); line <= 30; line++ {
			rows = append(rows, got[predKey{in, line}])
		}
		if i == 0 {
			plainRows = rows
			continue
		}
		require.Equal(t, plainRows, rows, "%s has other predictions than the plain text", in)
	}
}

// TestDamagedCompressedInputFails: a truncated gzip file stops training
// and prediction with one error naming it, not a model from half the data.
func TestDamagedCompressedInputFails(t *testing.T) {
	dir := t.TempDir()
	in := "../testdata/bad/truncated.txt.gz"
	_, err := Train(context.Background(), TrainConfig{Inputs: []string{in}, WorkDir: filepath.Join(dir, "w"),
		Output: filepath.Join(dir, "m"), Train: model.TrainParams{Lambda: 1, Iterations: 1}, Run: runnerFor("direct")})
	require.ErrorContains(t, err, in+": gzip data damaged or truncated after line 1410: unexpected EOF")
	_, statErr := os.Stat(filepath.Join(dir, "m", ModelFileName))
	require.True(t, os.IsNotExist(statErr), "no model may be written")
}

// TestValuesOutOfRangeAreBadLines: a finite value whose square overflows
// (1e155) and a tiny one that would make a weight overflow (1e-160, with
// lambda 0) crashed training with "json: unsupported value: +Inf". They
// are bad lines now, counted and listed; skipped with --max-bad-lines,
// training gives the reference's model with finite figures throughout,
// and predict refuses them too.
func TestValuesOutOfRangeAreBadLines(t *testing.T) {
	dir := t.TempDir()
	data := writeLines(t, filepath.Join(dir, "train.txt"),
		"1 a:1 b:2",
		"0 f1:1e155 a", // line 2: its square overflows
		"1 b:1 c:0.5",
		"0 c:1e-160", // line 4: its square is subnormal
		"0 a c",
		"1 b:-1e100 b:-1e100", // line 6: the sum overflows
		"0 c:1e-100 b:1e100",  // in range: the bounds themselves
	)
	good := writeLines(t, filepath.Join(dir, "good.txt"),
		"1 a:1 b:2", "#", "1 b:1 c:0.5", "#", "0 a c", "#", "0 c:1e-100 b:1e100")
	cfg := TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "work"), Output: filepath.Join(dir, "model"),
		Train: model.TrainParams{Lambda: 0, Bias: true, Iterations: 4, Tol: -1, GTol: -1, GapTol: -1}, Shards: 2, Run: runnerFor("direct")}
	_, err := Train(context.Background(), cfg)
	var bad *BadInputError
	require.True(t, errors.As(err, &bad), "got %v", err)
	require.EqualValues(t, 3, bad.Count)
	require.Contains(t, err.Error(), data+`:2:3: value "1e155" of feature "f1" is out of range`)
	list, err := os.ReadFile(filepath.Join(dir, "work", RejectsName))
	require.NoError(t, err)
	require.Contains(t, string(list), data+`:4:3: value "1e-160" of feature "c" is out of range`)
	require.Contains(t, string(list), data+`:6:12: sum of values of feature "b" is out of range`)

	cfg.MaxBadLines = 3
	res, err := Train(context.Background(), cfg)
	require.NoError(t, err)
	require.EqualValues(t, 4, res.Model.Samples)
	for _, f := range res.History {
		for _, x := range []float64{f.J, f.Loss, f.GradNorm, f.Slope, f.WW, f.WD, f.DD} {
			require.False(t, math.IsInf(x, 0) || math.IsNaN(x), "pass %d: %+v", f.Pass, f)
		}
	}
	info, err := ReadModel(context.Background(), filepath.Join(dir, "model"))
	require.NoError(t, err)
	require.EqualValues(t, 3, info.BadLines)
	w := readModelWeights(t, res.Model)
	ref, _ := reference(t, []string{good}, cfg.Train)
	requireClose(t, ref.Weights(), w, oracleTol)

	_, err = RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "model"), Inputs: []string{data},
		Output: filepath.Join(dir, "pred"), WorkDir: filepath.Join(dir, "pred.work"), Run: runnerFor("direct")})
	require.True(t, errors.As(err, &bad), "got %v", err)
	require.EqualValues(t, 3, bad.Count)
	require.Contains(t, err.Error(), data+`:2:3: value "1e155" of feature "f1" is out of range`)
}

// TestPredictRefusesAnOverflowingMargin: values are bounded, a model's
// weights are not; a margin that overflows is an error naming the sample,
// never "+Inf" in a predictions file.
func TestPredictRefusesAnOverflowingMargin(t *testing.T) {
	dir := t.TempDir()
	block := transforms.AppendPredictionBlock(nil, transforms.PredictionBlock{Block: 0, File: 0,
		Lines: []int64{3, 9}, Labels: []float64{1, model.NoLabel}, Margins: []float64{2, math.Inf(1)}})
	fn := &writePredictionsFn{Dir: dir, Shards: 1, Paths: []string{"in.txt"}}
	done := false
	err := fn.ProcessElement(context.Background(), 0, func(rec *[]byte) bool {
		if done {
			return false
		}
		*rec, done = block, true
		return true
	}, func(ShardFile) { t.Fatal("no file may be written") })
	require.ErrorContains(t, err, "in.txt:9: the sample's margin overflows")
}

// TestUnlabelledPredictions: predict reads a line whose first token is a
// name:value feature as a sample without a label and writes an empty
// label for it; --unlabelled reads every line as features only. The
// margins are the reference's, and a labelled line's margin is that of
// the same features without the label.
func TestUnlabelledPredictions(t *testing.T) {
	dir := t.TempDir()
	train := writeSynth(t, dir, model.SynthParams{Samples: 800, Features: 100, PerSample: 6, Seed: 17})
	tp := model.TrainParams{Lambda: 1, Bias: true, BlockSize: 64, Iterations: 3}
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{train}, WorkDir: filepath.Join(dir, "w"),
		Output: filepath.Join(dir, "m"), Train: tp, Shards: 2, Run: runnerFor("direct")})
	require.NoError(t, err)
	w := readModelWeights(t, res.Model)

	// mixed.txt: each training line, then the same line without its label.
	// features.txt: lines without labels, one of them starting with a
	// feature named "1" (no ':'), which only --unlabelled reads as one.
	src, err := os.ReadFile(train)
	require.NoError(t, err)
	var mixed, features []string
	for _, line := range strings.Split(strings.TrimSpace(string(src)), "\n")[:100] {
		_, rest, _ := strings.Cut(line, " ")
		mixed = append(mixed, line, rest)
		features = append(features, rest)
	}
	features = append(features, "1 f3:2", "0")
	mixedPath := writeLines(t, filepath.Join(dir, "mixed.txt"), mixed...)
	featuresPath := writeLines(t, filepath.Join(dir, "features.txt"), features...)

	runner := "direct"
	predict := func(in string, unlabelled bool) (*PredictionsInfo, map[predKey]predRow) {
		out := filepath.Join(dir, "p-"+runner+filepath.Base(in)+strconv.FormatBool(unlabelled))
		info, err := RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "m"), Inputs: []string{in},
			Output: out, WorkDir: out + ".work", Shards: 2, Unlabelled: unlabelled, Run: runnerFor(runner)})
		require.NoError(t, err)
		return info, readPredictionRows(t, info)
	}
	// prism encodes every element between stages: NoLabel must survive
	// the coders.
	for _, runner = range []string{"prism", "direct"} {
		info, got := predict(mixedPath, false)
		require.EqualValues(t, 200, info.Samples)
		require.EqualValues(t, 100, info.Unlabelled)
		requireReferencePredictions(t, got, mixedPath, model.LabelOptional, w, tp.BlockSize)
		for line := int64(1); line <= 200; line += 2 {
			l, u := got[predKey{mixedPath, line}], got[predKey{mixedPath, line + 1}]
			require.NotEmpty(t, l.label)
			require.Empty(t, u.label)
			require.Equal(t, l.margin, u.margin, "line %d and %d", line, line+1)
		}
	}

	info, got := predict(featuresPath, true)
	require.EqualValues(t, 102, info.Samples)
	require.EqualValues(t, 102, info.Unlabelled)
	requireReferencePredictions(t, got, featuresPath, model.LabelNone, w, tp.BlockSize)
	// Feature "1" is unknown to the model and weighs 0: "1 f3:2" scores
	// as "f3:2" alone.
	require.Equal(t, got[predKey{featuresPath, 101}].margin, w[model.BiasName]+2*w["f3"])

	// Without --unlabelled, "1 f3:2" is a labelled line and "0" a label
	// with no features.
	info, got = predict(featuresPath, false)
	require.EqualValues(t, 100, info.Unlabelled)
	require.Equal(t, "1", got[predKey{featuresPath, 101}].label)
	require.Equal(t, "0", got[predKey{featuresPath, 102}].label)
	requireReferencePredictions(t, got, featuresPath, model.LabelOptional, w, tp.BlockSize)
}
