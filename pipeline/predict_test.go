package pipeline

import (
	"context"
	"fmt"
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

// predictTol bounds the difference between the pipeline's margins and the
// reference's; both run the same sums in the same order.
const predictTol = 1e-12

type predKey struct {
	file string
	line int64
}

// readPredictions reads a prediction output's labels (0 where a row has
// none) and margins by source line.
func readPredictions(t *testing.T, info *PredictionsInfo) map[predKey][2]float64 {
	t.Helper()
	out := map[predKey][2]float64{}
	for k, r := range readPredictionRows(t, info) {
		label, _ := strconv.ParseFloat(r.label, 64)
		out[k] = [2]float64{label, r.margin}
	}
	return out
}

func TestPredictMatchesReferenceScoring(t *testing.T) {
	dir := t.TempDir()
	train := writeSynth(t, dir, model.SynthParams{Samples: 2000, Features: 300, PerSample: 8, Seed: 21})
	testPath := filepath.Join(dir, "test.txt")
	f, err := os.Create(testPath)
	require.NoError(t, err)
	// Different seed and a larger vocabulary: the test set has features
	// the model never saw, which must weigh 0.
	_, err = model.Synthesize(f, model.SynthParams{Samples: 700, Features: 600, PerSample: 8, Seed: 22})
	require.NoError(t, err)
	require.NoError(t, f.Close())

	tp := model.TrainParams{Lambda: 1, Bias: true, BlockSize: 50, Iterations: 4}
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{train}, WorkDir: filepath.Join(dir, "work"),
		Output: filepath.Join(dir, "model"), Train: tp, Shards: 2, Run: runnerFor("direct")})
	require.NoError(t, err)
	weights := readModelWeights(t, res.Model)

	d, err := model.ReadDataset([]string{testPath}, true, tp.BlockSize)
	require.NoError(t, err)
	want := d.Margins(weights)

	for _, runner := range []string{"direct", "prism"} {
		for _, shard := range []int64{0, 100} {
			t.Run(runner+"/shard="+strconv.FormatInt(shard, 10), func(t *testing.T) {
				out := filepath.Join(dir, "pred-"+runner+strconv.FormatInt(shard, 10))
				info, err := RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "model"),
					Inputs: []string{testPath}, Output: out, WorkDir: out + ".work",
					Sharding: transforms.ShardingParams{Threshold: shard}, Shards: 3, Run: runnerFor(runner)})
				require.NoError(t, err)
				require.EqualValues(t, 700, info.Samples)
				got := readPredictions(t, info)
				require.Len(t, got, 700)
				i := 0
				for _, b := range d.Blocks {
					for r, line := range b.Lines {
						p, ok := got[predKey{testPath, line}]
						require.True(t, ok, "line %d has no prediction", line)
						require.Equal(t, b.Labels[r], p[0])
						require.InDelta(t, want[i], p[1], predictTol*math.Max(1, math.Abs(want[i])), "line %d", line)
						i++
					}
				}
			})
		}
	}
}

func TestTrainEvaluatesTestSetEveryPass(t *testing.T) {
	dir := t.TempDir()
	train := writeSynth(t, dir, model.SynthParams{Samples: 1500, Features: 200, PerSample: 6, Seed: 31})
	testPath := filepath.Join(dir, "test.txt")
	f, err := os.Create(testPath)
	require.NoError(t, err)
	_, err = model.Synthesize(f, model.SynthParams{Samples: 400, Features: 200, PerSample: 6, Seed: 32})
	require.NoError(t, err)
	require.NoError(t, f.Close())

	tp := model.TrainParams{Lambda: 1, Bias: true, BlockSize: 100, Iterations: 3, Tol: -1, GTol: -1, GapTol: -1}
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{train}, Tests: []string{testPath},
		WorkDir: filepath.Join(dir, "work"), Output: filepath.Join(dir, "model"), Train: tp, Shards: 2, Run: runnerFor("direct")})
	require.NoError(t, err)
	require.Len(t, res.History, 4)

	// The reference: train the same passes in memory, score the test set
	// after each, and evaluate the margins.
	d, err := model.ReadDataset([]string{testPath}, true, tp.BlockSize)
	require.NoError(t, err)
	trainData, err := model.ReadDataset([]string{train}, true, tp.BlockSize)
	require.NoError(t, err)
	tr, err := model.NewTrainer(trainData, tp, nil)
	require.NoError(t, err)
	for i, f := range res.History {
		tr.Pass()
		require.NotNil(t, f.Test, "pass %d has no test metrics", i)
		var labels []float64
		for _, b := range d.Blocks {
			labels = append(labels, b.Labels...)
		}
		want, err := model.EvaluateMargins(labels, d.Margins(tr.Weights()), 0.5)
		require.NoError(t, err)
		require.Equal(t, want.Confusion, f.Test.Confusion, "pass %d", i)
		require.InDelta(t, want.AUC, f.Test.AUC, 1e-12, "pass %d", i)
		require.InDelta(t, want.LogLoss, f.Test.LogLoss, 1e-12, "pass %d", i)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "model", HistoryName))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	require.Len(t, lines, 5)
	require.True(t, strings.HasPrefix(lines[0], "iteration,objective,grad_norm,gap_estimate,"), lines[0])
	last := res.History[len(res.History)-1]
	require.Greater(t, last.Gap, 0.0, "the default optimizer estimates its gap")
	require.Equal(t, strconv.FormatFloat(last.Gap, 'g', -1, 64), strings.Split(lines[4], ",")[3])
}

