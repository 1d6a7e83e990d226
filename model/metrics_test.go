package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/dpmr/dpmr/model"
)

// metricsTol absorbs the rounding of hand-computed logarithms and ratios.
const metricsTol = 1e-9

// diffMetrics lists the fields of got that differ from want, floats within
// metricsTol, and any float field that is not finite.
func diffMetrics(got, want model.Metrics) []string {
	var diffs []string
	var walk func(path string, g, w reflect.Value)
	walk = func(path string, g, w reflect.Value) {
		switch g.Kind() {
		case reflect.Struct:
			for i := 0; i < g.NumField(); i++ {
				walk(path+"."+g.Type().Field(i).Name, g.Field(i), w.Field(i))
			}
		case reflect.Float64:
			gf, wf := g.Float(), w.Float()
			if math.IsNaN(gf) || math.IsInf(gf, 0) || math.Abs(gf-wf) > metricsTol {
				diffs = append(diffs, fmt.Sprintf("%s = %.17g; want %.17g", path, gf, wf))
			}
		default:
			if !g.Equal(w) {
				diffs = append(diffs, fmt.Sprintf("%s = %v; want %v", path, g, w))
			}
		}
	}
	walk("Metrics", reflect.ValueOf(got), reflect.ValueOf(want))
	return diffs
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name      string
		labels    []float64
		probs     []float64
		threshold float64
		want      model.Metrics
	}{
		{
			// Predictions 1 0 1 0: one of each confusion cell.
			// LogLoss = -(ln .9 + ln .4 + ln .4 + ln .9)/4 = 0.5108256237659907.
			// AUC: positive .9 beats both negatives, .4 beats .1 only: 3/4.
			name:   "one of each cell",
			labels: []float64{1, 1, 0, 0}, probs: []float64{.9, .4, .6, .1}, threshold: .5,
			want: model.Metrics{
				N: 4, Threshold: .5, Accuracy: .5, LogLoss: 0.5108256237659907,
				AUC: .75, AUCDefined: true,
				Positive:       model.ClassMetrics{Precision: .5, Recall: .5, F1: .5, Support: 2},
				Negative:       model.ClassMetrics{Precision: .5, Recall: .5, F1: .5, Support: 2},
				MacroPrecision: .5, MacroRecall: .5, MacroF1: .5,
				Confusion: model.Confusion{TP: 1, FP: 1, TN: 1, FN: 1},
			},
		},
		{
			// p = threshold predicts 1, so the predictions are 1 1 1 0 0:
			// TP 2 (.5, .8), FP 1 (.5), TN 1 (.2), FN 1 (.2).
			// Positive P = R = F1 = 2/3; negative P = 1/(1+1), R = 1/(1+1).
			// Macro = (2/3 + 1/2)/2 = 7/12.
			// LogLoss = -(ln .5 + ln .5 + ln .8 + ln .8 + ln .2)/5 = 0.6884038750664919.
			// AUC with ties: positives .5 (tie .5, beat .2: 1.5), .8 (2),
			// .2 (tie .2: .5) make 4 of 3*2 pairs: 2/3.
			name:   "ties at the threshold and in the ranking",
			labels: []float64{1, 0, 1, 0, 1}, probs: []float64{.5, .5, .8, .2, .2}, threshold: .5,
			want: model.Metrics{
				N: 5, Threshold: .5, Accuracy: .6, LogLoss: 0.6884038750664919,
				AUC: 2. / 3, AUCDefined: true,
				Positive:       model.ClassMetrics{Precision: 2. / 3, Recall: 2. / 3, F1: 2. / 3, Support: 3},
				Negative:       model.ClassMetrics{Precision: .5, Recall: .5, F1: .5, Support: 2},
				MacroPrecision: 7. / 12, MacroRecall: 7. / 12, MacroF1: 7. / 12,
				Confusion: model.Confusion{TP: 2, FP: 1, TN: 1, FN: 1},
			},
		},
		{
			// Only positives: AUC undefined. TP 2, FN 1.
			// Positive P = 1, R = 2/3, F1 = 2(2/3)/(5/3) = .8.
			// Negative: predicted once (the FN) but never right, P = 0/1;
			// no support, R = 0/0 = 0; F1 0. Macro P .5, R 1/3, F1 .4.
			// LogLoss = -(ln .9 + ln .6 + ln .3)/3 = 0.6067196479165843.
			name:   "single class",
			labels: []float64{1, 1, 1}, probs: []float64{.9, .6, .3}, threshold: .5,
			want: model.Metrics{
				N: 3, Threshold: .5, Accuracy: 2. / 3, LogLoss: 0.6067196479165843,
				AUC: 0, AUCDefined: false,
				Positive:       model.ClassMetrics{Precision: 1, Recall: 2. / 3, F1: .8, Support: 3},
				Negative:       model.ClassMetrics{Precision: 0, Recall: 0, F1: 0, Support: 0},
				MacroPrecision: .5, MacroRecall: 1. / 3, MacroF1: .4,
				Confusion: model.Confusion{TP: 2, FN: 1},
			},
		},
		{
			// All predicted 0. Positive never predicted: P = 0 by
			// convention, R = 0/2, F1 0. Negative P = 2/4, R = 2/2,
			// F1 = 2(.5)(1)/1.5 = 2/3. Macro P .25, R .5, F1 1/3.
			// AUC: positive .1 beats nothing, .4 beats .2 and .3: 2/4.
			// LogLoss = -(ln .1 + ln .8 + ln .7 + ln .4)/4 = 0.9496735799336766.
			name:   "all predicted 0",
			labels: []float64{1, 0, 0, 1}, probs: []float64{.1, .2, .3, .4}, threshold: .5,
			want: model.Metrics{
				N: 4, Threshold: .5, Accuracy: .5, LogLoss: 0.9496735799336766,
				AUC: .5, AUCDefined: true,
				Positive:       model.ClassMetrics{Precision: 0, Recall: 0, F1: 0, Support: 2},
				Negative:       model.ClassMetrics{Precision: .5, Recall: 1, F1: 2. / 3, Support: 2},
				MacroPrecision: .25, MacroRecall: .5, MacroF1: 1. / 3,
				Confusion: model.Confusion{TN: 2, FN: 2},
			},
		},
		{
			// Threshold 0 predicts everything 1: TP 1, FP 1. Negative never
			// predicted: P 0, R 0/1, F1 0. Positive P .5, R 1, F1 2/3.
			// AUC: the positive .3 is below the negative .7: 0.
			// LogLoss = -(ln .3 + ln .3)/2 = 1.2039728043259361.
			name:   "all predicted 1",
			labels: []float64{1, 0}, probs: []float64{.3, .7}, threshold: 0,
			want: model.Metrics{
				N: 2, Threshold: 0, Accuracy: .5, LogLoss: 1.2039728043259361,
				AUC: 0, AUCDefined: true,
				Positive:       model.ClassMetrics{Precision: .5, Recall: 1, F1: 2. / 3, Support: 1},
				Negative:       model.ClassMetrics{Precision: 0, Recall: 0, F1: 0, Support: 1},
				MacroPrecision: .25, MacroRecall: .5, MacroF1: 1. / 3,
				Confusion: model.Confusion{TP: 1, FP: 1},
			},
		},
		{
			// Certain and right: no loss at all.
			name:   "perfect with certain probabilities",
			labels: []float64{0, 1}, probs: []float64{0, 1}, threshold: .5,
			want: model.Metrics{
				N: 2, Threshold: .5, Accuracy: 1, LogLoss: 0,
				AUC: 1, AUCDefined: true,
				Positive:       model.ClassMetrics{Precision: 1, Recall: 1, F1: 1, Support: 1},
				Negative:       model.ClassMetrics{Precision: 1, Recall: 1, F1: 1, Support: 1},
				MacroPrecision: 1, MacroRecall: 1, MacroF1: 1,
				Confusion: model.Confusion{TP: 1, TN: 1},
			},
		},
		{
			// Certain and wrong: each loss capped at -ln(1e-15) =
			// 15 ln 10 = 34.538776394910684, not +Inf.
			name:   "certainly wrong is finite",
			labels: []float64{0, 1}, probs: []float64{1, 0}, threshold: .5,
			want: model.Metrics{
				N: 2, Threshold: .5, Accuracy: 0, LogLoss: 34.538776394910684,
				AUC: 0, AUCDefined: true,
				Confusion: model.Confusion{FP: 1, FN: 1},
				Positive:  model.ClassMetrics{Support: 1},
				Negative:  model.ClassMetrics{Support: 1},
			},
		},
		{
			// One sample, class 0, predicted 0 at p = .25.
			// LogLoss = -ln .75 = 0.2876820724517809.
			name:   "one sample",
			labels: []float64{0}, probs: []float64{.25}, threshold: .5,
			want: model.Metrics{
				N: 1, Threshold: .5, Accuracy: 1, LogLoss: 0.2876820724517809,
				Negative:       model.ClassMetrics{Precision: 1, Recall: 1, F1: 1, Support: 1},
				MacroPrecision: .5, MacroRecall: .5, MacroF1: .5,
				Confusion: model.Confusion{TN: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := model.Evaluate(tt.labels, tt.probs, tt.threshold)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffMetrics(got, tt.want) {
				t.Error(d)
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name      string
		margins   bool
		labels    []float64
		scores    []float64
		threshold float64
		want      string
	}{
		{"empty", false, nil, nil, .5, "no samples to evaluate"},
		{"empty margins", true, []float64{}, []float64{}, .5, "no samples to evaluate"},
		{"length mismatch", false, []float64{1, 0}, []float64{.5}, .5, "2 labels but 1 probabilities"},
		{"length mismatch margins", true, []float64{1}, []float64{1, 2}, .5, "1 labels but 2 margins"},
		{"label 2", false, []float64{1, 2}, []float64{.5, .5}, .5, "label 2 at index 1 is not 0 or 1"},
		{"label -1", false, []float64{-1}, []float64{.5}, .5, "label -1 at index 0 is not 0 or 1"},
		{"label NaN", true, []float64{nan}, []float64{0}, .5, "label NaN at index 0 is not 0 or 1"},
		{"probability above 1", false, []float64{1, 0}, []float64{.5, 1.5}, .5, "probability 1.5 at index 1 is not in [0, 1]"},
		{"negative probability", false, []float64{1}, []float64{-0.1}, .5, "probability -0.1 at index 0 is not in [0, 1]"},
		{"NaN probability", false, []float64{1}, []float64{nan}, .5, "probability NaN at index 0 is not in [0, 1]"},
		{"NaN threshold", false, []float64{1}, []float64{.5}, nan, "threshold is NaN"},
		{"NaN threshold margins", true, []float64{1}, []float64{.5}, nan, "threshold is NaN"},
		{"infinite margin", true, []float64{1, 0}, []float64{0, inf}, .5, "margin +Inf at index 1 is not finite"},
		{"NaN margin", true, []float64{1}, []float64{nan}, .5, "margin NaN at index 0 is not finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evaluate := model.Evaluate
			if tt.margins {
				evaluate = model.EvaluateMargins
			}
			m, err := evaluate(tt.labels, tt.scores, tt.threshold)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v; want %q", err, tt.want)
			}
			if m != (model.Metrics{}) {
				t.Errorf("metrics %+v returned with an error", m)
			}
		})
	}
}

func TestEvaluateMargins(t *testing.T) {
	tests := []struct {
		name      string
		labels    []float64
		margins   []float64
		threshold float64
		want      model.Metrics
	}{
		{
			// Sigmoid(40) and Sigmoid(50) both round to 1: only the
			// margins rank the positive above the negative (AUC 1, where
			// probabilities tie at .5), and only they give the exact loss
			// Loss(50, 1) + Loss(40, 0) = ~2e-22 + 40 + ~4e-18, mean 20.
			name:   "saturated margins",
			labels: []float64{1, 0}, margins: []float64{50, 40}, threshold: .5,
			want: model.Metrics{
				N: 2, Threshold: .5, Accuracy: .5, LogLoss: 20,
				AUC: 1, AUCDefined: true,
				Positive:       model.ClassMetrics{Precision: .5, Recall: 1, F1: 2. / 3, Support: 1},
				Negative:       model.ClassMetrics{Precision: 0, Recall: 0, F1: 0, Support: 1},
				MacroPrecision: .25, MacroRecall: .5, MacroF1: 1. / 3,
				Confusion: model.Confusion{TP: 1, FP: 1},
			},
		},
		{
			// A margin of -800 would overflow exp; Loss(-800, 1) = 800.
			// Zero margins are p = .5, predicted 1: Loss(0, 0) = ln 2.
			// LogLoss = (800 + ln 2)/2 = 400.34657359027997.
			// AUC: the positive -800 is below the negative 0.
			name:   "huge margin",
			labels: []float64{1, 0}, margins: []float64{-800, 0}, threshold: .5,
			want: model.Metrics{
				N: 2, Threshold: .5, Accuracy: 0, LogLoss: 400.34657359027997,
				AUC: 0, AUCDefined: true,
				Positive:  model.ClassMetrics{Support: 1},
				Negative:  model.ClassMetrics{Support: 1},
				Confusion: model.Confusion{FP: 1, FN: 1},
			},
		},
		{
			// -0 and +0 tie: AUC 1/2.
			name:   "signed zeros tie",
			labels: []float64{1, 0}, margins: []float64{math.Copysign(0, -1), 0}, threshold: .5,
			want: model.Metrics{
				N: 2, Threshold: .5, Accuracy: .5, LogLoss: math.Ln2,
				AUC: .5, AUCDefined: true,
				Positive:       model.ClassMetrics{Precision: .5, Recall: 1, F1: 2. / 3, Support: 1},
				Negative:       model.ClassMetrics{Support: 1},
				MacroPrecision: .25, MacroRecall: .5, MacroF1: 1. / 3,
				Confusion: model.Confusion{TP: 1, FP: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := model.EvaluateMargins(tt.labels, tt.margins, tt.threshold)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffMetrics(got, tt.want) {
				t.Error(d)
			}
		})
	}
}

// TestEvaluateMarginsAgrees checks EvaluateMargins against Evaluate on
// Sigmoid of the same margins, where neither clipping nor saturation
// matters, on random data with many ties.
func TestEvaluateMarginsAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 10, 1000} {
		labels := make([]float64, n)
		margins := make([]float64, n)
		probs := make([]float64, n)
		for i := range labels {
			labels[i] = float64(rng.IntN(2))
			margins[i] = float64(rng.IntN(9)-4) / 2
			probs[i] = model.Sigmoid(margins[i])
		}
		for _, threshold := range []float64{0, .3, .5, model.Sigmoid(1), 1} {
			fromProbs, err1 := model.Evaluate(labels, probs, threshold)
			fromMargins, err2 := model.EvaluateMargins(labels, margins, threshold)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			for _, d := range diffMetrics(fromMargins, fromProbs) {
				t.Errorf("n=%d threshold=%v: %s", n, threshold, d)
			}
		}
	}
}

