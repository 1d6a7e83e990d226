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

// TestL1TrainingMatchesReference: with an L1 term (OWL-QN) the pipeline
// trains as the reference trainer does on two runners, with and without
// the intercept, sharded, and with the elastic net. The model leaves out
// exactly the reference's zero weights and counts them in model.json.
func TestL1TrainingMatchesReference(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 2000, Features: 300, PerSample: 8, Zipf: 1.1, Seed: 43, Noise: 0.05})
	for _, tc := range []struct {
		name   string
		runner string
		train  model.TrainParams
		shard  int64
	}{
		{"l1/direct", "direct", model.TrainParams{L1: 3, Lambda: 0, Bias: true, BlockSize: 100, Iterations: 8}, 0},
		{"elastic-net/prism", "prism", model.TrainParams{L1: 2, Lambda: 0.5, Bias: false, BlockSize: 300, Iterations: 6, ClassWeight: [2]float64{1, 3}}, 0},
		{"l1/direct/sharded", "direct", model.TrainParams{L1: 3, Bias: true, BlockSize: 16, Iterations: 5}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			crossed := false
			for i, f := range ref.History {
				require.InDelta(t, f.J, res.History[i].J, oracleTol*math.Abs(f.J), "J of pass %d", i)
				require.Equal(t, f.Zeros, res.History[i].Zeros, "zero weights after pass %d", i)
				for _, fix := range f.PenaltyFix {
					crossed = crossed || fix != 0
				}
			}
			require.True(t, crossed, "test data: no weight's step ever crossed zero")

			nonzero, zeros := map[string]float64{}, int64(0)
			for name, w := range ref.Weights() {
				if w != 0 || (tc.train.Bias && name == model.BiasName) {
					nonzero[name] = w
				} else {
					zeros++
				}
			}
			require.Positive(t, zeros)
			require.Equal(t, zeros, res.Model.ZeroWeights)
			requireClose(t, nonzero, readModelWeights(t, res.Model), oracleTol)

			// history.csv's last column counts the zero weights of each pass.
			csv, err := os.ReadFile(filepath.Join(dir, "model-"+name, HistoryName))
			require.NoError(t, err)
			lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
			require.True(t, strings.HasSuffix(lines[0], ",zero_weights"), lines[0])
			require.True(t, strings.HasSuffix(lines[len(lines)-1], ","+strconv.FormatInt(zeros, 10)), lines[len(lines)-1])
		})
	}
}
