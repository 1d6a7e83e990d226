package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/internal/chart/charttest"
	"github.com/dpmr/dpmr/model"
)

// readCurve reads a CSV file eval --curves wrote: its header and its rows
// as numbers ("inf" included).
func readCurve(t *testing.T, path string) ([]string, [][]float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rows [][]float64
	for i, rec := range recs[1:] {
		row := make([]float64, len(rec))
		for j, s := range rec {
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatalf("%s row %d: %v", path, i+1, err)
			}
		}
		rows = append(rows, row)
	}
	return recs[0], rows
}

// evalCurves evaluates the output in dir with curves written to out.
func evalCurves(t *testing.T, dir, out string) evalReport {
	t.Helper()
	hist := model.NewScoreHistogram(curveBins)
	rep, err := evalPredictionsWith(context.Background(), dir, 0.5, [2]float64{}, hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCurves(out, hist, rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// trapezoid is the area under the polyline through the rows' (x, y) in
// columns x and y, and half the boxes its segments span: how far the
// exact curve through the same points can be from it.
func trapezoid(rows [][]float64, x, y int) (area, bound float64) {
	for i := 1; i < len(rows); i++ {
		dx := rows[i][x] - rows[i-1][x]
		area += dx * (rows[i][y] + rows[i-1][y]) / 2
		bound += math.Abs(dx*(rows[i][y]-rows[i-1][y])) / 2
	}
	return area, bound
}

// requireRows compares rows with want to evalTol.
func requireRows(t *testing.T, name string, got, want [][]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows %v, want %d %v", name, len(got), got, len(want), want)
	}
	for i := range want {
		for j := range want[i] {
			if g, w := got[i][j], want[i][j]; !(g == w || math.Abs(g-w) <= evalTol) {
				t.Errorf("%s row %d: %v, want %v", name, i+1, got[i], want[i])
				break
			}
		}
	}
}

// TestEvalCurvesHandCase writes the curves of fiveLabelled, computed here
// by hand. By decreasing probability the labelled rows are z = 2 (1),
// 1 (0), 0.5 (1), -0.5 (1), -1 (0): 3 positives, 2 negatives. Predicting
// 1 from each down, (TP, FP) is (1,0) (1,1) (2,1) (3,1) (3,2), so
//
//	fpr, tpr:   (0,1/3) (1/2,1/3) (1/2,2/3) (1/2,1) (1,1), after (0,0)
//	precision:  1, 1/2, 2/3, 3/4, 3/5
//	F1:         1/2, 2/5, 2/3, 6/7, 3/4
//
// and the area is 1/2 * 1/3 + 1/2 * 1 = 2/3, eval's AUC.
func TestEvalCurvesHandCase(t *testing.T) {
	out := filepath.Join(t.TempDir(), "curves")
	rep := evalCurves(t, fiveLabelled(t), out)
	s := model.Sigmoid
	inf := math.Inf(1)

	head, roc := readCurve(t, filepath.Join(out, rocFileName))
	if !slices.Equal(head, []string{"fpr", "tpr", "threshold"}) {
		t.Errorf("roc.csv header %q", head)
	}
	requireRows(t, "roc.csv", roc, [][]float64{
		{0, 0, inf}, {0, 1. / 3, s(2)}, {.5, 1. / 3, s(1)}, {.5, 2. / 3, s(.5)}, {.5, 1, s(-.5)}, {1, 1, s(-1)}})
	if area, _ := trapezoid(roc, 0, 1); math.Abs(area-*rep.AUC) > evalTol || math.Abs(area-2./3) > evalTol {
		t.Errorf("area %v, AUC %v, want 2/3", area, *rep.AUC)
	}

	head, pr := readCurve(t, filepath.Join(out, prFileName))
	if !slices.Equal(head, []string{"recall", "precision", "threshold"}) {
		t.Errorf("pr.csv header %q", head)
	}
	requireRows(t, "pr.csv", pr, [][]float64{
		{0, 1, inf}, {1. / 3, 1, s(2)}, {1. / 3, .5, s(1)}, {2. / 3, 2. / 3, s(.5)}, {1, .75, s(-.5)}, {1, .6, s(-1)}})

	head, sweep := readCurve(t, filepath.Join(out, thresholdsFileName))
	if !slices.Equal(head, []string{"threshold", "precision", "recall", "f1"}) {
		t.Errorf("thresholds.csv header %q", head)
	}
	requireRows(t, "thresholds.csv", sweep, [][]float64{
		{s(2), 1, 1. / 3, .5}, {s(1), .5, 1. / 3, .4}, {s(.5), 2. / 3, 2. / 3, 2. / 3}, {s(-.5), .75, 1, 6. / 7}, {s(-1), .6, 1, .75}})
}

// TestEvalCurvesTies: a tie of a positive and a negative is one threshold,
// and its diagonal counts the pair 1/2, as eval's AUC does. Rows (y, z):
// (1, 1) (0, 0) (1, 0) (0, -1); the ROC runs (0,0) (0,1/2) (1/2,1) (1,1),
// area 3/8 + 1/2 = 7/8.
func TestEvalCurvesTies(t *testing.T) {
	dir := writePredictionOutput(t, predRow("a", 1, "1", 1)+predRow("a", 2, "0", 0)+predRow("a", 3, "1", 0)+predRow("a", 4, "0", -1))
	out := t.TempDir()
	rep := evalCurves(t, dir, out)
	_, roc := readCurve(t, filepath.Join(out, rocFileName))
	requireRows(t, "roc.csv", roc, [][]float64{{0, 0, math.Inf(1)}, {0, .5, model.Sigmoid(1)}, {.5, 1, .5}, {1, 1, model.Sigmoid(-1)}})
	if area, _ := trapezoid(roc, 0, 1); math.Abs(area-7./8) > evalTol || math.Abs(*rep.AUC-7./8) > evalTol {
		t.Errorf("area %v, AUC %v, want 7/8", area, *rep.AUC)
	}
}

// TestEvalCurvesMany evaluates more distinct probabilities than the
// curves have points, and requires: at most maxCurvePoints thresholds,
// decreasing; fpr, tpr and recall never decreasing, from (0,0) to (1,1);
// the ROC area within its segments' boxes of eval's AUC and equal to it
// as printed (4 decimals); pr.csv and thresholds.csv on the same
// thresholds with F1 from their precision and recall; and the rows at a
// few thresholds equal to what eval reports at that --threshold.
func TestEvalCurvesMany(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var shards [2]strings.Builder
	const n = 30000
	for i := range n {
		z := 3 * rng.NormFloat64()
		label := "0"
		if rng.Float64() < model.Sigmoid(z/2) {
			label = "1"
		}
		shards[i%2].WriteString(predRow("in.txt", i+1, label, z))
	}
	dir := writePredictionOutput(t, shards[0].String(), shards[1].String())
	out := filepath.Join(t.TempDir(), "a", "b")
	rep := evalCurves(t, dir, out)

	_, roc := readCurve(t, filepath.Join(out, rocFileName))
	_, pr := readCurve(t, filepath.Join(out, prFileName))
	_, sweep := readCurve(t, filepath.Join(out, thresholdsFileName))
	if len(sweep) > maxCurvePoints || len(sweep) < maxCurvePoints/2 {
		t.Fatalf("%d thresholds, want at most %d and not much fewer", len(sweep), maxCurvePoints)
	}
	if len(roc) != len(sweep)+1 || len(pr) != len(sweep)+1 {
		t.Fatalf("roc.csv %d rows, pr.csv %d, thresholds.csv %d: want one start and one row per threshold", len(roc), len(pr), len(sweep))
	}
	if roc[0][0] != 0 || roc[0][1] != 0 || !math.IsInf(roc[0][2], 1) || roc[len(roc)-1][0] != 1 || roc[len(roc)-1][1] != 1 {
		t.Errorf("ROC from %v to %v, want (0,0,inf) to (1,1)", roc[0], roc[len(roc)-1])
	}
	for i := 1; i < len(roc); i++ {
		if roc[i][0] < roc[i-1][0] || roc[i][1] < roc[i-1][1] || !(roc[i][2] < roc[i-1][2]) {
			t.Fatalf("roc.csv row %d %v after %v", i+1, roc[i], roc[i-1])
		}
		if pr[i][0] != roc[i][1] || pr[i][2] != roc[i][2] || sweep[i-1][0] != roc[i][2] ||
			sweep[i-1][1] != pr[i][1] || sweep[i-1][2] != pr[i][0] {
			t.Fatalf("row %d: roc %v, pr %v, thresholds %v do not agree", i+1, roc[i], pr[i], sweep[i-1])
		}
		p, r, f1 := sweep[i-1][1], sweep[i-1][2], sweep[i-1][3]
		if math.Abs(f1-2*p*r/(p+r)) > evalTol {
			t.Fatalf("thresholds.csv row %d: F1 %v, precision %v recall %v", i, f1, p, r)
		}
	}
	area, bound := trapezoid(roc, 0, 1)
	t.Logf("%d thresholds, area %.10f, AUC %.10f, bound %.3g", len(sweep), area, *rep.AUC, bound)
	if math.Abs(area-*rep.AUC) > bound+evalTol {
		t.Errorf("area %.17g, AUC %.17g: more apart than the bound %.3g", area, *rep.AUC, bound)
	}
	if math.Abs(area-*rep.AUC) >= 5e-5 {
		t.Errorf("area %.6f, AUC %.6f: not equal as eval prints them", area, *rep.AUC)
	}

	for _, i := range []int{0, len(sweep) / 3, len(sweep) - 1} {
		th := sweep[i][0]
		at, err := evalPredictions(context.Background(), dir, th)
		if err != nil {
			t.Fatal(err)
		}
		if at.Class1.Precision != sweep[i][1] || at.Class1.Recall != sweep[i][2] || math.Abs(at.Class1.F1-sweep[i][3]) > evalTol {
			t.Errorf("at threshold %v eval gives class 1 %+v, thresholds.csv %v", th, at.Class1, sweep[i])
		}
	}

	doc := charttest.Parse(t, mustRead(t, filepath.Join(out, curvesChartName)))
	auc := "ROC (AUC " + strconv.FormatFloat(*rep.AUC, 'f', 4, 64) + ")"
	if !slices.Equal(doc.Series[:1], []string{auc}) || !slices.Contains(doc.Series, "precision-recall") {
		t.Errorf("chart series %q", doc.Series)
	}
	if got := pathVertices(doc.Paths[0]); got != len(roc) {
		t.Errorf("the ROC path draws %d points, roc.csv has %d", got, len(roc))
	}
	for _, want := range []string{"false positive rate", "recall", "precision"} {
		if !slices.Contains(doc.Texts, want) {
			t.Errorf("chart has no text %q", want)
		}
	}
}

// TestEvalCurvesDir: the curves go into a directory created if need be,
// replacing only their own files; a file in the way, a remote path and
// predictions of one class are refused with one line.
func TestEvalCurvesDir(t *testing.T) {
	out := t.TempDir()
	mine := map[string]string{"notes.txt": "mine", "roc.csv.old": "mine too", "weights-00000-of-00001": "x"}
	for name, content := range mine {
		if err := os.WriteFile(filepath.Join(out, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, rocFileName), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	evalCurves(t, fiveLabelled(t), out)
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{curvesChartName, "notes.txt", prFileName, rocFileName, "roc.csv.old", thresholdsFileName, "weights-00000-of-00001"}
	if !slices.Equal(names, want) {
		t.Errorf("directory holds %q, want %q", names, want)
	}
	for name, content := range mine {
		if got := string(mustRead(t, filepath.Join(out, name))); got != content {
			t.Errorf("%s now holds %q", name, got)
		}
	}
	if strings.HasPrefix(string(mustRead(t, filepath.Join(out, rocFileName))), "stale") {
		t.Error("roc.csv was not replaced")
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) error {
		fs := flag.NewFlagSet("eval", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		r := evalSetup(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return r()
	}
	// The directory is checked before the predictions are read: these
	// do not exist.
	missing := filepath.Join(t.TempDir(), "none")
	if err := run("--predictions", missing, "--curves", file); err == nil || err.Error() != "--curves "+file+" is a file, not a directory" {
		t.Errorf("a file as --curves: got %v", err)
	}
	if err := run("--predictions", missing, "--curves", "gs://b/c"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--curves must be a local directory") {
		t.Errorf("gs:// --curves: got %v", err)
	}

	oneClass := writePredictionOutput(t, predRow("a", 1, "1", 1)+predRow("a", 2, "1", -1))
	hist := model.NewScoreHistogram(curveBins)
	rep, err := evalPredictionsWith(context.Background(), oneClass, 0.5, [2]float64{}, hist)
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "c")
	err = writeCurves(empty, hist, rep)
	if err == nil || !strings.Contains(err.Error(), "has 2 labelled predictions of class 1 and 0 of class 0; the curves need both classes") {
		t.Errorf("one class: got %v", err)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("one class: %s was created", empty)
	}
}