// TestAUCMatchesPairs checks the rank computation against the definition:
// the share of (positive, negative) pairs ordered right, ties counting 1/2.
func TestAUCMatchesPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{2, 3, 7, 50, 400} {
		for _, levels := range []int{1, 2, 5, 1 << 30} {
			labels := make([]float64, n)
			probs := make([]float64, n)
			for i := range labels {
				labels[i] = float64(rng.IntN(2))
				probs[i] = float64(rng.IntN(levels)) / float64(levels)
			}
			var wins float64
			var pairs int
			for i := range labels {
				for j := range labels {
					if labels[i] != 1 || labels[j] != 0 {
						continue
					}
					pairs++
					switch {
					case probs[i] > probs[j]:
						wins++
					case probs[i] == probs[j]:
						wins += .5
					}
				}
			}
			m, err := model.Evaluate(labels, probs, .5)
			if err != nil {
				t.Fatal(err)
			}
			if m.AUCDefined != (pairs > 0) {
				t.Fatalf("n=%d levels=%d: AUCDefined = %v with %d pairs", n, levels, m.AUCDefined, pairs)
			}
			if pairs > 0 && math.Abs(m.AUC-wins/float64(pairs)) > metricsTol {
				t.Errorf("n=%d levels=%d: AUC = %v; pairs give %v", n, levels, m.AUC, wins/float64(pairs))
			}
		}
	}
}

