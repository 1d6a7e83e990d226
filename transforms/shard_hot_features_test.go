package transforms

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
)

// shardIndex is an index of three features:
//
//	hot:  4 blocks (0, 2, 3, 10) x 2 postings = 8 postings
//	warm: 3 blocks (0, 1, 2) x 1 posting      = 3 postings
//	cold: block 0, 1 posting
//
// Block keys are chosen so that BlockShard(block, 3) covers all three
// shards (see TestBlockShard): 0 -> 0, 2 -> 2, 3 -> 0, 10 -> 1.
var (
	shardPostings = []postingRec{
		{Name: "hot", Block: 0, Rows: []int32{0, 1}, Vals: []float64{1, 2}},
		{Name: "hot", Block: 2, Rows: []int32{0, 3}, Vals: []float64{3, 4}},
		{Name: "hot", Block: 3, Rows: []int32{1, 2}, Vals: []float64{5, 6}},
		{Name: "hot", Block: 10, Rows: []int32{0, 2}, Vals: []float64{7, 8}},
		{Name: "warm", Block: 0, Rows: []int32{2}, Vals: []float64{1}},
		{Name: "warm", Block: 1, Rows: []int32{0}, Vals: []float64{1}},
		{Name: "warm", Block: 2, Rows: []int32{1}, Vals: []float64{1}},
		{Name: "cold", Block: 0, Rows: []int32{3}, Vals: []float64{1}},
	}
	shardFreq = []freqRec{
		{Name: "hot", Postings: 8, SumSq: 204},
		{Name: "warm", Postings: 3, SumSq: 3},
		{Name: "cold", Postings: 1, SumSq: 1},
	}
)

func shardIndexOf(s beam.Scope, postings []postingRec, freq []freqRec) Index {
	return Index{Postings: keyed(s, fromPostingRec, postings), Freq: keyed(s, fromFreqRec, freq)}
}

// withShard returns a copy of p under the given shard key.
func withShard(p postingRec, shard int32) postingRec {
	p.Shard = shard
	return p
}

func TestShardHotFeatures(t *testing.T) {
	t.Run("threshold=0", func(t *testing.T) {
		// Sharding off: postings pass unchanged, the hot table is empty.
		onRunners(t, bothRunners, func(s beam.Scope) {
			postings, hot := ShardHotFeatures(s, shardIndexOf(s, shardPostings, shardFreq), ShardingParams{Threshold: 0})
			passert.EqualsList(s, beam.ParDo(s, toPostingRec, postings), shardPostings)
			passert.Empty(s, hot)
		})
	})
	t.Run("threshold=3", func(t *testing.T) {
		// hot: 8 > 3 postings -> ceil(8/3) = 3 shards. warm: 3 is not above
		// 3, so not sharded; cold neither. Each of hot's Postings moves to
		// shard 1 + BlockShard(block, 3) and keeps its block, rows, values.
		want := []postingRec{
			withShard(shardPostings[0], 1), // block 0:  1 + 0
			withShard(shardPostings[1], 3), // block 2:  1 + 2
			withShard(shardPostings[2], 1), // block 3:  1 + 0
			withShard(shardPostings[3], 2), // block 10: 1 + 1
			shardPostings[4], shardPostings[5], shardPostings[6], shardPostings[7],
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			postings, hot := ShardHotFeatures(s, shardIndexOf(s, shardPostings, shardFreq), ShardingParams{Threshold: 3})
			passert.EqualsList(s, beam.ParDo(s, toHotRec, hot), []hotRec{{Name: "hot", Shards: 3}})
			passert.EqualsList(s, beam.ParDo(s, toPostingRec, postings), want)
		})
	})
	t.Run("threshold=auto/small", func(t *testing.T) {
		// 12 postings in all: the derived threshold is MinAutoThreshold,
		// far above every feature, so nothing is sharded.
		onRunners(t, bothRunners, func(s beam.Scope) {
			postings, hot := ShardHotFeatures(s, shardIndexOf(s, shardPostings, shardFreq), ShardingParams{Threshold: -1})
			passert.EqualsList(s, beam.ParDo(s, toPostingRec, postings), shardPostings)
			passert.Empty(s, hot)
		})
	})
	t.Run("threshold=auto/big", func(t *testing.T) {
		// big has 5001 + 5000 = 10001 postings in blocks 0 and 1, small has
		// 5: 10006 in all, so the threshold is max(10000, ceil(10006/1024)
		// = 10) = 10000 and big gets ceil(10001/10000) = 2 shards. Block 0
		// goes to shard 1 + BlockShard(0, 2) = 1, block 1 to
		// 1 + BlockShard(1, 2) = 2.
		big0 := postingRec{Name: "big", Block: 0, Rows: make([]int32, 5001), Vals: make([]float64, 5001)}
		big1 := postingRec{Name: "big", Block: 1, Rows: make([]int32, 5000), Vals: make([]float64, 5000)}
		for i := range big0.Rows {
			big0.Rows[i], big0.Vals[i] = int32(i), 1
		}
		for i := range big1.Rows {
			big1.Rows[i], big1.Vals[i] = int32(i), 1
		}
		small := postingRec{Name: "small", Block: 1, Rows: []int32{0, 1, 2, 3, 4}, Vals: []float64{1, 1, 1, 1, 1}}
		postings := []postingRec{big0, big1, small}
		freq := []freqRec{{Name: "big", Postings: 10001, SumSq: 10001}, {Name: "small", Postings: 5, SumSq: 5}}
		want := []postingRec{withShard(big0, 1), withShard(big1, 2), small}
		onRunners(t, bothRunners, func(s beam.Scope) {
			sharded, hot := ShardHotFeatures(s, shardIndexOf(s, postings, freq), ShardingParams{Threshold: -1})
			passert.EqualsList(s, beam.ParDo(s, toHotRec, hot), []hotRec{{Name: "big", Shards: 2}})
			passert.EqualsList(s, beam.ParDo(s, toPostingRec, sharded), want)
		})
	})
}

