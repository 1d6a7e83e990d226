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
		{"sotu-era/prism", "sotu-era-small", "prism", model.TrainParams{Lambda: 1, Bias: true, BlockSize: 300, Iterations: 5}, 0},
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
// any pass; a class number in two-class training is a bad line that names
// its file and line; and predicting with a multiclass model says it
// cannot yet.
func TestMulticlassInputErrors(t *testing.T) {
	dir := t.TempDir()
	gap := filepath.Join(dir, "gap.txt")
	require.NoError(t, os.WriteFile(gap, []byte("0 a:1\n2 b:1\n0 c:1\n"), 0o644))
	train := model.TrainParams{Multiclass: true, Bias: true, Iterations: 2}
	_, err := Train(context.Background(), TrainConfig{Inputs: []string{gap}, Output: filepath.Join(dir, "m1"), WorkDir: filepath.Join(dir, "w1"), Train: train, Run: runnerFor("direct")})
	require.ErrorContains(t, err, "class 1 has no sample in the training data")

	_, err = Train(context.Background(), TrainConfig{Inputs: []string{gap}, Output: filepath.Join(dir, "m2"), WorkDir: filepath.Join(dir, "w2"), Train: model.TrainParams{Bias: true, Iterations: 2}, Run: runnerFor("direct")})
	require.ErrorContains(t, err, "gap.txt:2:1: label \"2\" is not 1, +1, 0 or -1")

	good := filepath.Join(dir, "good.txt")
	require.NoError(t, os.WriteFile(good, []byte("0 a:1\n2 b:1\n1 c:1\n1 a:1 b:1\n"), 0o644))
	out := filepath.Join(dir, "m3")
	_, err = Train(context.Background(), TrainConfig{Inputs: []string{good}, Output: out, WorkDir: filepath.Join(dir, "w3"), Train: train, Run: runnerFor("direct")})
	require.NoError(t, err)
	_, err = LoadModel(context.Background(), out)
	require.ErrorContains(t, err, "multiclass (3 classes)")
	_, err = RunPredict(context.Background(), PredictConfig{Model: out, Inputs: []string{good}, Output: filepath.Join(dir, "p"), Run: runnerFor("direct")})
	require.ErrorContains(t, err, "predict reads two-class models only")
}
