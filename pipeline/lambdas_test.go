package pipeline

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

// TestSeveralLambdasMatchTheirReferences trains several L2 strengths in
// one run, on two runners and two optimizers, and requires each model to
// be the reference trainer's for its lambda alone: the same stop reason
// after the same passes, J at every pass and the weights. The lambdas are
// chosen to stop after different numbers of passes, so later jobs hold
// fewer models. lambdas.csv sums up each model.
func TestSeveralLambdasMatchTheirReferences(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 2000, Features: 300, PerSample: 8, Zipf: 1.1, Seed: 47, Noise: 0.05})
	for _, tc := range []struct {
		name    string
		runner  string
		train   model.TrainParams
		lambdas []float64
	}{
		{"subspace-direct", "direct", model.TrainParams{Bias: true, BlockSize: 200, Iterations: 30}, []float64{0.01, 1, 30}},
		{"lbfgs-prism", "prism", model.TrainParams{Optimizer: model.LBFGS, Bias: false, BlockSize: 300, Iterations: 40, ClassWeight: [2]float64{1, 2}}, []float64{3, 0.2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "model-"+tc.name)
			res, err := Train(context.Background(), TrainConfig{
				Inputs: []string{data}, WorkDir: filepath.Join(dir, "work-"+tc.name), Output: out,
				Train: tc.train, Lambdas: tc.lambdas, Shards: 2, Run: runnerFor(tc.runner),
			})
			require.NoError(t, err)
			require.Nil(t, res.Model)
			require.Len(t, res.Lambdas, len(tc.lambdas))
			passes := map[int]bool{}
			for i, l := range tc.lambdas {
				got := res.Lambdas[i]
				require.Equal(t, l, got.Lambda)
				require.Equal(t, filepath.Join(out, LambdaDir(l)), got.Dir)
				p := tc.train
				p.Lambda = l
				ref, refStop := reference(t, []string{data}, p)
				require.NotEqual(t, model.StopIterations, refStop, "lambda %v: the test wants each model stopped by its own rule", l)
				requireReferenceRun(t, ref, refStop, &TrainResult{Model: got.Model, History: got.History})
				passes[len(got.History)] = true

				stored, err := ReadModel(context.Background(), got.Dir)
				require.NoError(t, err)
				require.Equal(t, l, stored.Lambda)
				require.Equal(t, l, stored.Train.Lambda)
			}
			require.Greater(t, len(passes), 1, "every model stopped after the same pass")

			rows := readCSV(t, filepath.Join(out, LambdasName))
			require.Equal(t, []string{"lambda", "dir", "iterations", "stop_reason", "exported_iteration", "objective", "nonzero_weights",
				"test_accuracy", "test_log_loss", "test_auc", "test_macro_f1"}, rows[0])
			require.Len(t, rows, 1+len(tc.lambdas))
			for i, r := range res.Lambdas {
				row := rows[1+i]
				require.Equal(t, LambdaDir(r.Lambda), row[1])
				require.Equal(t, strconv.Itoa(r.Model.Iterations), row[2])
				require.Equal(t, string(r.Model.StopReason), row[3])
				j, err := strconv.ParseFloat(row[5], 64)
				require.NoError(t, err)
				require.Equal(t, r.Model.J, j)
			}
		})
	}
}

// TestSeveralLambdasResume stops a run of several lambdas, rolls one
// model back by a pass (as when a job ends after writing some models'
// snapshots and not others'), and requires --resume to finish into the
// models of an undisturbed run, bit for bit; a resume with another list
// of lambdas is refused.
func TestSeveralLambdasResume(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 1500, Features: 200, PerSample: 8, Seed: 9, Noise: 0.05})
	cfg := TrainConfig{
		Inputs: []string{data}, Lambdas: []float64{0.1, 2},
		Train:  model.TrainParams{Bias: true, BlockSize: 100, Iterations: 5, Tol: -1, GTol: -1, GapTol: -1},
		Shards: 2, Run: runnerFor("direct"),
	}
	at := func(name string) TrainConfig {
		c := cfg
		c.WorkDir, c.Output = filepath.Join(dir, name, "work"), filepath.Join(dir, name, "model")
		return c
	}
	whole, err := Train(context.Background(), at("whole"))
	require.NoError(t, err)

	c := at("stopped")
	jobs := 0
	stop := errors.New("stopped by the test")
	c.Run = func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		if jobs++; jobs == 5 { // the setup, then passes 0-2, then pass 3
			return nil, stop
		}
		return runnerFor("direct")(ctx, p)
	}
	_, err = Train(context.Background(), c)
	require.ErrorIs(t, err, stop)
	require.NoError(t, os.Remove(filepath.Join(passDir(filepath.Join(c.WorkDir, LambdaDir(2)), 2), ManifestName)))

	other := at("stopped")
	other.Resume, other.Lambdas = true, []float64{0.1, 3}
	_, err = Train(context.Background(), other)
	require.ErrorContains(t, err, "used other inputs or flags")

	c = at("stopped")
	c.Resume = true
	resumed, err := Train(context.Background(), c)
	require.NoError(t, err)
	for i := range whole.Lambdas {
		w, g := whole.Lambdas[i], resumed.Lambdas[i]
		for k := range w.History {
			// A job of one model's pass has key statistics; one of two has
			// none (see record), and the resumed run's jobs differ.
			w.History[k].Keys, g.History[k].Keys = nil, nil
		}
		requireSameModel(t, &TrainResult{Model: w.Model, History: w.History, Index: whole.Index},
			&TrainResult{Model: g.Model, History: g.History, Index: resumed.Index})
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return rows
}