func TestAutoThreshold(t *testing.T) {
	for _, c := range []struct{ nonzeros, want int64 }{
		{0, MinAutoThreshold},
		{1, MinAutoThreshold},
		{MinAutoThreshold * AutoParts, MinAutoThreshold},       // exactly 10000 per part
		{MinAutoThreshold*AutoParts + 1, MinAutoThreshold + 1}, // rounds up
		{20000 * AutoParts, 20000},                             // 1/1024 of all postings
		{20000*AutoParts - AutoParts + 1, 20000},               // ceil
		{20000*AutoParts - AutoParts, 19999},                   // exact
		{1 << 40, 1 << 30},                                     // 2^40 / 2^10
	} {
		if got := AutoThreshold(c.nonzeros); got != c.want {
			t.Errorf("AutoThreshold(%d) = %d, want %d", c.nonzeros, got, c.want)
		}
	}
}

func TestShardCount(t *testing.T) {
	for _, c := range []struct {
		freq, threshold int64
		want            int32
	}{
		{5, 0, 0},  // sharding off
		{5, -1, 0}, // not a threshold (the derived one is resolved before)
		{5, 5, 0},  // at the threshold: not hot
		{6, 5, 2},  // just above: 2 shards
		{10, 5, 2}, // 2 shards of 5
		{11, 5, 3}, // ceil(11/5)
		{1, 1, 0},
		{2, 1, 2},
		{10001, 10000, 2},
		{1 << 40, 1 << 20, 1 << 20},
	} {
		if got := ShardCount(c.freq, c.threshold); got != c.want {
			t.Errorf("ShardCount(%d, %d) = %d, want %d", c.freq, c.threshold, got, c.want)
		}
	}
}

// TestBlockShard checks BlockShard's values used above and that it
// spreads consecutive blocks evenly over the shards.
func TestBlockShard(t *testing.T) {
	// BlockShard(b, n) = ((b * 0x9E3779B97F4A7C15 mod 2^64) >> 32) mod n:
	//   b = 0: 0                                  -> 0 for every n
	//   b = 1: 0x9E3779B9 = 2654435769 (odd; digit sum 51, a multiple of 3)
	//          -> 1 mod 2, 0 mod 3
	//   b = 2: 0x3C6EF372 = 1013904242 (digit sum 26) -> 2 mod 3
	for _, c := range []struct {
		block int64
		n     int32
		want  int32
	}{
		{0, 2, 0}, {1, 2, 1}, {0, 3, 0}, {1, 3, 0}, {2, 3, 2},
		{3, 3, 0}, {10, 3, 1}, // as computed by BlockShard; used by TestShardHotFeatures
	} {
		if got := BlockShard(c.block, c.n); got != c.want {
			t.Errorf("BlockShard(%d, %d) = %d, want %d", c.block, c.n, got, c.want)
		}
	}
	// Blocks of one file share the high bits (file<<40); 3000 consecutive
	// blocks of file 0 and of file 5 must fill every shard evenly: within
	// 10% of 3000/n each.
	for _, n := range []int32{2, 3, 5, 7, 16} {
		for _, file := range []int64{0, 5} {
			count := make([]int, n)
			for b := int64(0); b < 3000; b++ {
				k := BlockShard(file<<40|b, n)
				if k < 0 || k >= n {
					t.Fatalf("BlockShard(%d, %d) = %d, outside [0, %d)", file<<40|b, n, k, n)
				}
				count[k]++
			}
			even := 3000 / float64(n)
			for k, c := range count {
				if float64(c) < 0.9*even || float64(c) > 1.1*even {
					t.Errorf("file %d, %d shards: shard %d has %d of 3000 blocks, want about %.0f (all: %v)", file, n, k, c, even, count)
				}
			}
		}
	}
}
