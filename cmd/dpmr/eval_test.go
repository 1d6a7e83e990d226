package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
	"github.com/stretchr/testify/require"
)

// evalTol is the tolerance on metrics that involve logarithms; the ratios
// are compared exactly.
const evalTol = 1e-12

// predRow is one predictions line as dpmr predict writes it; label is "0",
// "1" or "" (unknown).
func predRow(file string, line int, label string, z float64) string {
	return fmt.Sprintf("%s\t%d\t%s\t%s\t%s\n", file, line, label,
		strconv.FormatFloat(z, 'g', -1, 64), strconv.FormatFloat(model.Sigmoid(z), 'g', -1, 64))
}

// writePredictionOutput writes shards as the files of a prediction output
// in a new directory, then predictions.json describing them, and returns
// the directory. Listed paths are full paths, as dpmr predict writes them.
func writePredictionOutput(t *testing.T, shards ...string) string {
	t.Helper()
	return writePredictionsDir(t, false, shards...)
}

// writePredictionsDir is writePredictionOutput with the manifest saying
// whether the rows carry a weight column (predict --sample-weights).
func writePredictionsDir(t *testing.T, sampleWeights bool, shards ...string) string {
	t.Helper()
	dir := t.TempDir()
	man := predictionsManifest{Model: "/models/m1", Inputs: []string{"test/*.txt"}, SampleWeights: sampleWeights}
	for i, content := range shards {
		path := filepath.Join(dir, fmt.Sprintf("predictions-%05d-of-%05d", i, len(shards)))
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		man.Files = append(man.Files, predictionsFile{
			Path:    path,
			Records: int64(strings.Count(content, "\n")),
			Bytes:   int64(len(content)),
			CRC32C:  crc32.Checksum([]byte(content), crc32.MakeTable(crc32.Castagnoli)),
		})
	}
	data, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, predictionsManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fiveLabelled is a two-file output with five labelled rows and one
// without a label. (y, z) of the labelled rows, in order:
//
//	(1, 2) (0, -1) (1, 0.5) | (0, 1) (1, -0.5)
//
// At threshold 0.5 a row is predicted 1 when z >= 0:
//
//	TP: z=2, z=0.5  FN: z=-0.5  FP: z=1  TN: z=-1
//	accuracy = 3/5
//	class 1: precision 2/3, recall 2/3, F1 2/3, support 3
//	class 0: precision 1/2 (TN/(TN+FN)), recall 1/2 (TN/(TN+FP)), F1 1/2, support 2
//	macro: (2/3 + 1/2)/2 = 7/12 for each
//	AUC: positives {2, 0.5, -0.5} against negatives {-1, 1}:
//	  2 beats both, 0.5 and -0.5 beat -1 only: 4 of 6 pairs = 2/3
//	log-loss: mean of log(1+exp(z)) - y z =
//	  [log(1+e^-2) + log(1+e^-1) + log(1+e^-0.5) + log(1+e) + log(1+e^0.5)] / 5
func fiveLabelled(t *testing.T) string {
	return writePredictionOutput(t,
		predRow("a.txt", 1, "1", 2)+predRow("a.txt", 2, "0", -1)+predRow("a.txt", 3, "1", 0.5),
		predRow("b.txt", 1, "0", 1)+predRow("b.txt", 2, "", 3)+predRow("b.txt", 3, "1", -0.5),
	)
}

func fiveLabelledLogLoss() float64 {
	l := func(z float64) float64 { return math.Log1p(math.Exp(z)) }
	return (l(-2) + l(-1) + l(-0.5) + l(1) + l(0.5)) / 5
}

func TestEvalPredictions(t *testing.T) {
	dir := fiveLabelled(t)
	rep, err := evalPredictions(context.Background(), dir, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := evalReport{
		Predictions: dir, Model: "/models/m1", Inputs: []string{"test/*.txt"},
		Files: 2, Rows: 6, Unlabelled: 1, N: 5, Threshold: 0.5,
		Accuracy:   3.0 / 5,
		AUCDefined: true,
		Class1:     classReport{2.0 / 3, 2.0 / 3, 2.0 / 3, 3},
		Class0:     classReport{0.5, 0.5, 0.5, 2},
		MacroAvg:   macroReport{7.0 / 12, 7.0 / 12, 7.0 / 12},
		Confusion:  confusionReport{TP: 2, FN: 1, FP: 1, TN: 1},
	}
	checkReport(t, rep, want, fiveLabelledLogLoss(), 2.0/3)
}

func TestEvalPredictionsThreshold(t *testing.T) {
	// At 0.7 the row z=0.5 (p 0.622) turns to predicted 0; z=1 (p 0.731)
	// and z=2 (p 0.881) stay 1. TP: z=2; FN: z=0.5, z=-0.5; FP: z=1;
	// TN: z=-1. accuracy 2/5; class 1: P 1/2, R 1/3, F1 2*(1/6)/(5/6) =
	// 2/5; class 0: P 1/3, R 1/2, F1 2*(1/6)/(5/6) = 2/5. Log-loss and AUC
	// do not depend on the threshold.
	rep, err := evalPredictions(context.Background(), fiveLabelled(t), 0.7)
	if err != nil {
		t.Fatal(err)
	}
	want := rep
	want.Accuracy = 2.0 / 5
	want.Class1 = classReport{0.5, 1.0 / 3, 0.4, 3}
	want.Class0 = classReport{1.0 / 3, 0.5, 0.4, 2}
	want.MacroAvg = macroReport{(0.5 + 1.0/3) / 2, (1.0/3 + 0.5) / 2, 0.4}
	want.Confusion = confusionReport{TP: 1, FN: 2, FP: 1, TN: 1}
	checkReport(t, rep, want, fiveLabelledLogLoss(), 2.0/3)
}

// checkReport compares every float of rep with want's to evalTol, the
// log-loss and AUC with the values given, and the rest exactly.
func checkReport(t *testing.T, rep, want evalReport, logLoss, auc float64) {
	t.Helper()
	if rep.AUC == nil {
		t.Fatalf("AUC undefined, want %.17g", auc)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"log-loss", rep.LogLoss, logLoss},
		{"AUC", *rep.AUC, auc},
		{"accuracy", rep.Accuracy, want.Accuracy},
		{"class 1 precision", rep.Class1.Precision, want.Class1.Precision},
		{"class 1 recall", rep.Class1.Recall, want.Class1.Recall},
		{"class 1 F1", rep.Class1.F1, want.Class1.F1},
		{"class 0 precision", rep.Class0.Precision, want.Class0.Precision},
		{"class 0 recall", rep.Class0.Recall, want.Class0.Recall},
		{"class 0 F1", rep.Class0.F1, want.Class0.F1},
		{"macro precision", rep.MacroAvg.Precision, want.MacroAvg.Precision},
		{"macro recall", rep.MacroAvg.Recall, want.MacroAvg.Recall},
		{"macro F1", rep.MacroAvg.F1, want.MacroAvg.F1},
	} {
		if math.Abs(f.got-f.want) > evalTol {
			t.Errorf("%s %.17g, want %.17g", f.name, f.got, f.want)
		}
	}
	// The rest: counts, provenance, threshold.
	for _, r := range []*evalReport{&rep, &want} {
		r.LogLoss, r.AUC, r.Accuracy = 0, nil, 0
		r.Class1 = classReport{Support: r.Class1.Support}
		r.Class0 = classReport{Support: r.Class0.Support}
		r.MacroAvg = macroReport{}
	}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report\n%+v\nwant\n%+v", rep, want)
	}
}

