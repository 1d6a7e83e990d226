package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn6x1[context.Context, int32, func(*RowPack) bool, func(*GradPack) bool, model.Choice, func(int32, RowPack), error](&updateRowsFn{})
	register.Iter1[GradPack]()
	register.Combiner3[gramAcc, RowPack, model.Gram](&gramSumFn{})
	register.Function1x1[model.Gram, Direction](directionOf)
	register.Function1x1[model.Choice, Direction](ownDirection)
	register.DoFn4x0[int32, RowPack, Direction, func(int32, RowPack)](&applyDirectionFn{})
	register.Combiner3[vectorAcc, RowPack, []float64](&rowFiguresSumFn{})
	register.DoFn4x0[[]float64, model.Choice, Direction, func(model.Figures)](&figuresFn{})
	register.Emitter1[model.Figures]()
}

// UpdateParams configure UpdateParameters.
type UpdateParams struct {
	Train model.TrainParams
	Eta   float64 // gd's step and averaging's local step, resolved
	Pass  int
}

// Update is UpdateParameters' result.
type Update struct {
	Rows    beam.PCollection // KV<int32, RowPack>: the new parameter rows
	Figures beam.PCollection // singleton model.Figures of the pass
}

// UpdateParameters moves every parameter row to the evaluated point and
// proposes the next step: a CoGroupByKey on partition of the rows and the
// blocks' gradient partials, which are added up per feature exactly. gd's step is -eta*g and averaging's is toward the mean of
// the blocks' local weights, both per row; L-BFGS's direction is a linear
// combination of each row's history whose coefficients come from one
// global combine of dot products over all rows (vector-free L-BFGS), so no
// vector is ever assembled. The pass's figures (J, |g|, and what the next
// plan needs) are combined over the new rows.
//
// Expects rows PCollection<KV<int32, RowPack>>, grads
// PCollection<KV<int32, GradPack>> and the singleton choice
// PCollection<model.Choice>.
func UpdateParameters(s beam.Scope, rows, grads, choice beam.PCollection, p UpdateParams) Update {
	s = s.Scope("dpmr.UpdateParameters")
	moved := beam.ParDo(s, &updateRowsFn{Params: p}, beam.CoGroupByKey(s, rows, grads), beam.SideInput{Input: choice})
	dir := beam.ParDo(s, ownDirection, choice)
	l1 := rowL1{L1: p.Train.L1, Bias: p.Train.Bias}
	if p.Train.Method().Needs().Direction {
		gram := beam.Combine(s, &gramSumFn{L1: l1}, beam.DropKey(s, moved))
		dir = beam.ParDo(s, directionOf, gram)
	}
	next := beam.ParDo(s, &applyDirectionFn{L1: l1}, moved, beam.SideInput{Input: dir})
	sums := beam.Combine(s, &rowFiguresSumFn{Train: p.Train}, beam.DropKey(s, next))
	figs := beam.ParDo(s, &figuresFn{Pass: p.Pass, Train: p.Train}, sums,
		beam.SideInput{Input: choice}, beam.SideInput{Input: dir})
	return Update{Rows: next, Figures: figs}
}

// Direction is the global part of the next step: L-BFGS's coefficients
// over each row's basis [s..., y..., g]. Coef is nil for the optimizers
// whose step each row sets on its own.
type Direction struct {
	Coef     []float64
	Steepest bool
}

type updateRowsFn struct {
	Params UpdateParams
}

// gradientKeySize measures UpdateParameters' keys (partitions) in
// gradient partials, one per (feature, block) pair, shards included.
var gradientKeySize = beam.NewDistribution(MetricsNamespace, "UpdateParameters.key_partials")

