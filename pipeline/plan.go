package pipeline

import (
	"context"
	"hash/fnv"
	"sort"

	"github.com/dpmr/dpmr/transforms"
)

// StagePlan predicts how one keyed stage's work spreads over workers when
// the runner hash-partitions its keys, as Flink, Spark and Dataflow do.
// Work is counted in postings, the unit every stage's cost follows.
type StagePlan struct {
	Stage    string  `json:"stage"`
	Sharded  bool    `json:"sharded"`
	Workers  int     `json:"workers"`
	Keys     int64   `json:"keys"`
	Total    int64   `json:"total_postings"`
	LargestK int64   `json:"largest_key"`
	Balance  float64 `json:"balance"` // largest worker's load / mean load
	Speedup  float64 `json:"speedup"` // total / largest worker's load
	// Bound is the best speedup any assignment could reach: the stage
	// cannot finish before its largest key, total/largest_key, nor use
	// more than Workers workers.
	Bound float64 `json:"bound"`
}

// KeySizes are the postings per key of an index's keyed stages.
type KeySizes struct {
	Features map[string]int64                // DistributeParameters, unsharded
	Sharded  map[transforms.FeatureKey]int64 // DistributeParameters, hot features sharded
	Blocks   map[int64]int64                 // RestoreDocuments
	Total    int64
}

// ReadKeySizes reads an index's postings and counts the postings of every
// key, unsharded and with hot features sharded at threshold (0: the
// derived threshold; shards as ShardHotFeatures assigns them, by block).
func ReadKeySizes(ctx context.Context, index *Manifest, threshold int64) (*KeySizes, error) {
	type fb struct {
		name  string
		block int64
	}
	perBlock := map[fb]int64{}
	ks := &KeySizes{Features: map[string]int64{}, Sharded: map[transforms.FeatureKey]int64{}, Blocks: map[int64]int64{}}
	for _, f := range index.Dataset("postings") {
		data, err := readFile(ctx, f.Path)
		if err != nil {
			return nil, err
		}
		err = forEachRecord(f, data, func(rec []byte) error {
			k, p, err := decodePostingsRecord(rec)
			if err != nil {
				return err
			}
			n := int64(len(p.Rows))
			perBlock[fb{k.Name, p.Block}] += n
			ks.Features[k.Name] += n
			ks.Blocks[p.Block] += n
			ks.Total += n
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if threshold <= 0 {
		threshold = transforms.AutoThreshold(ks.Total)
	}
	for k, n := range perBlock {
		key := transforms.FeatureKey{Name: k.name}
		if shards := transforms.ShardCount(ks.Features[k.name], threshold); shards > 1 {
			key.Shard = 1 + transforms.BlockShard(k.block, shards)
		}
		ks.Sharded[key] += n
	}
	return ks, nil
}

// Plan predicts the load balance of the keyed stages on each worker count.
func (ks *KeySizes) Plan(workers []int) []StagePlan {
	var out []StagePlan
	for _, w := range workers {
		out = append(out,
			planStage("DistributeParameters", false, w, ks.Total, sizesOf(ks.Features, func(k string) []byte { return []byte(k) })),
			planStage("DistributeParameters", true, w, ks.Total, sizesOf(ks.Sharded, func(k transforms.FeatureKey) []byte {
				return transforms.AppendFeatureKey(nil, k)
			})),
			planStage("RestoreDocuments", false, w, ks.Total, sizesOf(ks.Blocks, func(k int64) []byte { return int64Key(k) })),
		)
	}
	return out
}

type keySize struct {
	key  []byte
	size int64
}

func sizesOf[K comparable](m map[K]int64, enc func(K) []byte) []keySize {
	out := make([]keySize, 0, len(m))
	for k, n := range m {
		out = append(out, keySize{enc(k), n})
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].key) < string(out[j].key) })
	return out
}

func planStage(stage string, sharded bool, workers int, total int64, keys []keySize) StagePlan {
	load := make([]int64, workers)
	var largest int64
	for _, k := range keys {
		h := fnv.New64a()
		h.Write(k.key)
		load[h.Sum64()%uint64(workers)] += k.size
		largest = max(largest, k.size)
	}
	var most int64
	for _, l := range load {
		most = max(most, l)
	}
	p := StagePlan{Stage: stage, Sharded: sharded, Workers: workers, Keys: int64(len(keys)), Total: total, LargestK: largest}
	if most > 0 {
		p.Balance = float64(most) / (float64(total) / float64(workers))
		p.Speedup = float64(total) / float64(most)
		p.Bound = min(float64(workers), float64(total)/float64(largest))
	}
	return p
}
