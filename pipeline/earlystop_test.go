package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dpmr/dpmr/internal/chart/charttest"
	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

// splitLines writes the first n lines of path to train.txt and the rest
// to test.txt, beside it.
func splitLines(t *testing.T, path string, n int) (train, test string) {
	t.Helper()
	in, err := os.Open(path)
	require.NoError(t, err)
	defer in.Close()
	train, test = filepath.Join(filepath.Dir(path), "split-train.txt"), filepath.Join(filepath.Dir(path), "split-test.txt")
	a, err := os.Create(train)
	require.NoError(t, err)
	b, err := os.Create(test)
	require.NoError(t, err)
	sc := bufio.NewScanner(in)
	for i := 0; sc.Scan(); i++ {
		out := a
		if i >= n {
			out = b
		}
		_, err := fmt.Fprintln(out, sc.Text())
		require.NoError(t, err)
	}
	require.NoError(t, sc.Err())
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	return train, test
}

// eachMargin scores the samples of path with weights w in memory,
// independently of the pipeline's scoring, and calls fn with each.
func eachMargin(t *testing.T, path string, w map[string]float64, bias bool, fn func(s *model.Sample, z float64)) {
	t.Helper()
	require.NoError(t, model.EachSample([]string{path}, func(_ int, s *model.Sample) {
		z := 0.0
		if bias {
			z = w[model.BiasName]
		}
		for _, f := range s.Features {
			z += w[f.Name] * f.Value
		}
		fn(s, z)
	}))
}

// exactMetrics scores the samples of path with weights in memory and
// evaluates them exactly (model.EvaluateMargins), independently of the
// pipeline's scoring and of its bounded-memory Evaluator.
func exactMetrics(t *testing.T, path string, w map[string]float64, bias bool) *model.Metrics {
	t.Helper()
	var labels, margins []float64
	eachMargin(t, path, w, bias, func(s *model.Sample, z float64) {
		labels, margins = append(labels, s.Label), append(margins, z)
	})
	m, err := model.EvaluateMargins(labels, margins, 0.5)
	require.NoError(t, err)
	return &m
}

// TestEarlyStopExportsTheReferencesBestPass trains with too little
// regularization for the data, so that the test log-loss turns up after a
// few passes, and checks on two runners that --early-stop exports the
// pass the reference trainer's weights, scored exactly on the test set,
// rank best, with those weights, and that patience ends the run there.
func TestEarlyStopExportsTheReferencesBestPass(t *testing.T) {
	dir := t.TempDir()
	all := writeSynth(t, dir, model.SynthParams{Samples: 3000, Features: 400, PerSample: 20, Seed: 19, Noise: 0.05})
	train, test := splitLines(t, all, 1000)
	p := model.TrainParams{Lambda: 0.1, Bias: true, Optimizer: model.LBFGS, BlockSize: 50, Iterations: 30, Tol: -1, GTol: -1, GapTol: -1}
	early := model.EarlyStop{Metric: "auc", Patience: 3}

	d, err := model.ReadDataset([]string{train}, p.Bias, p.BlockSize)
	require.NoError(t, err)
	ref, err := model.NewTrainer(d, p, nil)
	require.NoError(t, err)
	var weights []map[string]float64
	var scored []model.Figures
	for {
		f := ref.Pass()
		weights = append(weights, ref.Weights())
		f.Test = exactMetrics(t, test, ref.Weights(), p.Bias)
		scored = append(scored, f)
		if early.Stop(scored) || model.StopReason(ref.Params, ref.History) != "" {
			break
		}
	}
	want, ok := early.Best(scored)
	require.True(t, ok)
	require.True(t, early.Stop(scored), "the data must make the test log-loss turn up within %d passes", p.Iterations)
	require.Greater(t, want.Pass, 1, "the best pass must be one past the first move")
	require.Less(t, want.Pass, len(scored)-1)

	for _, runner := range []string{"direct", "prism"} {
		t.Run(runner, func(t *testing.T) {
			res, err := Train(context.Background(), TrainConfig{
				Inputs: []string{train}, Tests: []string{test}, WorkDir: filepath.Join(dir, "work-"+runner),
				Output: filepath.Join(dir, "model-"+runner), Train: p, Shards: 2, EarlyStop: early, Run: runnerFor(runner),
			})
			require.NoError(t, err)
			require.Equal(t, model.StopEarly, res.Model.StopReason)
			require.Len(t, res.History, len(scored), "patience ends the run where it ends the reference's")
			// Every pass's test metrics, combined in the pipeline from
			// the workers' evaluations, are the exact ones of the
			// reference's weights.
			for i, f := range res.History {
				want, got := scored[i].Test, f.Test
				require.NotNil(t, got, "pass %d", i)
				require.Equal(t, want.N, got.N, "pass %d", i)
				require.Equal(t, want.Confusion, got.Confusion, "pass %d", i)
				require.InDelta(t, want.AUC, got.AUC, 1e-12, "pass %d", i)
				require.Zero(t, got.AUCBound, "pass %d", i)
				require.InDelta(t, want.LogLoss, got.LogLoss, 1e-9*want.LogLoss, "pass %d", i)
			}
			got := res.Model.EarlyStop
			require.NotNil(t, got)
			require.Equal(t, want.Pass, got.Pass)
			require.True(t, got.Stopped)
			require.InDelta(t, want.Value, got.Value, 1e-9*want.Value)
			require.InDelta(t, scored[want.Pass].J, res.Model.J, oracleTol*scored[want.Pass].J, "model.json's J is the exported pass's")
			requireClose(t, weights[want.Pass], readModelWeights(t, res.Model), oracleTol)

			// history.svg marks the iteration exported.
			svg, err := os.ReadFile(filepath.Join(dir, "model-"+runner, HistoryChartName))
			require.NoError(t, err)
			mark := fmt.Sprintf("exported: iteration %d, the best test %s", want.Pass, early.Metric)
			require.Contains(t, charttest.Parse(t, svg).Series, mark)
		})
	}
}

// TestEarlyStopNeedsATestSet: the flag is refused before any work.
func TestEarlyStopNeedsATestSet(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 50, Features: 20, PerSample: 3, Seed: 1})
	_, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "w"), Output: filepath.Join(dir, "m"),
		EarlyStop: model.EarlyStop{Metric: "auc"}, Run: runnerFor("direct")})
	require.ErrorContains(t, err, "--early-stop auc chooses a pass by its test metric: give a test set (--test)")
	_, err = os.Stat(filepath.Join(dir, "w"))
	require.True(t, os.IsNotExist(err), "nothing written")
}

// TestTestMetricsOfAnOlderPass: a pass written before the test set's
// evaluation was (snapshot format 4 held every score) is refused with a
// message that says what to do, not misread.
func TestTestMetricsOfAnOlderPass(t *testing.T) {
	_, err := testMetrics(context.Background(), &Manifest{Version: testEvaluations - 1})
	require.EqualError(t, err, "scores written by an older dpmr (snapshot format 4), not their evaluation; use a new work dir")
}