func (f *updateRowsFn) ProcessElement(ctx context.Context, part int32, rows func(*RowPack) bool, grads func(*GradPack) bool, c model.Choice, emit func(int32, RowPack)) error {
	sums, err := sumPartials(part, rows, grads)
	if err != nil {
		return err
	}
	if sums.partials > 0 {
		gradientKeySize.Update(ctx, sums.partials)
	}
	p := f.Params.Train
	method := p.Method()
	pack := sums.pack
	out := RowPack{Names: pack.Names, Rows: make([]model.Row, len(pack.Rows))}
	for i, name := range pack.Names {
		out.Rows[i] = method.Move(pack.Rows[i], model.Measured{
			Params: p, Lambda: model.RowStrength(p.Lambda, p.Bias, name), L1: model.RowStrength(p.L1, p.Bias, name), IsBias: model.IsBiasRow(p.Bias, name),
			Choice: c, Grad: sums.g.at(i), Curv: sums.curv.at(i),
			LocalSum: sums.local.at(i), Blocks: sums.blocks[i], Eta: f.Params.Eta,
		})
	}
	emit(part, out)
	return nil
}

// featureSums are one partition's rows with the blocks' partials for them
// added up per feature: each field of GradPack that the packs carry, and
// the number of blocks that sent partials.
type featureSums struct {
	pack                   RowPack
	g, curv, local, newton partialSums // nil when no pack carried them
	blocks                 []int64
	partials               int64 // (feature, block) partials received
}

type partialSums []model.PartialSum

// at is the i-th feature's sum; 0 when no pack carried the field.
func (p partialSums) at(i int) float64 {
	if p == nil {
		return 0
	}
	return p[i].Float64()
}

// sumPartials joins a partition's parameter rows with the blocks' packs
// for them (a CoGroupByKey on partition): exactly one row pack, and
// partials only for positions it has.
func sumPartials(part int32, rows func(*RowPack) bool, grads func(*GradPack) bool) (featureSums, error) {
	var pack RowPack
	n := 0
	for rows(&pack) {
		n++
	}
	if n != 1 {
		var g GradPack
		partials := 0
		for grads(&g) {
			partials += len(g.Pos)
		}
		if n == 0 && partials > 0 {
			return featureSums{}, fmt.Errorf("dpmr: partition %d has gradients for %d rows but no parameter rows", part, partials)
		}
		if n > 1 && len(pack.Names) > 0 {
			return featureSums{}, fmt.Errorf("dpmr: partition %d has %d parameter row packs, want 1 (one holds feature %q)", part, n, pack.Names[0])
		}
		return featureSums{}, fmt.Errorf("dpmr: partition %d has %d parameter row packs, want 1", part, n)
	}
	rowsN := len(pack.Names)
	sums := featureSums{pack: pack, blocks: make([]int64, rowsN)}
	add := func(dst *partialSums, vals []float64, i int32, k int) {
		if vals == nil {
			return
		}
		if *dst == nil {
			*dst = make(partialSums, rowsN)
		}
		(*dst)[i].Add(vals[k])
	}
	var gp GradPack
	for grads(&gp) {
		for k, i := range gp.Pos {
			if i < 0 || int(i) >= rowsN {
				return featureSums{}, fmt.Errorf("dpmr: a block sent a gradient for row %d of partition %d, which has %d rows (index out of step)", i, part, rowsN)
			}
			add(&sums.g, gp.G, i, k)
			add(&sums.curv, gp.Curv, i, k)
			if gp.LocalW != nil && gp.LocalW[k] != 0 {
				add(&sums.local, gp.LocalW, i, k)
			}
			add(&sums.newton, gp.Newton, i, k)
			sums.blocks[i]++
		}
		sums.partials += int64(len(gp.Pos))
	}
	return sums, nil
}

// gramAcc sums the L-BFGS basis products of every row exactly. K is the
// rows' history length, learnt from the first row (all rows agree).
type gramAcc struct {
	K    int
	Sums []model.ExactSum
}

// rowL1 gives a row its L1 strength by name (model.RowStrength).
type rowL1 struct {
	L1   float64
	Bias bool
}

