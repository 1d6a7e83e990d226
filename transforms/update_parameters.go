package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn6x1[context.Context, string, func(*model.Row) bool, func(*GradSum) bool, model.Choice, func(string, model.Row), error](&updateRowFn{})
	register.Iter1[GradSum]()
	register.Combiner3[gramAcc, model.Row, model.Gram](&gramSumFn{})
	register.Function1x1[model.Gram, Direction](directionOf)
	register.Function1x1[model.Choice, Direction](ownDirection)
	register.DoFn4x0[string, model.Row, Direction, func(string, model.Row)](&applyDirectionFn{})
	register.DoFn2x1[string, model.Row, []float64](&rowFiguresFn{})
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
	Rows    beam.PCollection // KV<string, model.Row>: the new parameter rows
	Figures beam.PCollection // singleton model.Figures of the pass
}

// UpdateParameters moves every parameter row to the evaluated point and
// proposes the next step: a CoGroupByKey on feature of the rows and their
// gradient sums. gd's step is -eta*g and averaging's is toward the mean of
// the blocks' local weights, both per row; L-BFGS's direction is a linear
// combination of each row's history whose coefficients come from one
// global combine of dot products over all rows (vector-free L-BFGS), so no
// vector is ever assembled. The pass's figures (J, |g|, and what the next
// plan needs) are combined over the new rows.
//
// Expects rows PCollection<KV<string, model.Row>>, grads
// PCollection<KV<string, GradSum>> and the singleton choice
// PCollection<model.Choice>.
func UpdateParameters(s beam.Scope, rows, grads, choice beam.PCollection, p UpdateParams) Update {
	s = s.Scope("dpmr.UpdateParameters")
	moved := beam.ParDo(s, &updateRowFn{Params: p}, beam.CoGroupByKey(s, rows, grads), beam.SideInput{Input: choice})
	dir := beam.ParDo(s, ownDirection, choice)
	if p.Train.Optimizer == model.LBFGS {
		gram := beam.Combine(s, &gramSumFn{}, beam.DropKey(s, moved))
		dir = beam.ParDo(s, directionOf, gram)
	}
	next := beam.ParDo(s, &applyDirectionFn{}, moved, beam.SideInput{Input: dir})
	sums := SumVectors(s, beam.ParDo(s, &rowFiguresFn{Bias: p.Train.Bias}, next), model.NumRowFigures)
	figs := beam.ParDo(s, &figuresFn{Pass: p.Pass, Lambda: p.Train.Lambda}, sums,
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

type updateRowFn struct {
	Params UpdateParams
}

// gradientKeySize measures ComputeGradients' per-feature combine: the
// number of block partials summed under each feature (shards included).
var gradientKeySize = beam.NewDistribution(MetricsNamespace, "ComputeGradients.key_partials")

func (f *updateRowFn) ProcessElement(ctx context.Context, name string, rows func(*model.Row) bool, grads func(*GradSum) bool, c model.Choice, emit func(string, model.Row)) error {
	var row model.Row
	n := 0
	for rows(&row) {
		n++
	}
	var g, sum GradSum
	for grads(&g) {
		sum.G += g.G
		sum.LocalW += g.LocalW
		sum.Blocks += g.Blocks
	}
	if n != 1 {
		return fmt.Errorf("dpmr: feature %q has %d parameter rows, want 1", name, n)
	}
	if sum.Blocks > 0 {
		gradientKeySize.Update(ctx, sum.Blocks)
	}
	p := f.Params.Train
	row = model.UpdateRow(row, p, name == model.BiasName && p.Bias, c.Alpha, sum.G)
	switch p.Optimizer {
	case model.GD:
		row.D = -f.Params.Eta * row.G
	case model.Averaging:
		row.D = model.AveragingStep(row.W, sum.LocalW, sum.Blocks)
	}
	emit(name, row)
	return nil
}

// gramAcc sums the L-BFGS basis products of every row exactly. K is the
// rows' history length, learnt from the first row (all rows agree).
type gramAcc struct {
	K    int
	Sums []model.ExactSum
}

type gramSumFn struct{}

func (f *gramSumFn) AddInput(a gramAcc, r model.Row) (gramAcc, error) {
	if a.Sums == nil {
		a.K = len(r.S)
		a.Sums = make([]model.ExactSum, model.GramLen(a.K))
	}
	if len(r.S) != a.K || len(r.Y) != a.K {
		return a, fmt.Errorf("dpmr: parameter rows disagree on L-BFGS history length: %d and %d", len(r.S), a.K)
	}
	model.AddRowProducts(model.RowBasis(nil, r), func(i int, v float64) { a.Sums[i].Add(v) })
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

type applyDirectionFn struct{}

func (f *applyDirectionFn) ProcessElement(name string, r model.Row, d Direction, emit func(string, model.Row)) {
	if d.Coef != nil {
		r = model.ApplyDirection(r, d.Coef)
	}
	emit(name, r)
}

// rowFiguresFn is a row's share of the figures; the intercept's row is
// unregularized only when training has an intercept (a warm start from a
// model with one may bring its row into a run without).
type rowFiguresFn struct {
	Bias bool
}

func (f *rowFiguresFn) ProcessElement(name string, r model.Row) []float64 {
	return model.RowFigures(r, f.Bias && name == model.BiasName)
}

type figuresFn struct {
	Pass   int
	Lambda float64
}

func (f *figuresFn) ProcessElement(sums []float64, c model.Choice, d Direction, emit func(model.Figures)) {
	emit(model.FromRowSums(f.Pass, c, f.Lambda, d.Steepest, sums))
}
