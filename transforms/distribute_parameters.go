package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn4x0[int32, RowPack, func(*string, *int32) bool, func(int32, RowPack)](&fanOutRowsFn{})
	register.DoFn4x1[int32, func(*RowPack) bool, func(*BlockFeatures) bool, func(int32, BlockRows), error](&assignRowIDsFn{})
	register.DoFn5x1[context.Context, int32, func(*RowPack) bool, func(*BlockRows) bool, func(int64, BlockWeights), error](&distributeFn{})
	register.Iter1[BlockFeatures]()
	register.Iter1[BlockRows]()
	register.Emitter2[int32, BlockRows]()
	register.Emitter2[int64, BlockWeights]()
}

// AssignRowIDs resolves the index's block features against the parameter
// rows, once, at setup: each column gets the RowID of its feature's row,
// so that no pass looks a name up. It is DistributeParameters' own
// CoGroupByKey, on partition, of the rows (hot features' fanned out) and
// the block features, and returns what every pass then distributes by:
// PCollection<KV<int32, BlockRows>>, keyed as the features were. The ids
// stay valid for every later pass because a partition's rows never change
// (names ascending, as InitParameters and ExpandClasses lay them out).
// When missingIsZero is set a feature without a row gets NoRow (a test
// set or samples to score: an unseen feature weighs 0); otherwise that is
// an error.
//
// Expects rows PCollection<KV<int32, RowPack>>, features
// PCollection<KV<int32, BlockFeatures>> (ShardHotFeatures') and hot its
// PCollection<KV<string, int32>>.
func AssignRowIDs(s beam.Scope, rows, features, hot beam.PCollection, partitions int32, missingIsZero bool) beam.PCollection {
	s = s.Scope("dpmr.AssignRowIDs")
	// Classes 0: a multiclass feature's class rows travel as copies of
	// their own, of which class 0's, where the feature's id points, is kept.
	keyed := beam.ParDo(s, &fanOutRowsFn{Partitions: partitions, Fields: NamesOnly}, rows, beam.SideInput{Input: hot})
	return beam.ParDo(s, &assignRowIDsFn{MissingIsZero: missingIsZero}, beam.CoGroupByKey(s, keyed, features))
}

type assignRowIDsFn struct{ MissingIsZero bool }

func (f *assignRowIDsFn) ProcessElement(p int32, rows func(*RowPack) bool, features func(*BlockFeatures) bool, emit func(int32, BlockRows)) error {
	ids := map[string]RowID{}
	own := 0
	var pack RowPack
	for rows(&pack) {
		if pack.From == nil {
			own++
			if own > 1 {
				return fmt.Errorf("dpmr: partition %d has two parameter row packs", p)
			}
		}
		for i, row := range pack.Names {
			name, c := model.RowFeature(row)
			if c > 0 {
				if pack.From == nil && !followsClass(pack.Names, i, name, c) {
					return fmt.Errorf("dpmr: parameter row %q does not follow its feature's class %d row", row, c-1)
				}
				continue
			}
			id := RowID{Part: p, Pos: int32(i)}
			if pack.From != nil {
				id = *pack.From
			}
			if old, ok := ids[name]; ok && old != id {
				return fmt.Errorf("dpmr: feature %q has two parameter rows", name)
			}
			ids[name] = id
		}
	}
	var bf BlockFeatures
	for features(&bf) {
		out := BlockRows{Block: bf.Block, Cols: bf.Cols, IDs: make([]RowID, len(bf.Names))}
		for i, name := range bf.Names {
			id, ok := ids[name]
			if !ok {
				if !f.MissingIsZero {
					return fmt.Errorf("dpmr: feature %q is used by block %d but has no parameter row", name, bf.Block)
				}
				id = NoRow
			}
			out.IDs[i] = id
		}
		emit(p, out)
	}
	return nil
}

