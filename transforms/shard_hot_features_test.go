package transforms

import (
	"math"
	"strconv"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
)

func init() {
	register.Function3x0[int32, BlockFeatures, func(featRef)](featRefs)
	register.Emitter1[featRef]()
}

// featRef is one (block, feature, column) reference of the inverted index,
// whatever element carries it.
type featRef struct {
	Block int64
	Name  string
	Col   int32
}

func featRefs(_ int32, bf BlockFeatures, emit func(featRef)) {
	for i, name := range bf.Names {
		emit(featRef{Block: bf.Block, Name: name, Col: bf.Cols[i]})
	}
}

func refsOf(recs []featRec) []featRef {
	var out []featRef
	for _, r := range recs {
		for i, name := range r.Names {
			out = append(out, featRef{Block: r.Block, Name: name, Col: r.Cols[i]})
		}
	}
	return out
}

// shardParts partitions the sharding tests' keys:
//
//	hot, warm: 1; cold: 3
//	hot's shard keys 1, 2, 3: partitions 0, 3, 2
//
// The index: hot is in 4 blocks (0, 2, 3, 10) with 8 postings, warm in 3
// (0, 1, 2) with 3, cold in block 0 with 1. Block keys are chosen so that
// BlockShard(block, 3) covers all three shards (see TestBlockShard):
// 0 -> 0, 2 -> 2, 3 -> 0, 10 -> 1.
const shardParts = 4

var (
	shardPartitions = map[FeatureKey]int32{
		{Name: "hot"}: 1, {Name: "warm"}: 1, {Name: "cold"}: 3,
		{Name: "hot", Shard: 1}: 0, {Name: "hot", Shard: 2}: 3, {Name: "hot", Shard: 3}: 2,
	}
	shardFeatures = []featRec{
		{Part: 1, Block: 0, Names: []string{"hot", "warm"}, Cols: []int32{1, 2}},
		{Part: 3, Block: 0, Names: []string{"cold"}, Cols: []int32{0}},
		{Part: 1, Block: 1, Names: []string{"warm"}, Cols: []int32{0}},
		{Part: 1, Block: 2, Names: []string{"hot", "warm"}, Cols: []int32{0, 1}},
		{Part: 1, Block: 3, Names: []string{"hot"}, Cols: []int32{0}},
		{Part: 1, Block: 10, Names: []string{"hot"}, Cols: []int32{0}},
	}
	shardFreq = []featureFreq{
		{Name: "hot", Postings: 8, SumSq: 204},
		{Name: "warm", Postings: 3, SumSq: 3},
		{Name: "cold", Postings: 1, SumSq: 1},
	}
)

func shardIndexOf(s beam.Scope, features []featRec, freq []featureFreq) Index {
	return Index{Features: keyed(s, fromFeatRec, features), Freq: keyed(s, fromFreqRec, freqPacks(shardParts, freq...))}
}

