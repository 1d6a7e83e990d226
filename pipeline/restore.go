package pipeline

import (
	"context"
	"fmt"
	"path"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register.DoFn3x0[int64, transforms.BlockWeights, func(int32, transforms.BlockWeights)](&weightsByShardFn{})
	register.Emitter2[int32, transforms.BlockWeights]()
	register.Function1x2[int32, int32, int32](shardKey)
	register.DoFn5x1[context.Context, int32, func(*int32) bool, func(*transforms.BlockWeights) bool, func(transforms.SufficientBlock), error](&restoreShardFn{})
	register.Iter1[int32]()
	register.DoFn6x1[context.Context, int32, func(*int32) bool, func(*transforms.BlockWeights) bool, model.Choice, func(int32, transforms.GradPack), error](&gradientRestoreFn{})
	register.DoFn2x0[transforms.SearchedBlock, func(int32, transforms.SearchedBlock)](&searchedByShardFn{})
	register.Emitter2[int32, transforms.SearchedBlock]()
	register.Iter1[transforms.SearchedBlock]()
	register.DoFn7x1[context.Context, int32, func(*int32) bool, func(*transforms.SearchedBlock) bool, model.Choice, func(int32, transforms.GradPack), func(transforms.KeptMargins), error](&gradientShardFn{})
}

// RestoreFromIndex is transforms.RestoreDocuments with the inverted blocks
// read where their weights are grouped instead of shuffled to them. The
// blocks never change, yet shuffling them to their weights moved every
// posting through the runner once per trip (twice a pass for subspace).
// Now a pass moves only weights: they are grouped by the index shard that
// holds their block (the index's blocks are sharded by
// transforms.BlockShard), and each shard's file is streamed, checked
// against the manifest, and its blocks restored one at a time by
// transforms.RestoreBlock. Every shard is visited, so a block that no
// weight reaches is still restored (its columns, if any, then fail as
// missing). files are the index's "blocks" dataset. Expects weights
// PCollection<KV<int64, BlockWeights>>; returns PCollection<
// SufficientBlock>.
// margins, if any, are the margins the blocks kept in the pass before
// (PassParams.Margins), one file per index shard: each block gets its own
// from the file beside its shard's, read the same way.
// With keyLoads, each shard's CPU time, the blocks' work fused after it
// included, is reported (transforms.StartKeyLoad).
func RestoreFromIndex(s beam.Scope, files, margins []ShardFile, weights beam.PCollection, keyLoads bool) beam.PCollection {
	return TripToIndex(s, files, margins, weights).Restore(s, keyLoads)
}

// IndexTrip is one trip's weights keyed by the index shard that holds
// their blocks, with the files to restore them from (RestoreFromIndex).
type IndexTrip struct {
	visit, keyed beam.PCollection // KV<int32, int32>, KV<int32, BlockWeights>
	files        restoreShardFn
	shards       int32 // the index's shard count, which keys a block
}

// TripToIndex keys a trip's weights by index shard; see RestoreFromIndex.
func TripToIndex(s beam.Scope, files, margins []ShardFile, weights beam.PCollection) IndexTrip {
	s = s.Scope("dpmr.RestoreDocuments")
	byShard, n := indexShards(files)
	var kept map[int32]ShardFile
	if len(margins) > 0 {
		var err error
		if kept, err = marginShards(margins, n); err != nil {
			panic("pipeline: " + err.Error())
		}
	}
	keyed := beam.ParDo(s, &weightsByShardFn{Shards: n}, weights)
	return IndexTrip{visit: visitShards(s, byShard), keyed: keyed, files: restoreShardFn{Files: byShard, Margins: kept}, shards: n}
}

// Restore restores the trip's blocks, PCollection<SufficientBlock>.
func (t IndexTrip) Restore(s beam.Scope, keyLoads bool) beam.PCollection {
	s = s.Scope("dpmr.RestoreDocuments")
	fn := t.files
	fn.KeyLoads = keyLoads
	return beam.ParDo(s, &fn, beam.CoGroupByKey(s, t.visit, t.keyed))
}

// Gradients is transforms.ComputeGradients over the trip's blocks
// restored a second time, after the line search has chosen: each block
// is differentiated as it is restored and dropped. The choice is a side
// input, and the local runners keep a stage's input in memory until its
// side inputs are done, so the blocks restored for the line search and
// kept for the gradients held every posting of the data at once (1.6 GB
// of the 2.7 GB live in an lbfgs pass at 100M nonzeros on direct); now
// the weights wait, grouped a second time (a grouping's output cannot
// be shared between stages on prism, which has to encode it). Returns
// PCollection<KV<int32, GradPack>>.
func (t IndexTrip) Gradients(s beam.Scope, choice beam.PCollection, p transforms.GradientParams) beam.PCollection {
	s = s.Scope("dpmr.ComputeGradients")
	return beam.ParDo(s, &gradientRestoreFn{Restore: t.files, Params: p}, beam.CoGroupByKey(s, t.visit, t.keyed), beam.SideInput{Input: choice})
}

