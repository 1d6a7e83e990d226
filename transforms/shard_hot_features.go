package transforms

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.Function2x1[int32, FreqPack, int64](freqPostings)
	register.Function1x1[int64, int64](AutoThreshold)
	register.Function2x0[int64, func(string, int32)](noHot)
	register.DoFn4x0[int32, FreqPack, func(*int64) bool, func(string, int32)](&hotFn{})
	register.DoFn4x0[int32, BlockFeatures, func(*string, *int32) bool, func(int32, BlockFeatures)](&shardFeaturesFn{})
	register.Iter2[string, int32]()
}

// ShardingParams configure hot-feature sharding.
type ShardingParams struct {
	// Threshold is the number of postings above which a feature is split
	// into shards of at most Threshold postings each (by whole blocks, so
	// about that many). 0 disables sharding; a negative value derives it
	// from the data: max(MinAutoThreshold, nonzeros/AutoParts), so that no
	// key holds more than 1/AutoParts of all postings.
	Threshold int64
}

// Defaults of the derived threshold.
const (
	AutoParts        = 1024
	MinAutoThreshold = 10000
)

// AutoThreshold is the derived threshold for an index of nonzeros postings.
func AutoThreshold(nonzeros int64) int64 {
	return max(MinAutoThreshold, (nonzeros+AutoParts-1)/AutoParts)
}

// ShardCount is the number of shards a feature of freq postings gets.
func ShardCount(freq, threshold int64) int32 {
	if threshold <= 0 || freq <= threshold {
		return 0
	}
	return int32((freq + threshold - 1) / threshold)
}

// ShardHotFeatures finds the hot features (postings above the threshold)
// and moves each block's reference to a hot feature to one of the
// feature's shard keys, chosen by block, so that the feature's weight is
// served to its blocks from several partitions (DistributeParameters fans
// its row out to them). Returns the resharded block features,
// PCollection<KV<int32, BlockFeatures>>, and the hot table,
// PCollection<KV<string, int32>> from feature to shard count.
func ShardHotFeatures(s beam.Scope, idx Index, p ShardingParams, partitions int32) (features, hot beam.PCollection) {
	s = s.Scope("dpmr.ShardHotFeatures")
	if p.Threshold == 0 {
		return idx.Features, beam.ParDo(s, noHot, beam.CreateList(s, []int64{}))
	}
	var threshold beam.PCollection
	if p.Threshold > 0 {
		threshold = beam.Create(s, p.Threshold)
	} else {
		threshold = beam.ParDo(s, AutoThreshold, beam.Combine(s, sumInt64, beam.ParDo(s, freqPostings, idx.Freq)))
	}
	hot = beam.ParDo(s, &hotFn{}, idx.Freq, beam.SideInput{Input: threshold})
	features = beam.ParDo(s, &shardFeaturesFn{Partitions: partitions}, idx.Features, beam.SideInput{Input: hot})
	return features, hot
}

// noHot makes an empty hot table.
func noHot(int64, func(string, int32)) {}

func freqPostings(_ int32, f FreqPack) int64 {
	var n int64
	for _, c := range f.Postings {
		n += c
	}
	return n
}

type hotFn struct{}

func (f *hotFn) ProcessElement(_ int32, freq FreqPack, threshold func(*int64) bool, emit func(string, int32)) {
	var t int64
	for threshold(&t) {
	}
	for i, name := range freq.Names {
		if k := ShardCount(freq.Postings[i], t); k > 1 {
			emit(name, k)
		}
	}
}

// hotTable caches the hot side input, which is small (at most AutoParts
// features when derived), as a map. Side inputs are in the global window,
// so one load serves the DoFn's life.
type hotTable struct {
	m map[string]int32
}

func (h *hotTable) load(iter func(*string, *int32) bool) map[string]int32 {
	if h.m == nil {
		h.m = map[string]int32{}
		var name string
		var k int32
		for iter(&name, &k) {
			h.m[name] = k
		}
	}
	return h.m
}

type shardFeaturesFn struct {
	Partitions int32
	hot        hotTable
}

func (f *shardFeaturesFn) ProcessElement(p int32, bf BlockFeatures, hot func(*string, *int32) bool, emit func(int32, BlockFeatures)) {
	table := f.hot.load(hot)
	if len(table) == 0 {
		emit(p, bf)
		return
	}
	kept := BlockFeatures{Block: bf.Block}
	for i, name := range bf.Names {
		if shards := table[name]; shards > 1 {
			key := FeatureKey{Name: name, Shard: 1 + BlockShard(bf.Block, shards)}
			emit(PartitionOf(key, f.Partitions), BlockFeatures{Block: bf.Block, Names: []string{name}, Cols: []int32{bf.Cols[i]}})
			continue
		}
		kept.Names = append(kept.Names, name)
		kept.Cols = append(kept.Cols, bf.Cols[i])
	}
	if len(kept.Names) > 0 {
		emit(p, kept)
	}
}

// BlockShard spreads blocks over n shards: block keys of one file share
// their high bits, so they are mixed first.
func BlockShard(block int64, n int32) int32 {
	x := uint64(block) * 0x9E3779B97F4A7C15
	return int32((x >> 32) % uint64(n))
}