func TestEvaluateDoesNotReorderInputs(t *testing.T) {
	labels := []float64{1, 0, 1}
	probs := []float64{.9, .1, .5}
	if _, err := model.Evaluate(labels, probs, .5); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(probs, []float64{.9, .1, .5}) || !reflect.DeepEqual(labels, []float64{1, 0, 1}) {
		t.Errorf("inputs changed to %v %v", labels, probs)
	}
}

// evaluatorOf feeds an Evaluator of bins AUC bins.
func evaluatorOf(t *testing.T, bins int, labels, margins []float64, threshold float64) model.Metrics {
	t.Helper()
	e, err := model.NewEvaluator(threshold, bins)
	if err != nil {
		t.Fatal(err)
	}
	for i := range labels {
		if err := e.Add(labels[i], margins[i]); err != nil {
			t.Fatal(err)
		}
	}
	m, err := e.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEvaluatorExact: with no more distinct margins than bins, ties
// included, the Evaluator's metrics are EvaluateMargins' bit for bit.
func TestEvaluatorExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 10, 3000} {
		for _, levels := range []int{3, 1 << 30} {
			labels, margins := make([]float64, n), make([]float64, n)
			for i := range labels {
				labels[i] = float64(rng.IntN(2))
				margins[i] = 8 * (float64(rng.IntN(levels))/float64(levels) - 0.5)
			}
			want, err := model.EvaluateMargins(labels, margins, .4)
			if err != nil {
				t.Fatal(err)
			}
			if got := evaluatorOf(t, max(2, n), labels, margins, .4); got != want {
				t.Errorf("n=%d levels=%d: Evaluator %+v\nEvaluateMargins %+v", n, levels, got, want)
			}
		}
	}
}