// SubspaceGradients is Gradients for subspace (transforms.
// SubspaceGradients): what the search left of each block (transforms.
// SearchedBlock) waits for the choice in place of the weights, grouped by
// the index shard that holds the block, and each block's postings are
// read again from the shard. Expects searched.Blocks
// PCollection<SearchedBlock>; returns PCollection<KV<int32, GradPack>> and
// the margins the blocks keep, PCollection<KeptMargins>.
func (t IndexTrip) SubspaceGradients(s beam.Scope, searched transforms.Searched, memory int) (grads, kept beam.PCollection) {
	s = s.Scope("dpmr.ComputeGradients")
	keyed := beam.ParDo(s, &searchedByShardFn{Shards: t.shards}, searched.Blocks)
	return beam.ParDo2(s, &gradientShardFn{Files: t.files.Files, Memory: memory}, beam.CoGroupByKey(s, t.visit, keyed),
		beam.SideInput{Input: searched.Choice})
}

// visitShards keys each index shard that has a file by itself: grouped
// with what is sent to the shards, it makes every shard's file read,
// whether or not anything reached it.
func visitShards(s beam.Scope, byShard map[int32]ShardFile) beam.PCollection {
	shards := make([]int32, 0, len(byShard))
	for shard := range byShard {
		shards = append(shards, shard)
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i] < shards[j] })
	return beam.ParDo(s, shardKey, beam.CreateList(s, shards))
}

// eachIndexBlock streams an index shard's blocks to fn, in the file's
// order.
func eachIndexBlock(ctx context.Context, sf ShardFile, fn func(block int64, doc transforms.DocBlock) error) error {
	return streamShard(ctx, sf, func(rec []byte) error {
		block, doc, err := decodeDocsRecord(rec)
		if err != nil {
			return notDecodable("blocks", err)
		}
		return fn(block, doc)
	})
}

// indexShards maps the blocks dataset's files to their shard numbers, and
// returns how many shards the dataset was written as. A shard with no
// blocks has no file. The driver has checked the names (checkBlockShards).
func indexShards(files []ShardFile) (map[int32]ShardFile, int32) {
	byShard, n, err := blockShards(files)
	if err != nil {
		panic("pipeline: " + err.Error())
	}
	return byShard, n
}

// checkBlockShards reports an index whose blocks files are not all named
// blocks-SSSSS-of-NNNNN with one NNNNN: a hand-edited manifest.
func checkBlockShards(m *Manifest) error {
	_, _, err := blockShards(m.Dataset("blocks"))
	return err
}

func blockShards(files []ShardFile) (map[int32]ShardFile, int32, error) {
	return shardsOf(files, "index", "blocks", 0)
}

// marginShards checks a margins dataset against an index of n block
// shards: named as a shard of n.
func marginShards(files []ShardFile, n int32) (map[int32]ShardFile, error) {
	byShard, _, err := shardsOf(files, "snapshot", "margins", int(n))
	return byShard, err
}

// shardsOf maps a dataset's files, dataset-SSSSS-of-NNNNN, to their shard
// numbers and returns NNNNN, which must be the same for all (and n, if
// not 0). where says what holds them, for the error.
func shardsOf(files []ShardFile, where, dataset string, n int) (map[int32]ShardFile, int32, error) {
	byShard := map[int32]ShardFile{}
	want := "NNNNN, one NNNNN"
	if n != 0 {
		want = fmt.Sprintf("%05d, as the index's blocks", n)
	}
	for _, sf := range files {
		shard, of, ok := ParseShardName(path.Base(sf.Path), dataset)
		if !ok || (n != 0 && of != n) {
			return nil, 0, fmt.Errorf("%s file %s is not named as a shard of its %s (%s-SSSSS-of-%s)", where, sf.Path, dataset, dataset, want)
		}
		n = of
		byShard[int32(shard)] = sf
	}
	return byShard, int32(max(n, 1)), nil
}

func shardKey(shard int32) (int32, int32) { return shard, shard }

type weightsByShardFn struct{ Shards int32 }

func (f *weightsByShardFn) ProcessElement(block int64, w transforms.BlockWeights, emit func(int32, transforms.BlockWeights)) {
	emit(transforms.BlockShard(block, f.Shards), w)
}

type restoreShardFn struct {
	Files    map[int32]ShardFile
	Margins  map[int32]ShardFile // nil: the blocks kept none
	KeyLoads bool
}

func (f *restoreShardFn) ProcessElement(ctx context.Context, shard int32, visit func(*int32) bool, weights func(*transforms.BlockWeights) bool, emit func(transforms.SufficientBlock)) error {
	if f.KeyLoads {
		defer transforms.StartKeyLoad().Report(ctx, transforms.RestoreStage, shard)
	}
	return f.restore(ctx, shard, visit, weights, emit)
}

// gradientRestoreFn restores a shard's blocks as restoreShardFn does and
// differentiates each at the choice as soon as it is restored.
type gradientRestoreFn struct {
	Restore restoreShardFn
	Params  transforms.GradientParams
}