func TestEvalTable(t *testing.T) {
	rep, err := evalPredictions(context.Background(), fiveLabelled(t), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeEvalTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"(2 files, 6 rows)",
		"model:        /models/m1\n",
		"unlabelled:   1 of 6 rows have no label and are not evaluated\n",
		"N          5\n",
		"accuracy   0.6000\n",
		"AUC        0.6667\n",
		"class      precision  recall      F1  support\n",
		"1             0.6667  0.6667  0.6667        3\n",
		"0             0.5000  0.5000  0.5000        2\n",
		"macro avg     0.5833  0.5833  0.5833        5\n",
		"           predicted 1  predicted 0\n",
		"true 1               2            1\n",
		"true 0               1            1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestEvalJSON(t *testing.T) {
	rep, err := evalPredictions(context.Background(), fiveLabelled(t), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeEvalJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// The field names are an interface: scripts read them.
	keys := func(m map[string]any) []string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		slices.Sort(k)
		return k
	}
	wantKeys := []string{"accuracy", "auc", "auc_defined", "auc_error_bound", "class_0", "class_1", "confusion", "files", "inputs",
		"log_loss", "macro_avg", "model", "n", "predictions", "rows", "threshold", "unlabelled"}
	if k := keys(got); !slices.Equal(k, wantKeys) {
		t.Errorf("JSON fields %v, want %v", k, wantKeys)
	}
	if k := keys(got["class_1"].(map[string]any)); !slices.Equal(k, []string{"f1", "precision", "recall", "support"}) {
		t.Errorf("class_1 fields %v", k)
	}
	if k := keys(got["macro_avg"].(map[string]any)); !slices.Equal(k, []string{"f1", "precision", "recall"}) {
		t.Errorf("macro_avg fields %v", k)
	}
	if k := keys(got["confusion"].(map[string]any)); !slices.Equal(k, []string{"fn", "fp", "tn", "tp"}) {
		t.Errorf("confusion fields %v", k)
	}
	if got["n"] != 5.0 || got["accuracy"] != 0.6 || got["auc"] != 2.0/3 || got["auc_error_bound"] != 0.0 {
		t.Errorf("n %v accuracy %v auc %v bound %v", got["n"], got["accuracy"], got["auc"], got["auc_error_bound"])
	}
}

// TestEvalBoundedMemory: with more runs of one class among the sorted
// margins than model.EvalAUCBins (about half the rows, with classes this
// mixed), eval ranks them in bins that mix the classes, and its AUC is within the bound it reports
// of the exact AUC computed from every row, and says so; every other
// metric is the exact computation's.
func TestEvalBoundedMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n := 4 * model.EvalAUCBins
	var shards [3]strings.Builder
	labels, margins := make([]float64, n), make([]float64, n)
	for i := range n {
		z := 3 * rng.NormFloat64()
		label := "0"
		if rng.Float64() < model.Sigmoid(z/2) {
			label, labels[i] = "1", 1
		}
		margins[i] = z
		shards[i%3].WriteString(predRow("in.txt", i+1, label, z))
	}
	rep, err := evalPredictions(context.Background(), writePredictionOutput(t, shards[0].String(), shards[1].String(), shards[2].String()), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// The rows in the order eval reads them: shard by shard.
	var ordered [2][]float64
	for s := range 3 {
		for i := s; i < n; i += 3 {
			ordered[0], ordered[1] = append(ordered[0], labels[i]), append(ordered[1], margins[i])
		}
	}
	exact, err := model.EvaluateMargins(ordered[0], ordered[1], 0.5)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("AUC %.10f, exact %.10f, bound %.3g", *rep.AUC, exact.AUC, rep.AUCErrorBound)
	if !(rep.AUCErrorBound > 0) || rep.AUCErrorBound > 1e-4 {
		t.Errorf("AUC error bound %.3g, want in (0, 1e-4]", rep.AUCErrorBound)
	}
	if math.Abs(*rep.AUC-exact.AUC) > rep.AUCErrorBound {
		t.Errorf("AUC %.17g is further than %.3g from the exact %.17g", *rep.AUC, rep.AUCErrorBound, exact.AUC)
	}
	if rep.LogLoss != exact.LogLoss || rep.Accuracy != exact.Accuracy || rep.Class1 != (classReport{exact.Positive.Precision, exact.Positive.Recall, exact.Positive.F1, exact.Positive.Support}) {
		t.Errorf("report %+v, exact %+v", rep, exact)
	}
	var b bytes.Buffer
	if err := writeEvalTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("AUC        %.4f (within %.2g of the exact AUC: the margins are ranked in 65536 bins)\n", *rep.AUC, rep.AUCErrorBound)
	if !strings.Contains(b.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, b.String())
	}
}

