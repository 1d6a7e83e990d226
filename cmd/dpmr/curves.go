package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dpmr/dpmr/internal/chart"
	"github.com/dpmr/dpmr/model"
)

// curveBins is how many score intervals eval --curves counts the
// predictions in as it reads them (model.ScoreHistogram, 48 bytes each):
// fine enough that merging them down to maxCurvePoints loses little.
const curveBins = 1 << 14

// maxCurvePoints bounds the thresholds eval --curves writes: each curve
// has at most this many points besides its start.
const maxCurvePoints = 1000

// The files eval --curves writes; nothing else in the directory is
// written or removed.
const (
	rocFileName        = "roc.csv"
	prFileName         = "pr.csv"
	thresholdsFileName = "thresholds.csv"
	curvesChartName    = "curves.svg"
)

// curvesFiles lists them for the help and the summary.
const curvesFiles = rocFileName + ", " + prFileName + ", " + thresholdsFileName + ", " + curvesChartName

// checkCurvesDir refuses, before any work, a --curves directory that
// cannot be one; a missing one is created when the curves are written.
func checkCurvesDir(dir string) error {
	if strings.Contains(dir, "://") {
		return usageError("--curves must be a local directory, not %s", dir)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("--curves %s is a file, not a directory", dir)
	}
	return nil
}

// thresholdPoint is one cut as rates: predicting 1 for the probabilities
// at least Threshold gives these.
type thresholdPoint struct {
	Threshold, FPR, Recall, Precision, F1 float64
}

// thresholdPoints turns the histogram's cuts, by decreasing threshold,
// into rates. Every cut predicts at least one sample 1, so precision is
// always defined; F1 is 0 where precision and recall are.
func thresholdPoints(cuts []model.Cut, pos, neg int64) []thresholdPoint {
	pts := make([]thresholdPoint, len(cuts))
	for i, c := range cuts {
		p := thresholdPoint{
			Threshold: c.Threshold,
			FPR:       float64(c.FP) / float64(neg),
			Recall:    float64(c.TP) / float64(pos),
			Precision: float64(c.TP) / float64(c.TP+c.FP),
		}
		if p.Precision+p.Recall > 0 {
			p.F1 = 2 * p.Precision * p.Recall / (p.Precision + p.Recall)
		}
		pts[i] = p
	}
	return pts
}

// writeCurves writes the curves of the predictions hist counted into dir,
// creating it if need be. Each file is CSV with a header line, one row per
// threshold from the highest down, a threshold being a probability:
// predict 1 when p >= threshold, as eval --threshold does, so each row's
// counts are what eval reports at that threshold. roc.csv starts at
// (0, 0) with threshold inf (nothing predicted 1); pr.csv starts at recall
// 0 with the first row's precision, as Spark's
// BinaryClassificationMetrics.pr does. Both end where every sample is
// predicted 1, at the least probability.
func writeCurves(dir string, hist *model.ScoreHistogram, rep evalReport) error {
	pos, neg := hist.Positives(), hist.Negatives()
	if pos == 0 || neg == 0 || rep.AUC == nil {
		return fmt.Errorf("--curves: %s has %d labelled predictions of class 1 and %d of class 0; the curves need both classes",
			rep.Predictions, pos, neg)
	}
	pts := thresholdPoints(hist.Cuts(maxCurvePoints), pos, neg)
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	var roc, pr, sweep bytes.Buffer
	roc.WriteString("fpr,tpr,threshold\n0,0,inf\n")
	fmt.Fprintf(&pr, "recall,precision,threshold\n0,%s,inf\n", g(pts[0].Precision))
	sweep.WriteString("threshold,precision,recall,f1\n")
	for _, p := range pts {
		fmt.Fprintf(&roc, "%s,%s,%s\n", g(p.FPR), g(p.Recall), g(p.Threshold))
		fmt.Fprintf(&pr, "%s,%s,%s\n", g(p.Recall), g(p.Precision), g(p.Threshold))
		fmt.Fprintf(&sweep, "%s,%s,%s,%s\n", g(p.Threshold), g(p.Precision), g(p.Recall), g(p.F1))
	}
	var svg bytes.Buffer
	if err := chart.Write(&svg, curvesChart(pts, pos, neg, *rep.AUC)); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--curves %s cannot be created: %v", dir, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{rocFileName, roc.Bytes()}, {prFileName, pr.Bytes()}, {thresholdsFileName, sweep.Bytes()}, {curvesChartName, svg.Bytes()}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("--curves: %v", err)
		}
	}
	return nil
}

// curvesChart draws the ROC curve over the precision-recall curve, each
// with what a classifier that guesses would draw.
func curvesChart(pts []thresholdPoint, pos, neg int64, auc float64) chart.Chart {
	roc := chart.Series{Name: fmt.Sprintf("ROC (AUC %.4f)", auc), Points: []chart.Point{{X: 0, Y: 0}}}
	pr := chart.Series{Name: "precision-recall", Points: []chart.Point{{X: 0, Y: pts[0].Precision}}}
	for _, p := range pts {
		roc.Points = append(roc.Points, chart.Point{X: p.FPR, Y: p.Recall})
		pr.Points = append(pr.Points, chart.Point{X: p.Recall, Y: p.Precision})
	}
	rate := float64(pos) / float64(pos+neg)
	return chart.Chart{
		Title:  fmt.Sprintf("ROC and precision-recall curves of %d predictions", pos+neg),
		XLabel: "recall",
		Width:  720, Height: 900,
		Panels: []chart.Panel{
			{YLabel: "true positive rate (recall)", XLabel: "false positive rate", Series: []chart.Series{
				roc, {Name: "chance", Points: []chart.Point{{X: 0, Y: 0}, {X: 1, Y: 1}}}}},
			{YLabel: "precision", Series: []chart.Series{
				pr, {Name: fmt.Sprintf("chance (positives %.4f)", rate), Points: []chart.Point{{X: 0, Y: rate}, {X: 1, Y: rate}}}}},
		},
	}
}
