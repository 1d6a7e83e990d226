package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn4x0[string, model.Row, func(string) func(*int32) bool, func(FeatureKey, model.Row)](&fanOutRowFn{})
	register.Iter1[int32]()
	register.Emitter2[FeatureKey, model.Row]()
	register.DoFn5x1[context.Context, FeatureKey, func(*model.Row) bool, func(*Postings) bool, func(int64, WeightedPostings), error](&distributeFn{})
	register.Iter1[model.Row]()
	register.Iter1[Postings]()
	register.Emitter2[int64, WeightedPostings]()
}

// DistributeParameters sends every feature's current weight and step to
// the blocks that use it: a CoGroupByKey on feature of the parameter rows
// and the postings, emitting one WeightedPostings per (feature, block).
// Rows of hot features are first fanned out to each of their shards (hot
// maps a feature to its shard count; features absent from it are not
// sharded). When missingIsZero is set, postings of a feature without a row
// get weight 0 (prediction: unseen features); otherwise that is an error.
//
// Expects rows PCollection<KV<string, model.Row>>, postings
// PCollection<KV<FeatureKey, Postings>> and hot PCollection<KV<string,
// int32>>; returns PCollection<KV<int64, WeightedPostings>> keyed by block.
func DistributeParameters(s beam.Scope, rows, postings, hot beam.PCollection, missingIsZero bool) beam.PCollection {
	s = s.Scope("dpmr.DistributeParameters")
	keyed := beam.ParDo(s, &fanOutRowFn{}, rows, beam.SideInput{Input: hot})
	return beam.ParDo(s, &distributeFn{MissingIsZero: missingIsZero}, beam.CoGroupByKey(s, keyed, postings))
}

// fanOutRowFn is the keyed fan-out of parameter rows: one copy per shard
// of a hot feature, one under the plain key otherwise.
type fanOutRowFn struct{}

func (f *fanOutRowFn) ProcessElement(name string, row model.Row, hot func(string) func(*int32) bool, emit func(FeatureKey, model.Row)) {
	var shards int32
	iter := hot(name)
	for iter(&shards) {
	}
	if shards <= 1 {
		emit(FeatureKey{Name: name}, row)
		return
	}
	for k := int32(1); k <= shards; k++ {
		emit(FeatureKey{Name: name, Shard: k}, row)
	}
}

type distributeFn struct {
	MissingIsZero bool
}

// distributeKeySize measures the keys of DistributeParameters' shuffle in
// postings: its count is the number of keys, max the largest, sum/count
// the mean. A hot feature's giant key shows up here, and sharding's effect.
var distributeKeySize = beam.NewDistribution(MetricsNamespace, "DistributeParameters.key_postings")

func (f *distributeFn) ProcessElement(ctx context.Context, key FeatureKey, rows func(*model.Row) bool, postings func(*Postings) bool, emit func(int64, WeightedPostings)) error {
	var row model.Row
	found := false
	for rows(&row) {
		if found {
			return fmt.Errorf("dpmr: feature %q has more than one parameter row", key.Name)
		}
		found = true
	}
	var p Postings
	var size int64
	for postings(&p) {
		if !found && !f.MissingIsZero {
			return fmt.Errorf("dpmr: feature %q has postings but no parameter row", key.Name)
		}
		size += int64(len(p.Rows))
		emit(p.Block, WeightedPostings{Feature: key.Name, W: row.W, D: row.D, Rows: p.Rows, Vals: p.Vals})
	}
	if size > 0 {
		distributeKeySize.Update(ctx, size)
	}
	return nil
}