func TestEvalSingleClass(t *testing.T) {
	// Three positives, no negative. AUC is undefined. At 0.5, z=1 and z=2
	// are TP and z=-1 is FN: accuracy 2/3; class 1: P 1, R 2/3, F1 0.8;
	// class 0: nothing true or predicted, every ratio 0 by convention.
	dir := writePredictionOutput(t, predRow("a", 1, "1", 1)+predRow("a", 2, "1", 2)+predRow("a", 3, "1", -1))
	rep, err := evalPredictions(context.Background(), dir, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if rep.AUC != nil || rep.AUCDefined {
		t.Errorf("AUC %v defined %v, want undefined", rep.AUC, rep.AUCDefined)
	}
	if rep.Accuracy != 2.0/3 || rep.Class1 != (classReport{1, 2.0 / 3, 0.8, 3}) || rep.Class0 != (classReport{}) {
		t.Errorf("accuracy %v class 1 %+v class 0 %+v", rep.Accuracy, rep.Class1, rep.Class0)
	}
	var table, js bytes.Buffer
	if err := writeEvalTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "AUC        undefined: one class only\n") {
		t.Errorf("table does not say the AUC is undefined:\n%s", table.String())
	}
	if err := writeEvalJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"auc": null,`) || !strings.Contains(js.String(), `"auc_defined": false,`) {
		t.Errorf("JSON does not say the AUC is undefined:\n%s", js.String())
	}
	if strings.Contains(js.String(), "NaN") {
		t.Errorf("NaN in JSON:\n%s", js.String())
	}
}

func TestEvalNoLabels(t *testing.T) {
	dir := writePredictionOutput(t, predRow("a", 1, "", 1)+predRow("a", 2, "", -1))
	_, err := evalPredictions(context.Background(), dir, 0.5)
	if !errors.Is(err, errNoLabels) || !strings.Contains(err.Error(), "none of its 2 predictions has a label") {
		t.Errorf("got %v, want the no-labels error", err)
	}
	// An empty output has nothing to evaluate either.
	dir = writePredictionOutput(t, "")
	if _, err := evalPredictions(context.Background(), dir, 0.5); !errors.Is(err, errNoLabels) {
		t.Errorf("empty output: got %v, want the no-labels error", err)
	}
}

func TestEvalMalformedLine(t *testing.T) {
	good := predRow("a", 1, "1", 1)
	for _, tc := range []struct {
		name, line, want string
	}{
		{"four fields", "a\t2\t1\t0.5\n", "want 5 tab-separated fields file<TAB>line<TAB>label<TAB>margin<TAB>probability, got 4"},
		{"six fields", "a\t2\t1\t0\t0.5\tx\n", "got 6"},
		{"blank", "\n", "got 1"},
		{"label", "a\t2\t2\t0\t0.5\n", `label "2" is not 0, 1 or empty`},
		{"label -1", "a\t2\t-1\t0\t0.5\n", `label "-1" is not 0, 1 or empty`},
		{"margin", "a\t2\t1\tx\t0.5\n", `margin "x" is not a finite number`},
		{"margin inf", "a\t2\t1\t+Inf\t1\n", `margin "+Inf" is not a finite number`},
		{"margin NaN", "a\t2\t1\tNaN\t0.5\n", `margin "NaN" is not a finite number`},
		{"probability", "a\t2\t1\t0\t1.5\n", `probability "1.5" is not a number in [0, 1]`},
		{"columns swapped", "a\t2\t1\t0.5\t0\n", "probability 0 is not sigmoid(margin 0.5) = 0.622"},
		{"source line", "a\tx\t1\t0\t0.5\n", `source line "x" is not a positive integer`},
		{"source line 0", "a\t0\t1\t0\t0.5\n", `source line "0" is not a positive integer`},
		{"no file", "\t2\t1\t0\t0.5\n", "empty source file name"},
		{"CR", "a\t2\t1\t0\t0.5\r\n", `probability "0.5\r" is not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePredictionOutput(t, good, good+tc.line+good)
			_, err := evalPredictions(context.Background(), dir, 0.5)
			var le *predictionLineError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a line error", err)
			}
			wantPrefix := filepath.Join(dir, "predictions-00001-of-00002") + ":2: "
			if !strings.HasPrefix(err.Error(), wantPrefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want %q...%q", err, wantPrefix, tc.want)
			}
		})
	}
}

