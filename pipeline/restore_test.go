package pipeline

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

// TestBlocksWithoutWeightsStillCount trains, without an intercept, on data
// whose blocks of label-only lines have no columns, so no weight is ever
// sent to them: RestoreFromIndex must still restore them from the index,
// or their samples' loss (log 2 each) would be missing from J. Many index
// shards make most blocks the only one of their shard.
func TestBlocksWithoutWeightsStillCount(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < 48; i++ {
		if i/4%3 == 1 {
			fmt.Fprintf(&b, "%d\n", i%2) // a whole block of samples with no features
			continue
		}
		fmt.Fprintf(&b, "%d f%d:1 g%d:%d\n", i%2, i%5, i%7, 1+i%3)
	}
	data := filepath.Join(dir, "data.txt")
	require.NoError(t, os.WriteFile(data, []byte(b.String()), 0o644))
	train := model.TrainParams{Lambda: 1, Bias: false, BlockSize: 4, Iterations: 3, Tol: -1, GTol: -1, GapTol: -1}
	ref, _ := reference(t, []string{data}, train)
	for _, runner := range []string{"direct", "prism"} {
		t.Run(runner, func(t *testing.T) {
			res, err := Train(context.Background(), TrainConfig{
				Inputs: []string{data}, WorkDir: filepath.Join(dir, "work-"+runner), Output: filepath.Join(dir, "model-"+runner),
				Train: train, Shards: 16, Run: runnerFor(runner),
			})
			require.NoError(t, err)
			require.Len(t, res.History, len(ref.History))
			for i := range ref.History {
				require.InDelta(t, ref.History[i].J, res.History[i].J, oracleTol*math.Abs(ref.History[i].J), "J of pass %d", i)
			}
			requireClose(t, ref.Weights(), readModelWeights(t, res.Model), oracleTol)
		})
	}
}

// TestBadlyNamedIndexShardIsAnError: a manifest listing a blocks file not
// named as a shard of one dataset is refused with the file's name.
func TestBadlyNamedIndexShardIsAnError(t *testing.T) {
	good := []ShardFile{{Path: "/w/index/blocks-00000-of-00002"}, {Path: "/w/index/blocks-00001-of-00002"}}
	byShard, n, err := blockShards(good)
	require.NoError(t, err)
	require.Equal(t, int32(2), n)
	require.Equal(t, good[1], byShard[1])
	for _, bad := range [][]ShardFile{
		{{Path: "/w/index/blocks-old.bin"}},
		{good[0], {Path: "/w/index/blocks-00001-of-00003"}},
	} {
		_, _, err := blockShards(bad)
		require.ErrorContains(t, err, "is not named as a shard of its blocks")
		require.ErrorContains(t, err, bad[len(bad)-1].Path)
	}
}
