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

// TestWeightedTestMetrics: a test set's metrics count each sample's weight
// (its own times its class's) as model.Evaluator does, at the reference
// trainer's weights of every pass, on two runners.
func TestWeightedTestMetrics(t *testing.T) {
	dir := t.TempDir()
	data := writeWeighted(t, dir, model.SynthParams{Samples: 1500, Features: 200, PerSample: 8, Seed: 31, Noise: 0.1})
	p := model.TrainParams{Lambda: 1, Bias: true, BlockSize: 200, Iterations: 3, ClassWeight: [2]float64{1, 2}, Tol: -1, GTol: -1, GapTol: -1}
	d, err := model.ReadTrainingSet([]string{data}, p)
	require.NoError(t, err)
	ref, err := model.NewTrainer(d, p, nil)
	require.NoError(t, err)
	var want []model.Metrics
	for range p.Iterations + 1 {
		ref.Pass()
		w := ref.Weights()
		e, err := model.NewEvaluator(0.5, model.EvalAUCBins)
		require.NoError(t, err)
		eachMargin(t, data, w, p.Bias, func(s *model.Sample, z float64) {
			require.NoError(t, e.AddWeighted(s.Label, z, model.SampleWeight(s.Weight, s.Label, p.ClassWeight)))
		})
		m, err := e.Metrics()
		require.NoError(t, err)
		want = append(want, m)
	}
	require.Greater(t, want[0].Weight, float64(want[0].N), "the test set is weighted")

	for _, runner := range []string{"direct", "prism"} {
		t.Run(runner, func(t *testing.T) {
			res, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, Tests: []string{data},
				WorkDir: filepath.Join(dir, "work-"+runner), Output: filepath.Join(dir, "model-"+runner),
				Train: p, Shards: 2, Run: runnerFor(runner)})
			require.NoError(t, err)
			require.Len(t, res.History, len(want))
			for i, f := range res.History {
				got := f.Test
				require.NotNil(t, got)
				require.Equal(t, want[i].Weight, got.Weight, "pass %d", i)
				require.Equal(t, want[i].Confusion, got.Confusion, "pass %d", i)
				for name, pair := range map[string][2]float64{"accuracy": {want[i].Accuracy, got.Accuracy},
					"log-loss": {want[i].LogLoss, got.LogLoss}, "AUC": {want[i].AUC, got.AUC}, "F1": {want[i].Positive.F1, got.Positive.F1}} {
					require.InDelta(t, pair[0], pair[1], 1e-9, "pass %d: %s", i, name)
				}
			}
		})
	}
}

// TestPredictWritesSampleWeights: with SampleWeights, predict reads each
// line's label:weight as training does and writes the weight beside the
// prediction (which is the reference's scoring), on two runners; it
// cannot go with Unlabelled.
func TestPredictWritesSampleWeights(t *testing.T) {
	dir := t.TempDir()
	data := writeWeighted(t, dir, model.SynthParams{Samples: 600, Features: 100, PerSample: 6, Seed: 37})
	tp := model.TrainParams{Lambda: 1, Bias: true, BlockSize: 64, Iterations: 2}
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "work"),
		Output: filepath.Join(dir, "m"), Train: tp, Shards: 2, Run: runnerFor("direct")})
	require.NoError(t, err)
	w := readModelWeights(t, res.Model)
	for _, runner := range []string{"direct", "prism"} {
		out := filepath.Join(dir, "p-"+runner)
		info, err := RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "m"), Inputs: []string{data},
			Output: out, WorkDir: out + ".work", Shards: 2, SampleWeights: true, Run: runnerFor(runner)})
		require.NoError(t, err)
		require.True(t, info.SampleWeights)
		got := readPredictionRows(t, info)
		requireReferencePredictions(t, got, data, model.LabelRequired, w, tp.BlockSize)
		require.Equal(t, 2.5, got[predKey{data, 1}].weight)
		require.Equal(t, 0.2, got[predKey{data, 8}].weight)
		require.Equal(t, 1.0, got[predKey{data, 2}].weight)
	}
	_, err = RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "m"), Inputs: []string{data},
		Output: filepath.Join(dir, "bad"), WorkDir: filepath.Join(dir, "bad.work"), SampleWeights: true, Unlabelled: true, Run: runnerFor("direct")})
	require.ErrorContains(t, err, "give one of Unlabelled and SampleWeights")
}
