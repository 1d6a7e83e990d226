package pipeline

import (
	"bufio"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/dpmr/dpmr/model"
	_ "github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/transforms"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	beamlog.LogLevel = "warn" // the runners log every job's plan at INFO
	ptest.MainWithDefault(m, "direct")
}

// oracleTol is the agreement required between pipeline and reference
// trainer. Both run the same arithmetic in the same order with exact
// per-feature sums, so they agree far tighter in practice.
const oracleTol = 1e-9

func runnerFor(name string) Runner {
	return func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		return beam.Run(ctx, name, p)
	}
}

func writeSynth(t *testing.T, dir string, p model.SynthParams) string {
	t.Helper()
	path := filepath.Join(dir, "train.txt")
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = model.Synthesize(f, p)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return path
}

// readModelWeights reads a trained model's weights files.
func readModelWeights(t *testing.T, info *ModelInfo) map[string]float64 {
	t.Helper()
	w := map[string]float64{}
	for _, f := range info.Files {
		fh, err := os.Open(f.Path)
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			name, val, ok := strings.Cut(sc.Text(), "\t")
			require.True(t, ok)
			x, err := strconv.ParseFloat(val, 64)
			require.NoError(t, err)
			w[name] = x
		}
		fh.Close()
	}
	return w
}

func reference(t *testing.T, paths []string, p model.TrainParams) (*model.Trainer, string) {
	t.Helper()
	p = p.WithDefaults()
	d, err := model.ReadDataset(paths, p.Bias, p.BlockSize)
	require.NoError(t, err)
	tr, err := model.NewTrainer(d, p, nil)
	require.NoError(t, err)
	return tr, tr.Train(nil)
}

func requireClose(t *testing.T, want, got map[string]float64, tol float64) {
	t.Helper()
	require.Equal(t, len(want), len(got), "feature count")
	worst, worstName := 0.0, ""
	for name, w := range want {
		g, ok := got[name]
		require.True(t, ok, "feature %q missing from the pipeline's model", name)
		d := math.Abs(w-g) / math.Max(1, math.Abs(w))
		if d > worst {
			worst, worstName = d, name
		}
	}
	require.LessOrEqual(t, worst, tol, "feature %q: reference %v, pipeline %v", worstName, want[worstName], got[worstName])
}

func TestTrainMatchesReference(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 3000, Features: 400, PerSample: 8, Seed: 7, Noise: 0.05})
	cases := []struct {
		name   string
		runner string
		train  model.TrainParams
		shard  int64
	}{
		{"lbfgs/direct/B=64", "direct", model.TrainParams{Lambda: 1, Bias: true, BlockSize: 64, Iterations: 6}, 0},
		{"lbfgs/prism/B=1", "prism", model.TrainParams{Lambda: 1, Bias: true, BlockSize: 1, Iterations: 3}, 0},
		{"gd/direct/B=1", "direct", model.TrainParams{Lambda: 0.5, Bias: true, Optimizer: model.GD, BlockSize: 1, Iterations: 3}, 0},
		{"gd/prism/B=100", "prism", model.TrainParams{Lambda: 0.5, Bias: true, Optimizer: model.GD, BlockSize: 100, Iterations: 4}, 0},
		{"averaging/direct/B=300", "direct", model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.Averaging, BlockSize: 300, Iterations: 3}, 0},
		{"averaging/prism/B=500", "prism", model.TrainParams{Lambda: 1, Bias: false, Optimizer: model.Averaging, BlockSize: 500, Iterations: 2}, 0},
		{"lbfgs/direct/sharded", "direct", model.TrainParams{Lambda: 1, Bias: true, BlockSize: 16, Iterations: 4}, 200},
		{"lbfgs/prism/sharded", "prism", model.TrainParams{Lambda: 1, Bias: true, BlockSize: 16, Iterations: 4}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.train.Tol, tc.train.GTol = -1, -1
			ref, refStop := reference(t, []string{data}, tc.train)
			res, err := Train(context.Background(), TrainConfig{
				Inputs: []string{data}, WorkDir: filepath.Join(dir, "work-"+strings.ReplaceAll(tc.name, "/", "-")),
				Output: filepath.Join(dir, "model-"+strings.ReplaceAll(tc.name, "/", "-")),
				Train:  tc.train, Sharding: transforms.ShardingParams{Threshold: tc.shard}, Shards: 3,
				Run: runnerFor(tc.runner),
			})
			require.NoError(t, err)
			require.Equal(t, refStop, res.Model.StopReason)
			require.Len(t, res.History, len(ref.History))
			for i := range ref.History {
				require.InDelta(t, ref.History[i].J, res.History[i].J, oracleTol*math.Abs(ref.History[i].J), "J of pass %d", i)
			}
			requireClose(t, ref.Weights(), readModelWeights(t, res.Model), oracleTol)
		})
	}
}