func TestShardHotFeatures(t *testing.T) {
	requirePartitions(t, shardParts, shardPartitions)
	t.Run("threshold=0", func(t *testing.T) {
		// Sharding off: block features pass unchanged, the hot table is
		// empty.
		onRunners(t, bothRunners, func(s beam.Scope) {
			features, hot := ShardHotFeatures(s, shardIndexOf(s, shardFeatures, shardFreq), ShardingParams{Threshold: 0}, shardParts)
			passert.EqualsList(s, beam.ParDo(s, toFeatRec, features), shardFeatures)
			passert.Empty(s, hot)
		})
	})
	t.Run("threshold=3", func(t *testing.T) {
		// hot: 8 > 3 postings -> ceil(8/3) = 3 shards. warm: 3 is not above
		// 3, so not sharded; cold neither. Each block's reference to hot
		// moves, alone, to the partition of shard 1 + BlockShard(block, 3)
		// with its column; the rest stay. Block 3 and 10 used only hot, so
		// partition 1 keeps nothing of them.
		want := []featRec{
			{Part: 0, Block: 0, Names: []string{"hot"}, Cols: []int32{1}}, // shard 1 + 0
			{Part: 1, Block: 0, Names: []string{"warm"}, Cols: []int32{2}},
			{Part: 3, Block: 0, Names: []string{"cold"}, Cols: []int32{0}},
			{Part: 1, Block: 1, Names: []string{"warm"}, Cols: []int32{0}},
			{Part: 2, Block: 2, Names: []string{"hot"}, Cols: []int32{0}}, // shard 1 + 2
			{Part: 1, Block: 2, Names: []string{"warm"}, Cols: []int32{1}},
			{Part: 0, Block: 3, Names: []string{"hot"}, Cols: []int32{0}},  // shard 1 + 0
			{Part: 3, Block: 10, Names: []string{"hot"}, Cols: []int32{0}}, // shard 1 + 1
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			features, hot := ShardHotFeatures(s, shardIndexOf(s, shardFeatures, shardFreq), ShardingParams{Threshold: 3}, shardParts)
			passert.EqualsList(s, beam.ParDo(s, toHotRec, hot), []hotRec{{Name: "hot", Shards: 3}})
			passert.EqualsList(s, beam.ParDo(s, toFeatRec, features), want)
			// Nothing lost, nothing doubled.
			passert.EqualsList(s, beam.ParDo(s, featRefs, features), refsOf(shardFeatures))
		})
	})
	t.Run("threshold=auto/small", func(t *testing.T) {
		// 12 postings in all: the derived threshold is MinAutoThreshold,
		// far above every feature, so nothing is sharded.
		onRunners(t, bothRunners, func(s beam.Scope) {
			features, hot := ShardHotFeatures(s, shardIndexOf(s, shardFeatures, shardFreq), ShardingParams{Threshold: -1}, shardParts)
			passert.EqualsList(s, beam.ParDo(s, toFeatRec, features), shardFeatures)
			passert.Empty(s, hot)
		})
	})
	t.Run("threshold=auto/big", func(t *testing.T) {
		// big has 30000 postings, mid 15000 (both in partition 1), bulk
		// 20455000 (partition 2) and small 5 (partition 3): 20500000 in
		// all, counted across partitions, so the threshold is
		// ceil(20500000/1024) = 20020, not MinAutoThreshold (at which mid
		// would be hot). big gets ceil(30000/20020) = 2 shards and bulk
		// ceil(20455000/20020) = 1022; mid and small stay. Only big, mid
		// and small are used by the blocks below: big's reference in block
		// 0 goes to shard 1 + BlockShard(0, 2) = 1 (partition 2), in block
		// 1 to 1 + BlockShard(1, 2) = 2 (partition 3).
		requirePartitions(t, shardParts, map[FeatureKey]int32{
			{Name: "big"}: 1, {Name: "mid"}: 1, {Name: "bulk"}: 2, {Name: "small"}: 3,
			{Name: "big", Shard: 1}: 2, {Name: "big", Shard: 2}: 3,
		})
		features := []featRec{
			{Part: 1, Block: 0, Names: []string{"big", "mid"}, Cols: []int32{0, 1}},
			{Part: 1, Block: 1, Names: []string{"big"}, Cols: []int32{0}},
			{Part: 3, Block: 1, Names: []string{"small"}, Cols: []int32{1}},
		}
		freq := []featureFreq{
			{Name: "big", Postings: 30000}, {Name: "mid", Postings: 15000},
			{Name: "bulk", Postings: 20455000}, {Name: "small", Postings: 5},
		}
		want := []featRec{
			{Part: 2, Block: 0, Names: []string{"big"}, Cols: []int32{0}},
			{Part: 1, Block: 0, Names: []string{"mid"}, Cols: []int32{1}},
			{Part: 3, Block: 1, Names: []string{"big"}, Cols: []int32{0}},
			{Part: 3, Block: 1, Names: []string{"small"}, Cols: []int32{1}},
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			sharded, hot := ShardHotFeatures(s, shardIndexOf(s, features, freq), ShardingParams{Threshold: -1}, shardParts)
			passert.EqualsList(s, beam.ParDo(s, toHotRec, hot), []hotRec{{Name: "big", Shards: 2}, {Name: "bulk", Shards: 1022}})
			passert.EqualsList(s, beam.ParDo(s, toFeatRec, sharded), want)
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
		{20500000, 20020},                                      // used above
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

// TestPartitionOf checks that partitions are in range, that a shard key
// is a key of its own (the shards of a hot feature spread over the
// partitions rather than all landing with their parent), and that names
// spread evenly.
func TestPartitionOf(t *testing.T) {
	for _, n := range []int32{1, 2, 3, 64, 1000} {
		count := make([]int, n)
		const names = 20000
		for i := 0; i < names; i++ {
			k := FeatureKey{Name: "f" + strconv.Itoa(i)}
			p := PartitionOf(k, n)
			if p < 0 || p >= n {
				t.Fatalf("PartitionOf(%+v, %d) = %d, outside [0, %d)", k, n, p, n)
			}
			if again := PartitionOf(k, n); again != p {
				t.Fatalf("PartitionOf(%+v, %d) is %d, then %d", k, n, p, again)
			}
			count[p]++
		}
		// Counts of a uniform hash are binomial: each within 5 standard
		// deviations of the mean, and their chi-square statistic (about
		// n-1, standard deviation sqrt(2(n-1))) within 5 of those.
		even := float64(names) / float64(n)
		chi2 := 0.0
		for p, c := range count {
			dev := float64(c) - even
			chi2 += dev * dev / even
			if math.Abs(dev) > 5*math.Sqrt(even) {
				t.Errorf("%d partitions: partition %d has %d of %d names, want about %.0f", n, p, c, names, even)
			}
		}
		if dof := float64(n - 1); chi2 > dof+5*math.Sqrt(2*dof)+1 {
			t.Errorf("%d partitions: chi-square %.1f of the counts, want about %.0f", n, chi2, dof)
		}
	}
	// The 64 shards of one feature over 64 partitions: a key's shard must
	// move it, so they cover many partitions, not one.
	seen := map[int32]bool{}
	for k := int32(1); k <= 64; k++ {
		seen[PartitionOf(FeatureKey{Name: "hot", Shard: k}, 64)] = true
	}
	if len(seen) < 32 {
		t.Errorf("64 shards of one feature cover only %d of 64 partitions", len(seen))
	}
}
