package pipeline

import (
	"context"
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

// readClassWeights reads a multiclass model's weights files: feature ->
// its K weights.
func readClassWeights(t *testing.T, info *ModelInfo) map[string][]float64 {
	t.Helper()
	w := map[string][]float64{}
	for _, f := range info.Files {
		data, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			fields := strings.Split(line, "\t")
			require.Len(t, fields, 1+info.Classes, "line %q of %s", line, f.Path)
			_, dup := w[fields[0]]
			require.False(t, dup, "feature %q twice", fields[0])
			for _, v := range fields[1:] {
				x, err := strconv.ParseFloat(v, 64)
				require.NoError(t, err)
				w[fields[0]] = append(w[fields[0]], x)
			}
		}
	}
	return w
}

// TestMulticlassTrainingMatchesReference: multinomial regression trains
// in the pipeline as in the reference trainer, pass for pass, on real
// data (dense unscaled wine, sparse sotu-era-small) and two runners, with
// hot features sharded and with an L1 term (OWL-QN); the model's lines
// hold each feature's K weights and model.json its classes.
func TestMulticlassTrainingMatchesReference(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join("..", "testdata", "real")
	for _, tc := range []struct {
		name   string
		set    string
		runner string
		train  model.TrainParams
		shard  int64
	}{
		{"wine/direct", "wine", "direct", model.TrainParams{Lambda: 1, Bias: true, BlockSize: 40, Iterations: 12}, 0},
		// 300 postings make the intercept (1500) and the commonest words hot.
		{"sotu-era/prism/sharded", "sotu-era-small", "prism", model.TrainParams{Lambda: 1, Bias: true, BlockSize: 300, Iterations: 5}, 300},
		{"sotu-era/direct/l1/sharded", "sotu-era-small", "direct", model.TrainParams{Lambda: 0.5, L1: 2, Bias: true, BlockSize: 100, Iterations: 5}, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(real, tc.set+".txt")
			tc.train.Multiclass = true
			tc.train.Tol, tc.train.GTol, tc.train.GapTol = -1, -1, -1
			ref, refStop := reference(t, []string{data}, tc.train)
			name := strings.ReplaceAll(tc.name, "/", "-")
			res, err := Train(context.Background(), TrainConfig{
				Inputs: []string{data}, WorkDir: filepath.Join(dir, "work-"+name), Output: filepath.Join(dir, "model-"+name),
				Train: tc.train, Sharding: transforms.ShardingParams{Threshold: tc.shard}, Shards: 2, Run: runnerFor(tc.runner),
			})
			require.NoError(t, err)
			require.Equal(t, model.LBFGS, res.Model.Optimizer)
			require.Equal(t, refStop, res.Model.StopReason)
			require.Len(t, res.History, len(ref.History))
			for i, f := range ref.History {
				require.InDelta(t, f.J, res.History[i].J, oracleTol*math.Abs(f.J), "J of pass %d", i)
				require.InDelta(t, f.GradNorm, res.History[i].GradNorm, oracleTol*f.GradNorm, "|g| of pass %d", i)
				require.Equal(t, f.Zeros, res.History[i].Zeros, "zero weights after pass %d", i)
			}

			K := ref.Data.Classes
			require.Equal(t, K, res.Model.Classes)
			require.Equal(t, ref.Data.ClassCounts, res.Model.ClassCounts)
			got := readClassWeights(t, res.Model)
			kept := 0
			for name, w := range ref.WeightsByClass() {
				zero := true
				for _, x := range w {
					zero = zero && x == 0
				}
				if zero && tc.train.L1 > 0 && name != model.BiasName {
					require.NotContains(t, got, name, "an all-zero feature is left out")
					continue
				}
				kept++
				require.Len(t, got[name], K, "feature %q", name)
				for k := range w {
					require.InDelta(t, w[k], got[name][k], oracleTol*math.Max(1, math.Abs(w[k])), "feature %q class %d", name, k)
				}
			}
			require.Len(t, got, kept)
			if tc.train.L1 > 0 {
				require.Less(t, kept, len(ref.Data.Names), "test data: L1 left no feature out")
			}
			require.Equal(t, got[model.BiasName], res.Model.Intercepts)
			require.Zero(t, res.Model.Intercept)
		})
	}
}