// followsClass tells whether names[i], class c > 0 of feature name, comes
// right after the same feature's class c-1: a feature's class rows are
// consecutive, class 0 first, which is what a RowID of class 0 relies on.
func followsClass(names []string, i int, name string, c int) bool {
	if i == 0 {
		return false
	}
	prev, pc := model.RowFeature(names[i-1])
	return prev == name && pc == c-1
}

// DistributeParameters sends every feature's current weight and step to
// the blocks that use it: a CoGroupByKey on partition of the parameter
// rows and the index's BlockRows (AssignRowIDs), emitting for each
// (partition, block) one BlockWeights with the weights of that block's
// columns the partition serves, each found by its RowID. Rows of hot
// features are first fanned out to the partitions of their shard keys. A
// column with NoRow weighs 0.
//
// Expects rows PCollection<KV<int32, RowPack>>, routes PCollection<KV<int32,
// BlockRows>> and hot PCollection<KV<string, int32>>; returns
// PCollection<KV<int64, BlockWeights>> keyed by block.
func DistributeParameters(s beam.Scope, rows, routes, hot beam.PCollection, partitions int32) beam.PCollection {
	return Distribute(s, rows, routes, hot, DistributeParams{Partitions: partitions})
}

// DistributeParams configure Distribute.
type DistributeParams struct {
	Partitions int32
	Fields     RowFields // what of each row the blocks get
	KeyLoads   bool      // time each partition (StartKeyLoad)
	// Classes is K under multiclass: a column gets its feature's K rows
	// (model.ClassRow), side by side. 0 for two classes.
	Classes int
}

// RowFields say what of each row the blocks get. Subspace's trips after
// pass 0 send only the fields the blocks read (BlockWeights' G, H and U),
// and no W or D: its blocks keep their
// margins at W and along the past steps (model.SubspaceMargins.Kept)
// instead of getting W and the steps.
type RowFields int

const (
	WeightsAndSteps RowFields = iota // W and D: the optimizer's history stays behind
	NewtonRows                       // G and H: subspace's first trip (LocalNewton)
	SearchRows                       // G, H and U: subspace's search (SearchMargins)
	NamesOnly                        // the rows' names and no rows: AssignRowIDs
)

// Distribute is DistributeParameters as p says: subspace's blocks need
// more of each row than its weight and step.
func Distribute(s beam.Scope, rows, routes, hot beam.PCollection, p DistributeParams) beam.PCollection {
	s = s.Scope("dpmr.DistributeParameters")
	keyed := beam.ParDo(s, &fanOutRowsFn{Partitions: p.Partitions, Fields: p.Fields, Classes: p.Classes}, rows, beam.SideInput{Input: hot})
	return beam.ParDo(s, &distributeFn{Fields: p.Fields, KeyLoads: p.KeyLoads, Classes: p.Classes}, beam.CoGroupByKey(s, keyed, routes))
}

// fanOutRowsFn keeps of each row what the blocks need (Fields; leaving
// the optimizer's history behind is a large saving in bytes shuffled, and
// a pass sends no names), and is the keyed fan-out of hot features' rows: a copy to the partition
// of each of the feature's shard keys, beside the pack itself.
type fanOutRowsFn struct {
	Partitions int32
	Fields     RowFields
	Classes    int // a feature's rows are K consecutive class rows (model.ClassRow)
	hot        hotTable
}