func (f *gradientRestoreFn) ProcessElement(ctx context.Context, shard int32, visit func(*int32) bool, weights func(*transforms.BlockWeights) bool, c model.Choice, emit func(int32, transforms.GradPack)) error {
	return f.Restore.restore(ctx, shard, visit, weights, func(b transforms.SufficientBlock) {
		transforms.BlockGradients(b, c, f.Params, emit)
	})
}

func (f *restoreShardFn) restore(ctx context.Context, shard int32, visit func(*int32) bool, weights func(*transforms.BlockWeights) bool, emit func(transforms.SufficientBlock)) error {
	var v int32
	for visit(&v) {
	}
	byBlock := map[int64][]transforms.BlockWeights{}
	for {
		var w transforms.BlockWeights
		if !weights(&w) {
			break
		}
		byBlock[w.Block] = append(byBlock[w.Block], w)
	}
	sf, ok := f.Files[shard]
	if !ok {
		for block := range byBlock {
			return fmt.Errorf("dpmr: weights for block %d, whose index shard %d has no file (index out of step)", block, shard)
		}
		return nil
	}
	kept, err := f.keptMargins(ctx, shard, sf)
	if err != nil {
		return err
	}
	var postings int64
	err = eachIndexBlock(ctx, sf, func(block int64, doc transforms.DocBlock) error {
		ws := byBlock[block]
		delete(byBlock, block)
		sb, err := transforms.RestoreBlock(block, doc, func(w *transforms.BlockWeights) bool {
			if len(ws) == 0 {
				return false
			}
			*w, ws = ws[0], ws[1:]
			return true
		})
		if err != nil {
			return err
		}
		if kept != nil {
			m, ok := kept[block]
			if !ok {
				return fmt.Errorf("dpmr: block %d kept no margins in %s (snapshot out of step)", block, f.Margins[shard].Path)
			}
			delete(kept, block)
			sb.Kept = m
		}
		postings += int64(len(sb.Rows))
		emit(sb)
		return nil
	})
	if err != nil {
		return err
	}
	for block := range byBlock {
		return fmt.Errorf("dpmr: weights for block %d, which index shard %s does not hold (index out of step)", block, sf.Path)
	}
	for block := range kept {
		return fmt.Errorf("dpmr: margins for block %d, which index shard %s does not hold (snapshot out of step)", block, sf.Path)
	}
	transforms.RestoreKeySize.Update(ctx, postings)
	return nil
}

// keptMargins reads the margins the blocks of an index shard kept (nil
// when the pass has none).
func (f *restoreShardFn) keptMargins(ctx context.Context, shard int32, blocks ShardFile) (map[int64]model.SubspaceMargins, error) {
	if f.Margins == nil {
		return nil, nil
	}
	sf, ok := f.Margins[shard]
	if !ok {
		return nil, fmt.Errorf("dpmr: index shard %s has no margins file beside it (snapshot out of step)", blocks.Path)
	}
	kept := map[int64]model.SubspaceMargins{}
	err := streamShard(ctx, sf, func(rec []byte) error {
		k, err := transforms.DecodeKeptMargins(rec)
		if err != nil {
			return notDecodable("margins", err)
		}
		kept[k.Block] = k.Margins
		return nil
	})
	return kept, err
}

type searchedByShardFn struct{ Shards int32 }

func (f *searchedByShardFn) ProcessElement(b transforms.SearchedBlock, emit func(int32, transforms.SearchedBlock)) {
	emit(transforms.BlockShard(b.Block, f.Shards), b)
}

type gradientShardFn struct {
	Files  map[int32]ShardFile
	Memory int
}

func (f *gradientShardFn) ProcessElement(ctx context.Context, shard int32, visit func(*int32) bool, searched func(*transforms.SearchedBlock) bool, c model.Choice,
	emit func(int32, transforms.GradPack), keep func(transforms.KeptMargins)) error {
	var v int32
	for visit(&v) {
	}
	byBlock := map[int64]transforms.SearchedBlock{}
	var b transforms.SearchedBlock
	for searched(&b) {
		if _, dup := byBlock[b.Block]; dup {
			return fmt.Errorf("dpmr: block %d was searched twice (index out of step)", b.Block)
		}
		byBlock[b.Block] = b
	}
	sf, ok := f.Files[shard]
	if !ok {
		for block := range byBlock {
			return fmt.Errorf("dpmr: block %d was searched, but its index shard %d has no file (index out of step)", block, shard)
		}
		return nil
	}
	err := eachIndexBlock(ctx, sf, func(block int64, doc transforms.DocBlock) error {
		b, ok := byBlock[block]
		if !ok {
			return fmt.Errorf("dpmr: block %d of index shard %s was not searched (index out of step)", block, sf.Path)
		}
		delete(byBlock, block)
		k, err := transforms.SubspaceGradients(doc, b, c, f.Memory, emit)
		if err != nil {
			return err
		}
		keep(k)
		return nil
	})
	if err != nil {
		return err
	}
	for block := range byBlock {
		return fmt.Errorf("dpmr: block %d was searched, but index shard %s does not hold it (index out of step)", block, sf.Path)
	}
	return nil
}
