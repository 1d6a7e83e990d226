package transforms

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn4x0[int32, RowPack, func(*string, *int32) bool, func(int32, RowPack)](&fanOutRowsFn{})
	register.DoFn5x1[context.Context, int32, func(*RowPack) bool, func(*BlockFeatures) bool, func(int64, BlockWeights), error](&distributeFn{})
	register.Iter1[BlockFeatures]()
	register.Emitter2[int64, BlockWeights]()
}

// DistributeParameters sends every feature's current weight and step to
// the blocks that use it: a CoGroupByKey on partition of the parameter
// rows and the block features, emitting for each (partition, block) one
// BlockWeights with the weights of that block's columns the partition
// holds. Rows of hot features are first fanned out to the partitions of
// their shard keys. When missingIsZero is set, a feature without a row
// weighs 0 (prediction: unseen features); otherwise that is an error.
//
// Expects rows PCollection<KV<int32, RowPack>>, features
// PCollection<KV<int32, BlockFeatures>> and hot PCollection<KV<string,
// int32>>; returns PCollection<KV<int64, BlockWeights>> keyed by block.
func DistributeParameters(s beam.Scope, rows, features, hot beam.PCollection, partitions int32, missingIsZero bool) beam.PCollection {
	return Distribute(s, rows, features, hot, DistributeParams{Partitions: partitions, MissingIsZero: missingIsZero})
}

// DistributeParams configure Distribute.
type DistributeParams struct {
	Partitions    int32
	MissingIsZero bool      // a feature without a row weighs 0 (prediction)
	Fields        RowFields // what of each row the blocks get
	KeyLoads      bool      // time each partition (StartKeyLoad)
	// Classes is K under multiclass: a column gets its feature's K rows
	// (model.ClassRow), side by side. 0 for two classes.
	Classes int
}

// RowFields say what of each row the blocks get.
type RowFields int

const (
	WeightsAndSteps RowFields = iota // W and D: the optimizer's history stays behind
	WholeRows                        // all but L-BFGS's pairs, as ParamRows: subspace's search
	NewtonRows                       // W, G and H, as ParamRows: subspace's first trip (LocalNewton)
)

// Distribute is DistributeParameters as p says: subspace's blocks need
// more of each row than its weight and step.
func Distribute(s beam.Scope, rows, features, hot beam.PCollection, p DistributeParams) beam.PCollection {
	s = s.Scope("dpmr.DistributeParameters")
	keyed := beam.ParDo(s, &fanOutRowsFn{Partitions: p.Partitions, Fields: p.Fields, Classes: p.Classes}, rows, beam.SideInput{Input: hot})
	return beam.ParDo(s, &distributeFn{MissingIsZero: p.MissingIsZero, Whole: p.Fields != WeightsAndSteps, KeyLoads: p.KeyLoads, Classes: p.Classes}, beam.CoGroupByKey(s, keyed, features))
}

// fanOutRowsFn keeps of each row what the blocks need (Fields; leaving
// the optimizer's history behind is a large saving in bytes shuffled),
// and is the keyed fan-out of hot features' rows: a copy to the partition
// of each of the feature's shard keys, beside the pack itself.
type fanOutRowsFn struct {
	Partitions int32
	Fields     RowFields
	Classes    int // a feature's rows are K consecutive class rows (model.ClassRow)
	hot        hotTable
}

func (f *fanOutRowsFn) ProcessElement(p int32, pack RowPack, hot func(*string, *int32) bool, emit func(int32, RowPack)) {
	rows := make([]model.Row, len(pack.Rows))
	for i, r := range pack.Rows {
		switch f.Fields {
		case WholeRows:
			r.Y = nil
			rows[i] = r
		case NewtonRows:
			rows[i] = model.Row{W: r.W, G: r.G, H: r.H}
		default:
			rows[i] = model.Row{W: r.W, D: r.D}
		}
	}
	emit(p, RowPack{Names: pack.Names, Rows: rows, From: pack.From})
	table := f.hot.load(hot)
	if len(table) == 0 || pack.From != nil {
		return
	}
	// A copy holds all of a feature's K rows and where they live; a pack
	// that breaks the layout is refused where it arrives (featureRows).
	K := model.Width(f.Classes)
	for i := 0; i < len(pack.Names); i += K {
		name, _ := model.RowFeature(pack.Names[i])
		j := min(i+K, len(pack.Names))
		from := RowID{Part: p, Pos: int32(i)}
		for k := int32(1); k <= table[name]; k++ {
			emit(PartitionOf(FeatureKey{Name: name, Shard: k}, f.Partitions), RowPack{Names: pack.Names[i:j], Rows: rows[i:j], From: &from})
		}
	}
}