// TestPredictRefusesADamagedModel changes a weights file behind
// model.json's back: a changed byte fails its checksum, a changed size is
// caught before any pipeline runs.
func TestPredictRefusesADamagedModel(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 300, Features: 40, PerSample: 4, Seed: 91})
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "w"),
		Output: filepath.Join(dir, "m"), Train: model.TrainParams{Lambda: 1, Bias: true, Iterations: 1}, Shards: 1,
		Run: runnerFor("direct")})
	require.NoError(t, err)
	path := res.Model.Files[0].Path
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	predict := func() error {
		_, err := RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "m"), Inputs: []string{data},
			Output: filepath.Join(dir, "p"), WorkDir: filepath.Join(dir, "pw"), Run: runnerFor("direct")})
		return err
	}
	require.NoError(t, predict())
	changed := append([]byte(nil), b...)
	changed[len(changed)-2] ^= 0x01 // a digit of the last weight
	require.NoError(t, os.WriteFile(path, changed, 0o644))
	require.ErrorContains(t, predict(), "checksum differs from model.json")
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	require.ErrorContains(t, predict(), "the model is damaged")
}

// figureLog is a model.Recorder that keeps what it sees.
type figureLog []model.Figures

func (l *figureLog) Record(f model.Figures) { *l = append(*l, f) }

// TestRecorderSeesEveryPass: the driver's Recorder and the reference
// trainer's see the same passes, with the same J, gradient and gap.
func TestRecorderSeesEveryPass(t *testing.T) {
	dir := t.TempDir()
	train := writeSynth(t, dir, model.SynthParams{Samples: 1500, Features: 200, PerSample: 6, Seed: 33})
	tp := model.TrainParams{Lambda: 1, Bias: true, BlockSize: 100, Iterations: 4, Tol: -1, GTol: -1, GapTol: -1}
	var got figureLog
	var lines strings.Builder
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{train}, WorkDir: filepath.Join(dir, "work"),
		Output: filepath.Join(dir, "model"), Train: tp, Shards: 2, Run: runnerFor("direct"), Recorder: &got, Log: &lines})
	require.NoError(t, err)
	require.Len(t, got, len(res.History))

	d, err := model.ReadDataset([]string{train}, true, tp.BlockSize)
	require.NoError(t, err)
	tr, err := model.NewTrainer(d, tp, nil)
	require.NoError(t, err)
	var want figureLog
	tr.Train(&want)
	require.Len(t, want, len(got))
	for i := range got {
		require.Equal(t, res.History[i].J, got[i].J, "pass %d", i)
		require.InDelta(t, want[i].J, got[i].J, 1e-9*want[i].J, "pass %d", i)
		require.InDelta(t, want[i].GradNorm, got[i].GradNorm, 1e-9*want[i].GradNorm, "pass %d", i)
		require.InDelta(t, want[i].Gap, got[i].Gap, 1e-9*want[i].Gap, "pass %d", i)
		require.Contains(t, lines.String(), fmt.Sprintf("iter %3d  J %.10g", i, got[i].J))
	}
}
