package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
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

// TestPlanReadsAnIndex reads a real index: the work of DistributeParameters'
// keys is the (feature, block) pairs of the index, sharded or not, and
// RestoreDocuments' the postings; sharding moves pairs between partitions
// and loses none.
func TestPlanReadsAnIndex(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 3000, Features: 500, PerSample: 9, Seed: 51})
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "w"),
		Output: filepath.Join(dir, "m"), Train: model.TrainParams{Lambda: 1, Bias: true, BlockSize: 50, Iterations: 1},
		Sharding: transforms.ShardingParams{Threshold: 300}, Shards: 2, Partitions: 16, Run: runnerFor("direct")})
	require.NoError(t, err)
	index, err := ReadManifest(context.Background(), filepath.Join(dir, "w", "index"))
	require.NoError(t, err)
	ks, err := ReadKeySizes(context.Background(), index)
	require.NoError(t, err)
	require.Equal(t, res.Index.Nonzeros, ks.Postings)
	sum := func(m map[int32]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	require.EqualValues(t, 60, ks.Blocks)
	require.Len(t, ks.Shards, 2, "60 blocks in the index's 2 shards")
	require.Equal(t, ks.Postings, sum(ks.Shards))
	require.Equal(t, ks.Pairs, sum(ks.Partitions))
	require.Equal(t, ks.Pairs, sum(ks.Sharded), "sharding moves pairs, never loses them")
	require.NotEqual(t, ks.Partitions, ks.Sharded, "the intercept (3000 postings) is sharded at 300")
	require.LessOrEqual(t, len(ks.Partitions), 16)
	for _, p := range ks.Plan([]int{4}) {
		require.LessOrEqual(t, p.Speedup, p.Bound+1e-9, "%+v", p)
		require.Positive(t, p.Speedup)
	}
}

// TestCheckPlanTimesEveryKey runs passes with their keys timed (the
// bench's --plan-workers) on two runners: every key dpmr plan counts is
// timed and no other, in both trips of a subspace pass; on one worker the
// measured balance is 1; and timing changes nothing the pass computes.
func TestCheckPlanTimesEveryKey(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 1500, Features: 400, PerSample: 8, Seed: 52})
	for _, runner := range []string{"direct", "prism"} {
		t.Run(runner, func(t *testing.T) {
			ctx := context.Background()
			var js [2][]float64
			var benches [2]*Bench
			for i, timed := range []bool{false, true} {
				b, err := NewBench(BenchConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, fmt.Sprintf("%s-%v", runner, timed)),
					Shards: 3, Partitions: 16, Run: runnerFor(runner), KeyLoads: timed,
					Train:    model.TrainParams{Lambda: 1, Bias: true, BlockSize: 50},
					Sharding: transforms.ShardingParams{Threshold: 300}})
				require.NoError(t, err)
				_, err = b.Setup(ctx)
				require.NoError(t, err)
				for range 2 { // pass 1 is subspace's first with both trips
					f, _, err := b.Step(ctx)
					require.NoError(t, err)
					js[i] = append(js[i], f.J)
				}
				benches[i] = b
			}
			require.Equal(t, js[0], js[1], "J with keys timed")
			b := benches[1]
			ks, err := ReadKeySizes(ctx, b.index)
			require.NoError(t, err)
			keysOf := func(m map[int32]int64) []int32 {
				var out []int32
				for k := range m {
					out = append(out, k)
				}
				slices.Sort(out)
				return out
			}
			require.Equal(t, keysOf(ks.Sharded), keysOf(b.loads[transforms.DistributeStage]), "DistributeParameters' keys")
			require.Equal(t, keysOf(ks.Shards), keysOf(b.loads[transforms.RestoreStage]), "RestoreDocuments' keys")
			for stage, times := range b.loads {
				for k, ns := range times {
					require.Positive(t, ns, "%s key %d", stage, k)
				}
			}
			checks, err := b.CheckPlan(ctx, []int{1, 4})
			require.NoError(t, err)
			require.Len(t, checks, 4)
			for _, c := range checks {
				require.Equal(t, c.Predicted.Keys, c.TimedKeys, "%+v", c)
				require.Equal(t, c.Predicted.Keys, c.Measured.Keys, "%+v", c)
				if c.Predicted.Workers == 1 {
					require.Equal(t, 1.0, c.Measured.Balance, "%+v", c)
				}
			}
			_, err = benches[0].CheckPlan(ctx, []int{4})
			require.ErrorContains(t, err, "no key times")
		})
	}
}
