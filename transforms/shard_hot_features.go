package transforms

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.Function2x1[string, FeatureFreq, int64](dropFeature)
	register.Function1x1[int64, int64](AutoThreshold)
	register.Function2x0[int64, func(string, int32)](noHot)
	register.DoFn4x0[string, FeatureFreq, func(*int64) bool, func(string, int32)](&hotFn{})
	register.DoFn4x0[FeatureKey, Postings, func(string) func(*int32) bool, func(FeatureKey, Postings)](&shardPostingsFn{})
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

// ShardHotFeatures finds the hot features (postings above the threshold),
// and moves each of their Postings to one of the feature's shard keys,
// chosen by block, so every shard holds a similar share of the postings.
// A block's postings of a feature stay in one shard. Returns the sharded
// postings, PCollection<KV<FeatureKey, Postings>>, and the hot table,
// PCollection<KV<string, int32>> from feature to shard count, which
// DistributeParameters needs to fan parameter rows out.
func ShardHotFeatures(s beam.Scope, idx Index, p ShardingParams) (postings, hot beam.PCollection) {
	s = s.Scope("dpmr.ShardHotFeatures")
	if p.Threshold == 0 {
		return idx.Postings, beam.ParDo(s, noHot, beam.CreateList(s, []int64{}))
	}
	var threshold beam.PCollection
	if p.Threshold > 0 {
		threshold = beam.Create(s, p.Threshold)
	} else {
		threshold = beam.ParDo(s, AutoThreshold, beam.Combine(s, sumInt64, beam.ParDo(s, dropFeature, idx.Freq)))
	}
	hot = beam.ParDo(s, &hotFn{}, idx.Freq, beam.SideInput{Input: threshold})
	postings = beam.ParDo(s, &shardPostingsFn{}, idx.Postings, beam.SideInput{Input: hot})
	return postings, hot
}

// noHot makes an empty hot table.
func noHot(int64, func(string, int32)) {}

func dropFeature(_ string, f FeatureFreq) int64 { return f.Postings }

type hotFn struct{}

func (f *hotFn) ProcessElement(name string, freq FeatureFreq, threshold func(*int64) bool, emit func(string, int32)) {
	var t int64
	for threshold(&t) {
	}
	if k := ShardCount(freq.Postings, t); k > 1 {
		emit(name, k)
	}
}

type shardPostingsFn struct{}

func (f *shardPostingsFn) ProcessElement(k FeatureKey, p Postings, hot func(string) func(*int32) bool, emit func(FeatureKey, Postings)) {
	var shards int32
	iter := hot(k.Name)
	for iter(&shards) {
	}
	if shards > 1 {
		k.Shard = 1 + BlockShard(p.Block, shards)
	}
	emit(k, p)
}

// BlockShard spreads blocks over n shards: block keys of one file share
// their high bits, so they are mixed first.
func BlockShard(block int64, n int32) int32 {
	x := uint64(block) * 0x9E3779B97F4A7C15
	return int32((x >> 32) % uint64(n))
}
