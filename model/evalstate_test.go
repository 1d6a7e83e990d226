package model_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dpmr/dpmr/model"
)

// mergedEvaluation counts the samples in parts of random sizes, each in an
// Evaluator of its own that goes through its state (as a combiner's
// accumulator does between workers), and merges the parts in a random
// tree, as a runner's combiner may.
func mergedEvaluation(t *testing.T, rng *rand.Rand, bins int, labels, margins, weights []float64) model.Metrics {
	t.Helper()
	var parts []*model.Evaluator
	for i := 0; i < len(labels); {
		e, err := model.NewEvaluator(.5, bins)
		if err != nil {
			t.Fatal(err)
		}
		for n := 1 + rng.IntN(2000); n > 0 && i < len(labels); n, i = n-1, i+1 {
			if err := e.AddWeighted(labels[i], margins[i], weights[i]); err != nil {
				t.Fatal(err)
			}
		}
		d, err := model.EvaluatorFromState(e.State())
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, d)
	}
	for len(parts) > 1 {
		i := rng.IntN(len(parts) - 1)
		a, b := parts[i], parts[i+1]
		if rng.IntN(2) == 0 {
			a, b = b, a
		}
		if err := a.Merge(b); err != nil {
			t.Fatal(err)
		}
		parts = append(append(parts[:i:i], a), parts[i+2:]...)
	}
	m, err := parts[0].Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEvaluatorMergedInParts: an evaluation counted in parts, encoded and
// merged in any order is the one counted at once. With no more distinct
// margins than bins it is EvaluateMargins' bit for bit, AUC included; with
// far more, every metric but the AUC still is, and the AUC is within its
// bound of the exact one. Weighted samples give the one-pass Evaluator's
// metrics.
func TestEvaluatorMergedInParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 30000
	labels, margins, ones, weights := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range labels {
		z := rng.NormFloat64()
		if rng.Float64() < model.Sigmoid(2*z) {
			labels[i] = 1
		}
		margins[i] = 3 * z
		ones[i] = 1
		weights[i] = float64(1 + rng.IntN(4))
	}
	coarse := make([]float64, n)
	for i, z := range margins {
		coarse[i] = math.Round(z*100) / 100 // fewer distinct margins than 4,096 bins, many ties
	}

	t.Run("distinct margins fit the bins", func(t *testing.T) {
		want, err := model.EvaluateMargins(labels, coarse, .5)
		if err != nil {
			t.Fatal(err)
		}
		for try := range 5 {
			if got := mergedEvaluation(t, rng, 4096, labels, coarse, ones); got != want {
				t.Fatalf("try %d: merged %+v\nEvaluateMargins %+v", try, got, want)
			}
		}
	})
	t.Run("far more distinct margins than bins", func(t *testing.T) {
		want, err := model.EvaluateMargins(labels, margins, .5)
		if err != nil {
			t.Fatal(err)
		}
		for try := range 5 {
			got := mergedEvaluation(t, rng, 256, labels, margins, ones)
			if !(got.AUCBound > 0) || math.Abs(got.AUC-want.AUC) > got.AUCBound {
				t.Fatalf("try %d: AUC %.17g, exact %.17g, bound %.3g", try, got.AUC, want.AUC, got.AUCBound)
			}
			got.AUC, got.AUCBound = want.AUC, 0
			if got != want {
				t.Fatalf("try %d: merged %+v\nEvaluateMargins %+v", try, got, want)
			}
		}
	})
	t.Run("weighted", func(t *testing.T) {
		e, err := model.NewEvaluator(.5, 4096)
		if err != nil {
			t.Fatal(err)
		}
		for i := range labels {
			if err := e.AddWeighted(labels[i], coarse[i], weights[i]); err != nil {
				t.Fatal(err)
			}
		}
		want, err := e.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		got := mergedEvaluation(t, rng, 4096, labels, coarse, weights)
		// The bins' weights are float sums, added in another order.
		if math.Abs(got.AUC-want.AUC) > 1e-12 {
			t.Errorf("AUC %.17g, one pass %.17g", got.AUC, want.AUC)
		}
		got.AUC = want.AUC
		if got != want {
			t.Errorf("merged %+v\none pass %+v", got, want)
		}
	})
}

// TestEvaluatorState: an Evaluator rebuilt from its state has the same
// metrics, and the state shares no memory with it; states no Evaluator
// could have are refused; Merge refuses another threshold.
func TestEvaluatorState(t *testing.T) {
	e, err := model.NewEvaluator(.5, 64)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	add := func(n int) {
		for range n {
			if err := e.AddWeighted(float64(rng.IntN(2)), rng.NormFloat64(), 0.5+rng.Float64()); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(500)
	want, err := e.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	st := e.State()
	add(500) // must not change st
	d, err := model.EvaluatorFromState(st)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Metrics(); err != nil || got != want {
		t.Fatalf("rebuilt %+v (%v)\nfrom %+v", got, err, want)
	}

	for name, spoil := range map[string]func(*model.EvaluatorState){
		"bins out of order": func(s *model.EvaluatorState) { s.Lo[1], s.Hi[1] = s.Hi[0], s.Hi[0] },
		"bin counts":        func(s *model.EvaluatorState) { s.BinPos[0]++ },
		"class counts":      func(s *model.EvaluatorState) { s.Pos++ },
		"bin lengths":       func(s *model.EvaluatorState) { s.BinWNeg = s.BinWNeg[1:] },
		"too many bins":     func(s *model.EvaluatorState) { s.AUCBins = len(s.Lo) - 1 },
		"pending adds":      func(s *model.EvaluatorState) { s.Loss.Pending = -1 },
	} {
		s := e.State()
		spoil(&s)
		if _, err := model.EvaluatorFromState(s); err == nil {
			t.Errorf("%s: rebuilt", name)
		}
	}

	other, err := model.NewEvaluator(.4, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Merge(other); err == nil {
		t.Error("merged an Evaluator of another threshold")
	}
}