// TestMulticlassInputErrors: a class without a sample is refused before
// any pass, and a class number in two-class training is a bad line that
// names its file and line.
func TestMulticlassInputErrors(t *testing.T) {
	dir := t.TempDir()
	gap := filepath.Join(dir, "gap.txt")
	require.NoError(t, os.WriteFile(gap, []byte("0 a:1\n2 b:1\n0 c:1\n"), 0o644))
	train := model.TrainParams{Multiclass: true, Bias: true, Iterations: 2}
	_, err := Train(context.Background(), TrainConfig{Inputs: []string{gap}, Output: filepath.Join(dir, "m1"), WorkDir: filepath.Join(dir, "w1"), Train: train, Run: runnerFor("direct")})
	require.ErrorContains(t, err, "class 1 has no sample in the training data")

	_, err = Train(context.Background(), TrainConfig{Inputs: []string{gap}, Output: filepath.Join(dir, "m2"), WorkDir: filepath.Join(dir, "w2"), Train: model.TrainParams{Bias: true, Iterations: 2}, Run: runnerFor("direct")})
	require.ErrorContains(t, err, "gap.txt:2:1: label \"2\" is not 1, +1, 0 or -1")

}

// TestMulticlassPredictMatchesReference: predict writes, for each line, the
// class of the largest margin and the softmax of the margins the
// reference computes from the exported weights, on direct and prism;
// unlabelled lines and unseen features included. LoadModel's
// ClassProbabilities are predict's, bit for bit.
func TestMulticlassPredictMatchesReference(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join("..", "testdata", "real", "sotu-era-small.txt")
	train := model.TrainParams{Multiclass: true, Lambda: 1, Bias: true, BlockSize: 300, Iterations: 4}
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, Output: filepath.Join(dir, "m"), WorkDir: filepath.Join(dir, "w"), Train: train, Run: runnerFor("direct")})
	require.NoError(t, err)
	weights := readClassWeights(t, res.Model)

	// Lines to score: the training set's first 200, then one without a
	// label and one with a feature the model has never seen.
	raw, err := os.ReadFile(data)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(raw), "\n")[:200]
	lines = append(lines, "5:2 7:1\n", "2 unseen-feature:3 5:1\n")
	input := filepath.Join(dir, "score.txt")
	require.NoError(t, os.WriteFile(input, []byte(strings.Join(lines, "")), 0o644))
	// The reference scores the labelled lines, in the same order.
	labelled := append(append([]string{}, lines[:200]...), lines[201])
	require.NoError(t, os.WriteFile(filepath.Join(dir, "labelled.txt"), []byte(strings.Join(labelled, "")), 0o644))
	d, err := model.ReadTrainingSet([]string{filepath.Join(dir, "labelled.txt")}, model.TrainParams{Bias: true, BlockSize: 300, Multiclass: true})
	require.NoError(t, err)
	z := d.ClassMargins(weights)
	K := d.Classes
	loaded, err := LoadModel(context.Background(), filepath.Join(dir, "m"))
	require.NoError(t, err)
	require.Equal(t, K*len(weights), loaded.Len())
	b, ok := loaded.ClassWeights(model.BiasName)
	require.True(t, ok)
	require.Equal(t, weights[model.BiasName], b)
	var served [][]float64 // LoadModel's probabilities of every line, in order
	r := model.NewReader(strings.NewReader(strings.Join(lines, "")), input)
	r.Labels, r.Multiclass = model.LabelOptional, true
	var smp model.Sample
	for r.Read(&smp) == nil {
		served = append(served, loaded.ClassProbabilities(&smp))
	}
	require.Len(t, served, 202)
	require.Panics(t, func() { loaded.Margin(&smp) })

	for _, runner := range []string{"direct", "prism"} {
		t.Run(runner, func(t *testing.T) {
			out := filepath.Join(dir, "p-"+runner)
			info, err := RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "m"), Inputs: []string{input}, Output: out, WorkDir: out + ".work", Run: runnerFor(runner)})
			require.NoError(t, err)
			require.Equal(t, K, info.Classes)
			var got []string
			for _, f := range info.Files {
				b, err := os.ReadFile(f.Path)
				require.NoError(t, err)
				got = append(got, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
			}
			require.Len(t, got, 202)
			i := 0 // the labelled samples' index in z
			for _, line := range got {
				f := strings.Split(line, "\t")
				require.Len(t, f, 4+K, line)
				n, err := strconv.Atoi(f[1])
				require.NoError(t, err)
				for k, p := range served[n-1] {
					require.Equal(t, strconv.FormatFloat(p, 'g', -1, 64), f[4+k], "LoadModel, line %d class %d", n, k)
				}
				if n == 201 {
					require.Empty(t, f[2], "the unlabelled line's label")
					continue
				}
				zi := z[i*K : (i+1)*K]
				i++
				p := make([]float64, K)
				model.Softmax(p, zi)
				best := 0
				for k := range zi {
					if zi[k] > zi[best] {
						best = k
					}
					x, err := strconv.ParseFloat(f[4+k], 64)
					require.NoError(t, err)
					require.InDelta(t, p[k], x, oracleTol, "line %d class %d", n, k)
				}
				require.Equal(t, strconv.Itoa(best), f[3], "line %d", n)
			}
			require.Equal(t, len(z)/K, i)
		})
	}
}
