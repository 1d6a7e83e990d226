package pipeline

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
	"github.com/stretchr/testify/require"
)

func TestPlanStageHandChecked(t *testing.T) {
	// Keys of sizes 6, 1, 1 over two workers: hashing decides which
	// worker gets what, but the bound is fixed: total 8 / largest 6.
	keys := []keySize{{[]byte("a"), 6}, {[]byte("b"), 1}, {[]byte("c"), 1}}
	p := planStage("s", false, 2, 8, keys)
	require.EqualValues(t, 6, p.LargestK)
	require.InDelta(t, 8.0/6, p.Bound, 1e-12)
	require.LessOrEqual(t, p.Speedup, p.Bound+1e-12)
	require.InDelta(t, 2/p.Speedup, p.Balance, 1e-12, "balance = workers/speedup")
	one := planStage("s", false, 1, 8, keys)
	require.Equal(t, 1.0, one.Speedup)
	require.Equal(t, 1.0, one.Balance)
}

// TestPlanShowsTheInterceptCapsScaling reads a real index: unsharded, the
// intercept's key (every sample) caps the speedup at total/samples;
// sharding lifts the cap.
func TestPlanShowsTheInterceptCapsScaling(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 3000, Features: 500, PerSample: 9, Seed: 51})
	_, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "w"),
		Output: filepath.Join(dir, "m"), Train: model.TrainParams{Lambda: 1, Bias: true, BlockSize: 50, Iterations: 1},
		Sharding: transforms.ShardingParams{Threshold: 0}, Shards: 2, Run: runnerFor("direct")})
	require.NoError(t, err)
	index, err := ReadManifest(context.Background(), filepath.Join(dir, "w", "index"))
	require.NoError(t, err)
	ks, err := ReadKeySizes(context.Background(), index, 300)
	require.NoError(t, err)
	require.EqualValues(t, 3000, ks.Features[model.BiasName])
	var sum int64
	for _, n := range ks.Sharded {
		sum += n
	}
	require.Equal(t, ks.Total, sum, "sharding moves postings, never loses them")
	for _, p := range ks.Plan([]int{64}) {
		switch {
		case p.Stage == "DistributeParameters" && !p.Sharded:
			require.EqualValues(t, 3000, p.LargestK)
			require.InDelta(t, float64(ks.Total)/3000, p.Bound, 1e-9)
		case p.Stage == "DistributeParameters" && p.Sharded:
			require.Less(t, p.LargestK, int64(600))
			require.Greater(t, p.Bound, float64(ks.Total)/3000)
		}
	}
}