type distributeFn struct {
	MissingIsZero bool
	Whole         bool // send the rows too (see DistributeRows)
	KeyLoads      bool
	Classes       int
}

// distributeKeySize measures DistributeParameters' keys (partitions) in
// (feature, block) pairs served. A hot partition shows up in its max.
var distributeKeySize = beam.NewDistribution(MetricsNamespace, "DistributeParameters.key_columns")

// served is what DistributeParameters holds of a feature: its rows (K
// under multiclass, classes in order) and where they live.
type served struct {
	rows []model.Row
	id   RowID
}

func (f *distributeFn) ProcessElement(ctx context.Context, p int32, rows func(*RowPack) bool, features func(*BlockFeatures) bool, emit func(int64, BlockWeights)) error {
	if f.KeyLoads {
		defer StartKeyLoad().Report(ctx, DistributeStage, p)
	}
	K := model.Width(f.Classes)
	index := map[string]served{}
	own := 0
	var pack RowPack
	for rows(&pack) {
		if pack.From == nil {
			own++
			if own > 1 {
				return fmt.Errorf("dpmr: partition %d has two parameter row packs", p)
			}
		}
		for i := 0; i < len(pack.Names); i += K {
			name, err := featureRows(pack.Names, i, K)
			if err != nil {
				return err
			}
			v := served{rows: pack.Rows[i : i+K], id: RowID{Part: p, Pos: int32(i)}}
			if pack.From != nil {
				v.id = *pack.From
			}
			if old, ok := index[name]; ok && !sameRows(old.rows, v.rows) {
				return fmt.Errorf("dpmr: feature %q has two different parameter rows", name)
			}
			index[name] = v
		}
	}
	var bf BlockFeatures
	var size int64
	for features(&bf) {
		n := K * len(bf.Names)
		out := BlockWeights{Block: bf.Block, Cols: bf.Cols, IDs: make([]RowID, len(bf.Names)), W: make([]float64, n), D: make([]float64, n)}
		if f.Whole {
			out.ParamRows = make([]model.Row, n)
		}
		for i, name := range bf.Names {
			v, ok := index[name]
			if !ok {
				if !f.MissingIsZero {
					return fmt.Errorf("dpmr: feature %q is used by block %d but has no parameter row", name, bf.Block)
				}
				out.IDs[i] = NoRow
				continue
			}
			out.IDs[i] = v.id
			for k, r := range v.rows {
				out.W[i*K+k], out.D[i*K+k] = r.W, r.D
				if f.Whole {
					out.ParamRows[i*K+k] = r
				}
			}
		}
		size += int64(len(bf.Names))
		emit(bf.Block, out)
	}
	if size > 0 {
		distributeKeySize.Update(ctx, size)
	}
	return nil
}

// featureRows checks that names[i:i+K] are one feature's rows, classes 0
// to K-1 in order (model.ClassRow; the feature's own name for two
// classes), and returns the feature.
func featureRows(names []string, i, K int) (string, error) {
	if K == 1 {
		return names[i], nil
	}
	name, _ := model.RowFeature(names[i])
	if i+K > len(names) {
		return name, fmt.Errorf("dpmr: feature %q has %d class rows, want %d", name, len(names)-i, K)
	}
	for k := range K {
		if f, c := model.RowFeature(names[i+k]); f != name || c != k {
			return name, fmt.Errorf("dpmr: parameter row %q is not class %d of feature %q (want %d rows per feature)", names[i+k], k, name, K)
		}
	}
	return name, nil
}

// sameRows compares two copies of a feature's rows by the bits of what
// the blocks get: a copy of a NaN weight is the same row.
func sameRows(a, b []model.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if math.Float64bits(a[k].W) != math.Float64bits(b[k].W) || math.Float64bits(a[k].D) != math.Float64bits(b[k].D) {
			return false
		}
	}
	return true
}