func TestEvalDamaged(t *testing.T) {
	content := predRow("a", 1, "1", 1) + predRow("a", 2, "0", -1)
	const second = "predictions-00001-of-00002"
	rewriteManifest := func(t *testing.T, dir string, edit func(*predictionsManifest)) {
		t.Helper()
		path := filepath.Join(dir, predictionsManifestName)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m predictionsManifest
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		edit(&m)
		if data, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"CRC mismatch", func(t *testing.T, dir string) {
			// Same size, one digit changed: a well-formed line, so only
			// the checksum can tell.
			damaged := strings.Replace(content, "a\t2\t0", "a\t3\t0", 1)
			if err := os.WriteFile(filepath.Join(dir, second), []byte(damaged), 0o644); err != nil {
				t.Fatal(err)
			}
		}, second + " has CRC-32C "},
		{"CRC mismatch with a broken line", func(t *testing.T, dir string) {
			damaged := strings.Replace(content, "a\t2\t0", "a\t2\t7", 1)
			if err := os.WriteFile(filepath.Join(dir, second), []byte(damaged), 0o644); err != nil {
				t.Fatal(err)
			}
		}, second + " has CRC-32C "},
		{"truncated", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, second), []byte(content[:len(content)-3]), 0o644); err != nil {
				t.Fatal(err)
			}
		}, fmt.Sprintf("%s has %d bytes, predictions.json says %d", second, len(content)-3, len(content))},
		{"missing file", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, second)); err != nil {
				t.Fatal(err)
			}
		}, second + " is listed in predictions.json but missing"},
		{"record count", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *predictionsManifest) { m.Files[1].Records = 3 })
		}, second + " has 2 lines, predictions.json says 3 records"},
		{"shard listed twice", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *predictionsManifest) { m.Files[1] = m.Files[0] })
		}, "lists predictions-00000-of-00002 twice"},
		{"shards of two outputs", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *predictionsManifest) {
				m.Files[1].Path = filepath.Join(dir, "predictions-00001-of-00003")
			})
		}, "lists files of 2 and of 3 shards"},
		{"shard beyond the count", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *predictionsManifest) {
				m.Files[1].Path = filepath.Join(dir, "predictions-00002-of-00002")
			})
		}, `predictions-00002-of-00002", not a predictions-SSSSS-of-NNNNN file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePredictionOutput(t, content, content)
			tc.damage(t, dir)
			_, err := evalPredictions(context.Background(), dir, 0.5)
			if !errors.Is(err, errDamagedPredictions) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a damage error with %q", err, tc.want)
			}
		})
	}
}

func TestEvalNotShardName(t *testing.T) {
	dir := writePredictionOutput(t, predRow("a", 1, "1", 1))
	data := fmt.Sprintf(`{"files":[{"path":%q,"records":1,"bytes":1,"crc32c":0}]}`, filepath.Join(dir, "weights-00000-of-00001"))
	if err := os.WriteFile(filepath.Join(dir, predictionsManifestName), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := evalPredictions(context.Background(), dir, 0.5)
	if err == nil || !strings.Contains(err.Error(), "not a predictions-SSSSS-of-NNNNN file") {
		t.Errorf("got %v", err)
	}
}

func TestEvalIncomplete(t *testing.T) {
	ctx := context.Background()
	// Shards without predictions.json: an unfinished run.
	dir := writePredictionOutput(t, predRow("a", 1, "1", 1))
	if err := os.Remove(filepath.Join(dir, predictionsManifestName)); err != nil {
		t.Fatal(err)
	}
	_, err := evalPredictions(ctx, dir, 0.5)
	if !errors.Is(err, errIncompletePredictions) || !strings.Contains(err.Error(), "not a complete prediction output: it has no predictions.json") {
		t.Errorf("no predictions.json: got %v", err)
	}
	// No directory at all.
	_, err = evalPredictions(ctx, filepath.Join(t.TempDir(), "nope"), 0.5)
	if !errors.Is(err, errIncompletePredictions) || !strings.Contains(err.Error(), "does not exist or is empty") {
		t.Errorf("no directory: got %v", err)
	}
	// A predictions.json that is not JSON (say, cut short).
	dir = writePredictionOutput(t, predRow("a", 1, "1", 1))
	if err := os.WriteFile(filepath.Join(dir, predictionsManifestName), []byte(`{"files":[`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := evalPredictions(ctx, dir, 0.5); !errors.Is(err, errIncompletePredictions) {
		t.Errorf("bad predictions.json: got %v", err)
	}
}

// TestEvalAbsentShard reads an output whose writer made no file for an
// empty shard: predictions.json lists shards 0 and 2 of 3.
func TestEvalAbsentShard(t *testing.T) {
	dir := fiveLabelled(t)
	for i := range 2 {
		from := filepath.Join(dir, fmt.Sprintf("predictions-%05d-of-00002", i))
		if err := os.Rename(from, filepath.Join(dir, fmt.Sprintf("predictions-%05d-of-00003", 2*i))); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, predictionsManifestName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("-00000-of-00002"), []byte("-00000-of-00003"))
	data = bytes.ReplaceAll(data, []byte("-00001-of-00002"), []byte("-00002-of-00003"))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := evalPredictions(context.Background(), dir, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if rep.N != 5 || rep.Files != 2 {
		t.Errorf("N %d files %d, want 5 and 2", rep.N, rep.Files)
	}
}

// TestEvalMovedOutput reads an output whose predictions.json names the
// files where they were first written: eval finds them by base name.
func TestEvalMovedOutput(t *testing.T) {
	dir := fiveLabelled(t)
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	rep, err := evalPredictions(context.Background(), moved+"/", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if rep.N != 5 || rep.Predictions != moved {
		t.Errorf("N %d predictions %q", rep.N, rep.Predictions)
	}
}

func TestEvalFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--predictions is required"},
		{[]string{"--predictions", "x", "--threshold", "1.5"}, "--threshold must be in [0, 1]"},
		{[]string{"--predictions", "x", "--threshold", "NaN"}, "--threshold must be in [0, 1]"},
		{[]string{"--predictions", "x", "--class-weight", "3=1"}, "--class-weight: "},
	} {
		fs := flag.NewFlagSet("eval", flag.ContinueOnError)
		run := evalSetup(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := run(); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want usage error %q", tc.args, err, tc.want)
		}
	}
}

// TestEvalReadsPredictWritersUnlabelledRows pins the contract between the
// writer of predictions (pipeline.AppendPrediction) and eval: a sample
// read without a label (model.NoLabel) is a row with an empty label,
// counted as unlabelled and left out of the metrics.
func TestEvalReadsPredictWritersUnlabelledRows(t *testing.T) {
	var rows []byte
	labels := []float64{1, model.NoLabel, 0, model.NoLabel, 1, 0}
	margins := []float64{1.5, 0.25, -2, 3, -0.5, 0.5}
	for i := range labels {
		rows = pipeline.AppendPrediction(rows, "in.txt", int64(i+1), labels[i], margins[i])
	}
	if !bytes.Contains(rows, []byte("in.txt\t2\t\t0.25\t")) {
		t.Fatalf("no empty label column in %q", rows)
	}
	rep, err := evalPredictions(context.Background(), writePredictionOutput(t, string(rows)), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want, err := model.EvaluateMargins([]float64{1, 0, 1, 0}, []float64{1.5, -2, -0.5, 0.5}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 6 || rep.Unlabelled != 2 || rep.N != 4 || rep.Accuracy != want.Accuracy || rep.LogLoss != want.LogLoss ||
		rep.Confusion != (confusionReport{TP: want.Confusion.TP, FN: want.Confusion.FN, FP: want.Confusion.FP, TN: want.Confusion.TN}) {
		t.Errorf("report %+v; want 6 rows, 2 unlabelled, metrics %+v", rep, want)
	}
	var out bytes.Buffer
	if err := writeEvalTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "unlabelled:   2 of 6 rows have no label and are not evaluated") {
		t.Errorf("the table does not say what was left out:\n%s", out.String())
	}
}

// TestEvalWeighsSampleWeights: predictions with a weight column (predict
// --sample-weights) are evaluated as if each row were written as many
// times as its weight, and --class-weight multiplies a class's weights
// as train's does for --test. A weight that is not a number > 0 is a
// damaged line.
func TestEvalWeighsSampleWeights(t *testing.T) {
	labels := []float64{1, 0, 1, 0, 1, 0, 1}
	margins := []float64{2, -1, 0.5, 1, -0.5, 0.25, -3}
	weights := []float64{3, 1, 2, 4, 1, 2, 1}
	var weighted, repeated []byte
	line := int64(0)
	for i := range labels {
		weighted = pipeline.AppendSampleWeight(pipeline.AppendPrediction(weighted, "in.txt", int64(i+1), labels[i], margins[i]), weights[i])
		for range int(weights[i]) {
			line++
			repeated = pipeline.AppendPrediction(repeated, "in.txt", line, labels[i], margins[i])
		}
	}
	ctx := context.Background()
	got, err := evalPredictions(ctx, writePredictionsDir(t, true, string(weighted)), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want, err := evalPredictions(ctx, writePredictionOutput(t, string(repeated)), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 7 || got.Weight != 14 {
		t.Errorf("N %d, weight %v; want 7 rows weighing 14", got.N, got.Weight)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= evalTol*math.Max(1, math.Abs(b)) }
	if !near(got.Accuracy, want.Accuracy) || !near(got.LogLoss, want.LogLoss) || !near(*got.AUC, *want.AUC) ||
		!near(got.Class1.F1, want.Class1.F1) || !near(got.Class0.Precision, want.Class0.Precision) || !near(got.MacroAvg.Recall, want.MacroAvg.Recall) {
		t.Errorf("weighted %+v\nwant the repeated rows' %+v", got, want)
	}
	var table bytes.Buffer
	if err := writeEvalTable(&table, got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "the metrics count each row's weight, 14 in all") {
		t.Errorf("the table does not say it is weighted:\n%s", table.String())
	}

	// --class-weight 1=2 on the weighted rows: each class-1 row weighs
	// twice its own weight, as model.Evaluator counts it.
	cw := [2]float64{1, 2}
	got, err = evalPredictionsWith(ctx, writePredictionsDir(t, true, string(weighted)), 0.5, cw, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := model.NewEvaluator(0.5, model.EvalAUCBins)
	if err != nil {
		t.Fatal(err)
	}
	for i := range labels {
		if err := ev.AddWeighted(labels[i], margins[i], model.SampleWeight(weights[i], labels[i], cw)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := ev.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if got.Weight != m.Weight || got.Accuracy != m.Accuracy || got.LogLoss != m.LogLoss || *got.AUC != m.AUC || got.Class1.Recall != m.Positive.Recall {
		t.Errorf("class-weighted %+v\nwant %+v", got, m)
	}

	for _, bad := range []string{"0", "-1", "NaN", "x"} {
		row := strings.Replace(string(pipeline.AppendSampleWeight(pipeline.AppendPrediction(nil, "in.txt", 1, 1, 0.5), 7)), "\t7\n", "\t"+bad+"\n", 1)
		_, err := evalPredictions(ctx, writePredictionsDir(t, true, row), 0.5)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("weight %q is not a finite number > 0", bad)) {
			t.Errorf("weight %q: got %v", bad, err)
		}
	}
	// A weight column the manifest does not announce is a damaged line.
	if _, err := evalPredictions(ctx, writePredictionOutput(t, string(weighted)), 0.5); err == nil || !strings.Contains(err.Error(), "want 5 tab-separated fields") {
		t.Errorf("unannounced weight column: got %v", err)
	}
}

// tenClassRows is a multiclass output (K = 3) of nine labelled rows and one
// without a label; classEvalWant is what scikit-learn 1.2.1's metrics
// (accuracy_score, log_loss, precision_recall_fscore_support,
// confusion_matrix) give for its labelled rows.
const tenClassRows = "a.txt\t1\t0\t0\t0.7\t0.2\t0.1\n" +
	"a.txt\t2\t0\t1\t0.3\t0.6\t0.1\n" +
	"a.txt\t3\t1\t1\t0.1\t0.8\t0.1\n" +
	"a.txt\t4\t2\t2\t0.2\t0.2\t0.6\n" +
	"a.txt\t5\t2\t0\t0.5\t0.25\t0.25\n" +
	"a.txt\t6\t1\t2\t0.05\t0.45\t0.5\n" +
	"a.txt\t7\t\t0\t0.9\t0.05\t0.05\n" +
	"a.txt\t8\t0\t0\t1\t0\t0\n" +
	"a.txt\t9\t1\t1\t0.2\t0.7\t0.1\n" +
	"a.txt\t10\t2\t1\t0.1\t0.6\t0.3\n"

var classEvalWant = multiclassReport{
	Rows: 10, Unlabelled: 1, N: 9, Classes: 3,
	Accuracy: 0.5555555555555556, LogLoss: 0.6711185254385779,
	PerClass: []classReport{
		{0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 3},
		{0.5, 0.6666666666666666, 0.5714285714285715, 3},
		{0.5, 0.3333333333333333, 0.4, 3},
	},
	MacroAvg:  macroReport{0.5555555555555555, 0.5555555555555555, 0.546031746031746},
	MicroAvg:  macroReport{0.5555555555555556, 0.5555555555555556, 0.5555555555555556},
	Confusion: [][]int64{{2, 1, 0}, {0, 2, 1}, {1, 1, 1}},
}

// writeClassPredictionsDir is writePredictionOutput for a multiclass
// model's predictions of 3 classes.
func writeClassPredictionsDir(t *testing.T, shards ...string) string {
	t.Helper()
	dir := writePredictionOutput(t, shards...)
	path := filepath.Join(dir, predictionsManifestName)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var man predictionsManifest
	require.NoError(t, json.Unmarshal(data, &man))
	man.Classes = 3
	data, err = json.Marshal(man)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return dir
}

// TestEvalMulticlass: eval's metrics of a multiclass model's predictions
// are scikit-learn's, in the table and the JSON; malformed lines and the
// two-class flags are refused.
func TestEvalMulticlass(t *testing.T) {
	lines := strings.SplitAfter(tenClassRows, "\n")
	dir := writeClassPredictionsDir(t, strings.Join(lines[:5], ""), strings.Join(lines[5:], ""))
	rep, err := evalPredictions(context.Background(), dir, 0.5)
	require.NoError(t, err)
	got := *rep.Multiclass
	require.Equal(t, 2, got.Files)
	got.Predictions, got.Model, got.Inputs, got.Files = "", "", nil, 0
	const tol = 1e-15
	require.InDelta(t, classEvalWant.Accuracy, got.Accuracy, tol)
	require.InDelta(t, classEvalWant.LogLoss, got.LogLoss, tol)
	for k, c := range classEvalWant.PerClass {
		g := got.PerClass[k]
		require.InDeltaSlice(t, []float64{c.Precision, c.Recall, c.F1}, []float64{g.Precision, g.Recall, g.F1}, tol, "class %d", k)
		require.Equal(t, c.Support, g.Support)
	}
	require.InDeltaSlice(t, []float64{classEvalWant.MacroAvg.Precision, classEvalWant.MacroAvg.Recall, classEvalWant.MacroAvg.F1},
		[]float64{got.MacroAvg.Precision, got.MacroAvg.Recall, got.MacroAvg.F1}, tol)
	require.InDeltaSlice(t, []float64{classEvalWant.MicroAvg.Precision, classEvalWant.MicroAvg.Recall, classEvalWant.MicroAvg.F1},
		[]float64{got.MicroAvg.Precision, got.MicroAvg.Recall, got.MicroAvg.F1}, tol)
	require.Equal(t, classEvalWant.Confusion, got.Confusion)
	require.Equal(t, classEvalWant.N, got.N)
	require.Equal(t, classEvalWant.Unlabelled, got.Unlabelled)

	var table, js strings.Builder
	require.NoError(t, writeEvalTable(&table, rep))
	for _, want := range []string{"classes   3", "accuracy  0.5556", "log-loss  0.671119", "predicted 2", "true 2"} {
		require.Contains(t, table.String(), want)
	}
	require.NoError(t, writeEvalJSON(&js, rep))
	require.Contains(t, js.String(), `"per_class": [`)
	require.Contains(t, js.String(), `"confusion": [`)

	for line, msg := range map[string]string{
		"a.txt\t1\t0\t0\t0.7\t0.2\n":       "want 7 tab-separated fields",
		"a.txt\t1\t3\t0\t0.7\t0.2\t0.1\n":  `label "3" is not a class 0 to 2`,
		"a.txt\t1\t0\t1\t0.7\t0.2\t0.1\n":  "class 1 is not the most probable",
		"a.txt\t1\t0\t0\t0.7\t0.2\t0.2\n":  "the probabilities sum to",
		"a.txt\t1\t0\t0\t0.7\t-0.2\t0.5\n": `probability "-0.2" of class 1`,
		"a.txt\t1\t0\t00\t0.7\t0.2\t0.1\n": `predicted class "00"`,
	} {
		_, err := evalPredictions(context.Background(), writeClassPredictionsDir(t, line), 0.5)
		require.ErrorContains(t, err, msg, line)
		require.ErrorContains(t, err, ":1: ", line)
	}
	_, err = evalPredictionsWith(context.Background(), dir, 0.5, [2]float64{1, 2}, nil)
	require.ErrorContains(t, err, "--curves and --class-weight are for two classes")
}
