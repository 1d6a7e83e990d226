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
	"github.com/dpmr/dpmr/transforms"
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

// TestSubspaceGradientsRefuseOutOfStep: the gradient stage reads each
// block from its index shard and pairs it with what the search left of it;
// a block on one side only, or one whose columns or samples differ, is an
// error naming the block, never a gradient silently missing.
func TestSubspaceGradientsRefuseOutOfStep(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	require.NoError(t, os.WriteFile(data, []byte("1 a:1 b:2\n0 b:1\n1 a:3\n0 c:1\n"), 0o644))
	train := model.TrainParams{Lambda: 1, Bias: true, BlockSize: 2, Iterations: 1, Tol: -1, GTol: -1, GapTol: -1}
	ctx := context.Background()
	_, err := Train(ctx, TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "work"), Output: filepath.Join(dir, "model"),
		Train: train, Shards: 1, Run: runnerFor("direct")})
	require.NoError(t, err)
	index, err := ReadManifest(ctx, filepath.Join(dir, "work", "index"))
	require.NoError(t, err)
	byShard, _ := indexShards(index.Dataset("blocks"))
	require.Len(t, byShard, 1)
	var blocks []int64
	require.NoError(t, eachIndexBlock(ctx, byShard[0], func(block int64, _ transforms.DocBlock) error {
		blocks = append(blocks, block)
		return nil
	}))
	require.Len(t, blocks, 2)

	run := func(searched ...transforms.SearchedBlock) error {
		visit := func(*int32) bool { return false }
		next := func(b *transforms.SearchedBlock) bool {
			if len(searched) == 0 {
				return false
			}
			*b, searched = searched[0], searched[1:]
			return true
		}
		return (&gradientShardFn{Files: byShard, Memory: 5}).ProcessElement(ctx, 0, visit, next, model.Choice{},
			func(int32, transforms.GradPack) {}, func(transforms.KeptMargins) {})
	}
	// Each block has 2 samples and 3 columns (2 features and the intercept).
	fits := func(block int64) transforms.SearchedBlock {
		return transforms.SearchedBlock{Block: block, IDs: make([]transforms.RowID, 3), Margins: model.SubspaceMargins{ZW: []float64{0, 0}}}
	}
	require.NoError(t, run(fits(blocks[0]), fits(blocks[1])))
	require.ErrorContains(t, run(fits(blocks[0])), fmt.Sprintf("block %d of index shard", blocks[1]))
	require.ErrorContains(t, run(fits(blocks[0]), fits(blocks[1]), fits(blocks[1]+1000)), fmt.Sprintf("block %d was searched, but index shard", blocks[1]+1000))
	require.ErrorContains(t, run(fits(blocks[0]), fits(blocks[0])), fmt.Sprintf("block %d was searched twice", blocks[0]))
	short := fits(blocks[1])
	short.IDs = short.IDs[:2]
	require.ErrorContains(t, run(fits(blocks[0]), short), fmt.Sprintf("block %d has 3 columns and 2 samples, its search 2 and 2", blocks[1]))
}