func (l rowL1) of(name string) float64 { return model.RowStrength(l.L1, l.Bias, name) }

type gramSumFn struct {
	L1 rowL1
}

func (f *gramSumFn) AddInput(a gramAcc, pack RowPack) (gramAcc, error) {
	var basis []float64
	for i, r := range pack.Rows {
		if a.Sums == nil {
			a.K = len(r.S)
			a.Sums = make([]model.ExactSum, model.GramLen(a.K))
		}
		if len(r.S) != a.K || len(r.Y) != a.K {
			return a, fmt.Errorf("dpmr: parameter rows disagree on L-BFGS history length: %d and %d", len(r.S), a.K)
		}
		basis = model.RowBasis(basis[:0], r, f.L1.of(pack.Names[i]))
		model.AddRowProducts(basis, func(i int, v float64) { a.Sums[i].Add(v) })
	}
	return a, nil
}

func (f *gramSumFn) MergeAccumulators(a, b gramAcc) (gramAcc, error) {
	if a.Sums == nil {
		return b, nil
	}
	if b.Sums == nil {
		return a, nil
	}
	if a.K != b.K {
		return a, fmt.Errorf("dpmr: parameter rows disagree on L-BFGS history length: %d and %d", a.K, b.K)
	}
	for i := range a.Sums {
		a.Sums[i].Merge(&b.Sums[i])
	}
	return a, nil
}

func (f *gramSumFn) ExtractOutput(a gramAcc) model.Gram {
	g := model.Gram{K: a.K, Dot: make([]float64, model.GramLen(a.K))}
	for i := range a.Sums {
		g.Dot[i] = a.Sums[i].Float64()
	}
	return g
}

func directionOf(g model.Gram) Direction {
	coef, steepest := g.Direction()
	return Direction{Coef: coef, Steepest: steepest}
}

func ownDirection(model.Choice) Direction { return Direction{} }

type applyDirectionFn struct {
	L1 rowL1
}

func (f *applyDirectionFn) ProcessElement(p int32, pack RowPack, d Direction, emit func(int32, RowPack)) {
	if d.Coef != nil {
		// A new slice: an input element is shared with the stage's other
		// consumers and must not change.
		rows := make([]model.Row, len(pack.Rows))
		for i, r := range pack.Rows {
			rows[i] = model.ApplyDirection(r, d.Coef, f.L1.of(pack.Names[i]))
		}
		pack.Rows = rows
	}
	emit(p, pack)
}

// rowFiguresSumFn adds up the rows' shares of the figures exactly; the
// intercept's row is unregularized only when training has an intercept (a
// warm start from a model with one may bring its row into a run without).
type rowFiguresSumFn struct {
	Train model.TrainParams
}

func (f *rowFiguresSumFn) CreateAccumulator() vectorAcc {
	return vectorAcc{Sums: make([]model.ExactSum, model.RowFiguresLen(f.Train))}
}

func (f *rowFiguresSumFn) AddInput(a vectorAcc, pack RowPack) vectorAcc {
	var fig []float64
	for i, r := range pack.Rows {
		fig = model.RowFigures(fig, r, f.Train, model.IsBiasRow(f.Train.Bias, pack.Names[i]))
		for k, v := range fig {
			if v != 0 {
				a.Sums[k].Add(v)
			}
		}
	}
	return a
}

func (f *rowFiguresSumFn) MergeAccumulators(a, b vectorAcc) vectorAcc {
	return (&vectorSumFn{}).MergeAccumulators(a, b)
}

func (f *rowFiguresSumFn) ExtractOutput(a vectorAcc) []float64 {
	return (&vectorSumFn{}).ExtractOutput(a)
}

type figuresFn struct {
	Pass  int
	Train model.TrainParams
}

func (f *figuresFn) ProcessElement(sums []float64, c model.Choice, d Direction, emit func(model.Figures)) {
	emit(model.FromRowSums(f.Pass, c, f.Train, d.Steepest, sums))
}