// TestEvaluatorBounded: far more distinct margins than bins. Every metric
// but the AUC is still EvaluateMargins' exactly, and the AUC is within
// AUCBound of the exact one, a bound itself near 1/(2*bins).
func TestEvaluatorBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, bins = 200000, 1024
	labels, margins := make([]float64, n), make([]float64, n)
	for i := range labels {
		z := rng.NormFloat64()
		if rng.Float64() < model.Sigmoid(2*z) {
			labels[i] = 1
		}
		margins[i] = 3 * z
	}
	want, err := model.EvaluateMargins(labels, margins, .5)
	if err != nil {
		t.Fatal(err)
	}
	got := evaluatorOf(t, bins, labels, margins, .5)
	t.Logf("AUC %.10f, exact %.10f, bound %.3g", got.AUC, want.AUC, got.AUCBound)
	if !(got.AUCBound > 0) || got.AUCBound > 1.0/bins {
		t.Errorf("AUCBound %.3g, want in (0, %.3g]", got.AUCBound, 1.0/bins)
	}
	if math.Abs(got.AUC-want.AUC) > got.AUCBound {
		t.Errorf("AUC %.17g differs from the exact %.17g by more than the bound %.3g", got.AUC, want.AUC, got.AUCBound)
	}
	got.AUC, got.AUCBound = want.AUC, 0
	if got != want {
		t.Errorf("Evaluator %+v\nEvaluateMargins %+v", got, want)
	}
}