func (f *fanOutRowsFn) ProcessElement(p int32, pack RowPack, hot func(*string, *int32) bool, emit func(int32, RowPack)) {
	var rows []model.Row
	if f.Fields != NamesOnly {
		rows = make([]model.Row, len(pack.Rows))
	}
	for i, r := range rows {
		switch f.Fields {
		case NewtonRows:
			r = model.Row{G: pack.Rows[i].G, H: pack.Rows[i].H}
		case SearchRows:
			r = model.Row{G: pack.Rows[i].G, H: pack.Rows[i].H, U: pack.Rows[i].U}
		default:
			r = model.Row{W: pack.Rows[i].W, D: pack.Rows[i].D}
		}
		rows[i] = r
	}
	part := func(i, j int, from *RowID) RowPack {
		if f.Fields == NamesOnly {
			return RowPack{Names: pack.Names[i:j], From: from}
		}
		return RowPack{Rows: rows[i:j], From: from}
	}
	emit(p, part(0, max(len(pack.Names), len(rows)), pack.From))
	table := f.hot.load(hot)
	if len(table) == 0 || pack.From != nil {
		return
	}
	// A copy holds all of a feature's K rows and where they live (a copy
	// of another size is refused where it arrives).
	K := model.Width(f.Classes)
	for i := 0; i < len(pack.Names); i += K {
		name, _ := model.RowFeature(pack.Names[i])
		j := min(i+K, len(pack.Names))
		from := RowID{Part: p, Pos: int32(i)}
		for k := int32(1); k <= table[name]; k++ {
			emit(PartitionOf(FeatureKey{Name: name, Shard: k}, f.Partitions), part(i, j, &from))
		}
	}
}

type distributeFn struct {
	Fields   RowFields // NewtonRows or SearchRows: send G, H (and U) instead of W and D
	KeyLoads bool
	Classes  int
}

// distributeKeySize measures DistributeParameters' keys (partitions) in
// (feature, block) pairs served. A hot partition shows up in its max.
var distributeKeySize = beam.NewDistribution(MetricsNamespace, "DistributeParameters.key_columns")

func (f *distributeFn) ProcessElement(ctx context.Context, p int32, rows func(*RowPack) bool, routes func(*BlockRows) bool, emit func(int64, BlockWeights)) error {
	if f.KeyLoads {
		defer StartKeyLoad().Report(ctx, DistributeStage, p)
	}
	K := model.Width(f.Classes)
	var own []model.Row
	hasOwn := false
	copies := map[RowID][]model.Row{} // hot features' rows, by where they live
	var pack RowPack
	for rows(&pack) {
		if pack.From != nil {
			if len(pack.Rows) != K {
				return fmt.Errorf("dpmr: a hot feature's copy holds %d rows, want %d", len(pack.Rows), K)
			}
			copies[*pack.From] = pack.Rows
			continue
		}
		if hasOwn {
			return fmt.Errorf("dpmr: partition %d has two parameter row packs", p)
		}
		own, hasOwn = pack.Rows, true
	}
	var br BlockRows
	var size int64
	for routes(&br) {
		n := K * len(br.IDs)
		out := BlockWeights{Block: br.Block, Cols: br.Cols, IDs: br.IDs}
		switch f.Fields {
		case SearchRows:
			out.U = make([]float64, n)
			fallthrough
		case NewtonRows:
			out.G, out.H = make([]float64, n), make([]float64, n)
		default:
			out.W, out.D = make([]float64, n), make([]float64, n)
		}
		for i, id := range br.IDs {
			if id == NoRow {
				continue
			}
			var rs []model.Row
			if id.Part == p {
				if id.Pos < 0 || int(id.Pos)+K > len(own) {
					return fmt.Errorf("dpmr: block %d uses row %d of partition %d, which has %d rows (index out of step)", br.Block, id.Pos, p, len(own))
				}
				rs = own[id.Pos : int(id.Pos)+K]
			} else if rs = copies[id]; rs == nil {
				return fmt.Errorf("dpmr: block %d uses row %d of partition %d, which partition %d was not sent (index out of step)", br.Block, id.Pos, id.Part, p)
			}
			for k, r := range rs {
				j := i*K + k
				if out.G != nil {
					out.G[j], out.H[j] = r.G, r.H
					if out.U != nil {
						out.U[j] = r.U
					}
				} else {
					out.W[j], out.D[j] = r.W, r.D
				}
			}
		}
		size += int64(len(br.IDs))
		emit(br.Block, out)
	}
	if size > 0 {
		distributeKeySize.Update(ctx, size)
	}
	return nil
}
