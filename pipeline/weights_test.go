package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

// writeWeighted writes synthetic data with a sample weight on some lines:
// 2.5 on every third, 0.2 on every seventh (label:weight).
func writeWeighted(t *testing.T, dir string, p model.SynthParams) string {
	t.Helper()
	plain, err := os.ReadFile(writeSynth(t, dir, p))
	require.NoError(t, err)
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n") {
		label, rest, _ := strings.Cut(line, " ")
		switch {
		case i%3 == 0:
			label += ":2.5"
		case i%7 == 0:
			label += ":0.2"
		}
		fmt.Fprintf(&b, "%s %s\n", label, rest)
	}
	path := filepath.Join(dir, "weighted.txt")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// TestWeightedTrainingMatchesReference: sample weights and class weights
// train on the pipeline as in the reference trainer, on two runners and
// with the optimizers whose blocks use the weights differently (subspace's
// search and local Newton, lbfgs's grid and curvature, averaging's SGD).
func TestWeightedTrainingMatchesReference(t *testing.T) {
	dir := t.TempDir()
	data := writeWeighted(t, dir, model.SynthParams{Samples: 2000, Features: 300, PerSample: 8, Seed: 29, Noise: 0.05})
	cw := [2]float64{1, 3}
	for _, tc := range []struct {
		name   string
		runner string
		train  model.TrainParams
	}{
		{"subspace/direct", "direct", model.TrainParams{Lambda: 1, Bias: true, BlockSize: 100, Iterations: 4, ClassWeight: cw}},
		{"subspace/prism", "prism", model.TrainParams{Lambda: 0.5, Bias: true, BlockSize: 300, Iterations: 3, ClassWeight: cw}},
		{"lbfgs/direct", "direct", model.TrainParams{Lambda: 1, Bias: false, Optimizer: model.LBFGS, BlockSize: 64, Iterations: 4}},
		{"averaging/prism", "prism", model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.Averaging, BlockSize: 500, Iterations: 2, ClassWeight: cw}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.train.Tol, tc.train.GTol, tc.train.GapTol = -1, -1, -1
			ref, refStop := reference(t, []string{data}, tc.train)
			name := strings.ReplaceAll(tc.name, "/", "-")
			res, err := Train(context.Background(), TrainConfig{
				Inputs: []string{data}, WorkDir: filepath.Join(dir, "work-"+name), Output: filepath.Join(dir, "model-"+name),
				Train: tc.train, Shards: 2, Run: runnerFor(tc.runner),
			})
			require.NoError(t, err)
			requireReferenceRun(t, ref, refStop, res)
		})
	}
}