func TestEvaluatorErrors(t *testing.T) {
	if _, err := model.NewEvaluator(math.NaN(), 16); err == nil || err.Error() != "threshold is NaN" {
		t.Errorf("NaN threshold: error %v", err)
	}
	if _, err := model.NewEvaluator(.5, 1); err == nil {
		t.Error("1 bin: no error")
	}
	e, err := model.NewEvaluator(.5, 16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Metrics(); err == nil || err.Error() != "no samples to evaluate" {
		t.Errorf("no samples: error %v", err)
	}
	for _, tt := range []struct {
		label, margin float64
		want          string
	}{
		{2, 0, "label 2 is not 0 or 1"},
		{math.NaN(), 0, "label NaN is not 0 or 1"},
		{1, math.Inf(-1), "margin -Inf is not finite"},
		{0, math.NaN(), "margin NaN is not finite"},
	} {
		if err := e.Add(tt.label, tt.margin); err == nil || err.Error() != tt.want {
			t.Errorf("Add(%v, %v): error %v, want %q", tt.label, tt.margin, err, tt.want)
		}
	}
	if e.N() != 0 {
		t.Errorf("N = %d after refused samples", e.N())
	}
	if err := e.Add(1, 2); err != nil {
		t.Fatal(err)
	}
	m, err := e.Metrics()
	if err != nil || m.N != 1 || m.AUCDefined {
		t.Errorf("one sample: %+v, %v; want N 1 and AUC undefined", m, err)
	}
}
