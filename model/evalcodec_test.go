package model_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dpmr/dpmr/model"
)

// mergedEvaluation counts the samples in parts of random sizes, each in an
// Evaluator of its own that goes through its binary form (as a combiner's
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
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var d model.Evaluator
		if err := d.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, &d)
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

// TestEvaluatorBinaryForm: an encoded Evaluator decodes to the same
// metrics; Merge refuses another threshold or bin count; and every
// truncation or trailing byte of an encoding is an error, not a panic.
func TestEvaluatorBinaryForm(t *testing.T) {
	e, err := model.NewEvaluator(.5, 64)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for range 500 {
		if err := e.AddWeighted(float64(rng.IntN(2)), rng.NormFloat64(), 0.5+rng.Float64()); err != nil {
			t.Fatal(err)
		}
	}
	want, err := e.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var d model.Evaluator
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Metrics(); err != nil || got != want {
		t.Fatalf("decoded %+v (%v)\nencoded %+v", got, err, want)
	}
	for cut := range len(b) {
		if err := new(model.Evaluator).UnmarshalBinary(b[:cut]); err == nil {
			t.Fatalf("%d of %d bytes decoded", cut, len(b))
		}
	}
	if err := new(model.Evaluator).UnmarshalBinary(append(b, 0)); err == nil {
		t.Fatal("a trailing byte decoded")
	}
	other, err := model.NewEvaluator(.4, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Merge(other); err == nil {
		t.Error("merged an Evaluator of another threshold")
	}
}
