package model

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// weightedPair writes synthetic data twice: with every third line's label
// given weight 2 (label:2), and with those lines written twice instead.
func weightedPair(t *testing.T, p SynthParams) (weighted, doubled string) {
	t.Helper()
	var buf bytes.Buffer
	_, err := Synthesize(&buf, p)
	require.NoError(t, err)
	var a, b strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if i%3 != 0 {
			fmt.Fprintln(&a, line)
			fmt.Fprintln(&b, line)
			continue
		}
		label, rest, _ := strings.Cut(line, " ")
		fmt.Fprintf(&a, "%s:2 %s\n", label, rest)
		fmt.Fprintln(&b, line)
		fmt.Fprintln(&b, line)
	}
	dir := t.TempDir()
	weighted, doubled = filepath.Join(dir, "weighted.txt"), filepath.Join(dir, "doubled.txt")
	require.NoError(t, os.WriteFile(weighted, []byte(a.String()), 0o644))
	require.NoError(t, os.WriteFile(doubled, []byte(b.String()), 0o644))
	return weighted, doubled
}

// TestWeightTwoIsTheLineWrittenTwice: J and its gradient agree at any
// point, and training reaches the same optimum, which gonum's Newton
// method (on the weighted J) confirms.
func TestWeightTwoIsTheLineWrittenTwice(t *testing.T) {
	weighted, doubled := weightedPair(t, SynthParams{Samples: 1500, Features: 200, PerSample: 8, Seed: 23, Noise: 0.1})
	const lambda = 1
	a, err := ReadDataset([]string{weighted}, true, 64)
	require.NoError(t, err)
	b, err := ReadDataset([]string{doubled}, true, 64)
	require.NoError(t, err)
	require.Equal(t, a.Names, b.Names)
	require.Equal(t, a.Samples+500, b.Samples)
	require.InDelta(t, b.SumSq, a.SumSq, 1e-12*b.SumSq, "the step size's bound weighs samples too")

	rng := rand.New(rand.NewPCG(1, 2))
	for range 3 {
		w := make([]float64, len(a.Names))
		for j := range w {
			w[j] = rng.NormFloat64()
		}
		ga, gb := make([]float64, len(w)), make([]float64, len(w))
		ja, jb := Objective(a, w, lambda, true, ga), Objective(b, w, lambda, true, gb)
		require.InDelta(t, jb, ja, 1e-12*jb)
		for j := range ga {
			require.InDelta(t, gb[j], ga[j], 1e-11*math.Max(1, math.Abs(gb[j])), "gradient of %q", a.Names[j])
		}
	}

	res := gonumOptimum(t, a, lambda, true)
	for _, opt := range []string{Subspace, LBFGS} {
		train := func(d *Dataset) *Trainer {
			tr, err := NewTrainer(d, TrainParams{Optimizer: opt, Lambda: lambda, Bias: true, BlockSize: 64, Iterations: 300, GapTol: 1e-12, GTol: 1e-10}, nil)
			require.NoError(t, err)
			tr.Train(nil)
			return tr
		}
		ta, tb := train(a), train(b)
		ja, jb := ta.History[len(ta.History)-1].J, tb.History[len(tb.History)-1].J
		require.InDelta(t, res.F, ja, optimumTol*res.F, "%s: weighted J against gonum's", opt)
		require.InDelta(t, jb, ja, optimumTol*jb, "%s: weighted J against the doubled lines'", opt)
		wa, wb := ta.Weights(), tb.Weights()
		for name, x := range wb {
			require.InDelta(t, x, wa[name], 1e-5*math.Max(1, math.Abs(x)), "%s: weight of %q", opt, name)
		}
	}
}

// TestClassWeightIsEachLinesWeight: a class weight trains bit for bit as
// the same weight written on every line of the class.
func TestClassWeightIsEachLinesWeight(t *testing.T) {
	var buf bytes.Buffer
	_, err := Synthesize(&buf, SynthParams{Samples: 800, Features: 100, PerSample: 6, Seed: 3})
	require.NoError(t, err)
	dir := t.TempDir()
	plain, marked := filepath.Join(dir, "plain.txt"), filepath.Join(dir, "marked.txt")
	require.NoError(t, os.WriteFile(plain, buf.Bytes(), 0o644))
	text := strings.ReplaceAll("\n"+buf.String(), "\n1 ", "\n1:3 ")
	require.NoError(t, os.WriteFile(marked, []byte(text[1:]), 0o644))

	p := TrainParams{Lambda: 1, Bias: true, BlockSize: 50, Iterations: 5, GapTol: -1, GTol: -1}
	a, err := ReadTrainingSet([]string{plain}, TrainParams{Bias: true, BlockSize: 50, ClassWeight: [2]float64{0, 3}})
	require.NoError(t, err)
	b, err := ReadDataset([]string{marked}, true, 50)
	require.NoError(t, err)
	require.Equal(t, b, a)
	ta, err := NewTrainer(a, p, nil)
	require.NoError(t, err)
	ta.Train(nil)
	tu, err := NewTrainer(b, p, nil)
	require.NoError(t, err)
	tu.Train(nil)
	require.Equal(t, tu.Weights(), ta.Weights())
	require.Error(t, TrainParams{ClassWeight: [2]float64{-1, 1}}.WithDefaults().Validate())
	require.Error(t, TrainParams{ClassWeight: [2]float64{1, math.Inf(1)}}.WithDefaults().Validate())
}

// TestWeightedMetricsCountSamplesRepeated: the Evaluator's metrics with
// integer weights are those of each sample added that many times.
func TestWeightedMetricsCountSamplesRepeated(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	weighted, err := NewEvaluator(0.5, EvalAUCBins)
	require.NoError(t, err)
	repeated, err := NewEvaluator(0.5, EvalAUCBins)
	require.NoError(t, err)
	var sum float64
	for range 3000 {
		y := float64(rng.IntN(2))
		z := math.Round(rng.NormFloat64()*40) / 10 // ties
		w := 1 + rng.IntN(3)
		require.NoError(t, weighted.AddWeighted(y, z, float64(w)))
		for range w {
			require.NoError(t, repeated.Add(y, z))
		}
		sum += float64(w)
	}
	a, err := weighted.Metrics()
	require.NoError(t, err)
	b, err := repeated.Metrics()
	require.NoError(t, err)
	require.Equal(t, sum, a.Weight)
	require.Zero(t, b.Weight, "unweighted")
	require.Equal(t, int64(3000), a.N)
	for name, pair := range map[string][2]float64{
		"accuracy": {a.Accuracy, b.Accuracy}, "log-loss": {a.LogLoss, b.LogLoss}, "AUC": {a.AUC, b.AUC},
		"precision": {a.Positive.Precision, b.Positive.Precision}, "recall": {a.Negative.Recall, b.Negative.Recall},
		"macro F1": {a.MacroF1, b.MacroF1},
	} {
		require.InDelta(t, pair[1], pair[0], 1e-14, name)
	}
	require.Zero(t, a.AUCBound)
	require.Error(t, weighted.AddWeighted(1, 0, 0))
	require.Error(t, weighted.AddWeighted(1, 0, math.NaN()))
}
