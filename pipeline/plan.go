package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/transforms"
)

// StagePlan predicts how one keyed stage's work spreads over workers when
// the runner hash-partitions its keys, as Flink, Spark and Dataflow do.
// DistributeParameters' keys are parameter partitions and its work is
// (feature, block) pairs served; RestoreDocuments' keys are the index's
// block shards (RestoreFromIndex) and its work is their postings, which
// the blocks' search and gradients, fused with it, follow.
type StagePlan struct {
	Stage    string  `json:"stage"`
	Sharded  bool    `json:"sharded"`
	Workers  int     `json:"workers"`
	Keys     int64   `json:"keys"`
	Total    int64   `json:"total"`
	LargestK int64   `json:"largest_key"`
	Balance  float64 `json:"balance"` // largest worker's load / mean load
	Speedup  float64 `json:"speedup"` // total / largest worker's load
	// Bound is the best speedup any assignment could reach: the stage
	// cannot finish before its largest key, total/largest_key, nor use
	// more than Workers workers.
	Bound float64 `json:"bound"`
}

// KeySizes are the work per key of an index's keyed stages.
type KeySizes struct {
	Partitions map[int32]int64 // DistributeParameters, hot features not sharded: pairs
	Sharded    map[int32]int64 // DistributeParameters as the index is sharded: pairs
	Shards     map[int32]int64 // RestoreDocuments: postings per index shard
	Blocks     int64           // sample blocks in the index
	Pairs      int64           // (feature, block) pairs
	Postings   int64
}

// ReadKeySizes reads an index and counts the work of every key: the
// (feature, block) pairs each parameter partition serves, as the index's
// hot features are sharded and as they would be unsharded, and the
// postings of every index shard of blocks.
func ReadKeySizes(ctx context.Context, index *Manifest) (*KeySizes, error) {
	var meta IndexMeta
	if err := json.Unmarshal(index.Meta, &meta); err != nil || meta.Partitions < 1 {
		return nil, fmt.Errorf("the index has no parameter partitions (written by an older dpmr?)")
	}
	ks := &KeySizes{Partitions: map[int32]int64{}, Sharded: map[int32]int64{}, Shards: map[int32]int64{}}
	err := eachRecord(ctx, index.Dataset("features"), func(rec []byte) error {
		p, br, err := decodeFeaturesRecord(rec)
		if err != nil {
			return err
		}
		ks.Sharded[p] += int64(len(br.IDs))
		ks.Pairs += int64(len(br.IDs))
		for _, id := range br.IDs {
			ks.Partitions[id.Part]++ // where the row lives: its partition unsharded
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	byShard, _, err := blockShards(index.Dataset("blocks"))
	if err != nil {
		return nil, err
	}
	for shard, sf := range byShard {
		err = eachRecord(ctx, []ShardFile{sf}, func(rec []byte) error {
			return decodeDocs(rec, func(block int64, doc transforms.DocBlock) {
				ks.Shards[shard] += int64(len(doc.Rows))
				ks.Postings += int64(len(doc.Rows))
				ks.Blocks++
			})
		})
		if err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// eachRecord calls f on every record of a dataset's files as it streams
// them (streamShard): the driver's memory does not grow with a dataset.
func eachRecord(ctx context.Context, files []ShardFile, f func(rec []byte) error) error {
	for _, sf := range files {
		if err := streamShard(ctx, sf, f); err != nil {
			return err
		}
	}
	return nil
}

// Plan predicts the load balance of the keyed stages on each worker count.
func (ks *KeySizes) Plan(workers []int) []StagePlan {
	var out []StagePlan
	for _, w := range workers {
		out = append(out,
			planStage(transforms.DistributeStage, false, w, ks.Pairs, sizesOf(ks.Partitions, partitionKey)),
			planStage(transforms.DistributeStage, true, w, ks.Pairs, sizesOf(ks.Sharded, partitionKey)),
			planStage(transforms.RestoreStage, false, w, ks.Postings, sizesOf(ks.Shards, partitionKey)),
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

// PlanCheck sets a keyed stage's predicted spread over workers (Plan,
// from the index's counts) beside the one measured (from each key's CPU
// time in a pass, transforms.StartKeyLoad), the keys given to workers by
// the same hash: whether the counts the plan reads are the work a worker
// does. Measured's Total and LargestK are in nanoseconds.
type PlanCheck struct {
	Predicted StagePlan `json:"predicted"`
	Measured  StagePlan `json:"measured"`
	// TimedKeys counts the keys timed; a key the plan counts but no
	// worker timed (or the reverse) means the check does not hold.
	TimedKeys int64 `json:"timed_keys"`
}

// CheckPlan compares the plan of each worker count with the key times of
// a pass: DistributeParameters as the index is sharded, and
// RestoreDocuments.
func (ks *KeySizes) CheckPlan(workers []int, loads map[string]map[int32]int64) []PlanCheck {
	var out []PlanCheck
	for _, w := range workers {
		for _, st := range []struct {
			stage   string
			sharded bool
			total   int64
			counts  map[int32]int64
		}{
			{transforms.DistributeStage, true, ks.Pairs, ks.Sharded},
			{transforms.RestoreStage, false, ks.Postings, ks.Shards},
		} {
			times := loads[st.stage]
			var total int64
			for _, ns := range times {
				total += ns
			}
			out = append(out, PlanCheck{
				Predicted: planStage(st.stage, st.sharded, w, st.total, sizesOf(st.counts, partitionKey)),
				Measured:  planStage(st.stage, st.sharded, w, total, sizesOf(times, partitionKey)),
				TimedKeys: int64(len(times)),
			})
		}
	}
	return out
}

// KeyLoads reads a pass's key times (transforms.StartKeyLoad) from its
// result, by stage and key, summed over the steps that report them. A
// runner that reports no metrics gives none.
func KeyLoads(res beam.PipelineResult) map[string]map[int32]int64 {
	out := map[string]map[int32]int64{}
	if res == nil {
		return out
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace != transforms.MetricsNamespace {
			continue
		}
		stage, key, ok := transforms.ParseKeyLoad(c.Key.Name)
		if !ok {
			continue
		}
		if out[stage] == nil {
			out[stage] = map[int32]int64{}
		}
		out[stage][key] += c.Result()
	}
	return out
}
