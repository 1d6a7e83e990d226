package transforms

import (
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn2x0[SufficientBlock, func([]float64)](&blockLossesFn{})
	register.Emitter1[[]float64]()
	register.Combiner3[vectorAcc, []float64, []float64](&vectorSumFn{})
	register.DoFn2x0[[]float64, func(model.Choice)](&selectStepFn{})
	register.Emitter1[model.Choice]()
	register.DoFn3x0[SufficientBlock, model.Choice, func(int32, GradPack)](&blockGradientFn{})
	register.Emitter2[int32, GradPack]()
	register.Emitter1[KeptMargins]()
}

// LineSearch evaluates J at every trial point of the plan in one scan of
// the sufficient blocks (the margins of W and D are computed once; each
// trial point costs one loss per sample), sums the losses exactly over all
// blocks and picks the step. Expects PCollection<SufficientBlock>; returns
// a singleton PCollection<model.Choice>.
//
// With an L1 term (plan.L1 > 0) the trial points are OWL-QN's, whose
// margins each block corrects for the columns that cross zero; bias tells
// that the intercept's column, which has no L1 term, never does. classes
// is K under multiclass (model.Block.Classes), else 0.
func LineSearch(s beam.Scope, blocks beam.PCollection, plan model.Plan, lambda float64, bias bool, classes int) beam.PCollection {
	s = s.Scope("dpmr.LineSearch")
	losses := beam.ParDo(s, &blockLossesFn{Steps: plan.Steps, L1: plan.L1 > 0, Bias: bias, Classes: classes}, blocks)
	total := SumVectors(s, losses, len(plan.Steps))
	return beam.ParDo(s, &selectStepFn{Plan: plan, Lambda: lambda}, total)
}

type blockLossesFn struct {
	Steps    []float64
	L1, Bias bool
	Classes  int
}

func (f *blockLossesFn) ProcessElement(b SufficientBlock, emit func([]float64)) {
	n := model.Width(f.Classes) * len(b.Labels)
	zw, zd := make([]float64, n), make([]float64, n)
	m := b.Matrix()
	m.Classes = f.Classes
	m.Margins(b.W, b.D, zw, zd)
	losses := make([]float64, len(f.Steps))
	m.AddLineLosses(losses, zw, zd, b.W, b.D, f.Steps, f.L1, biasColumn(&b.DocBlock, f.Bias))
	emit(losses)
}

// biasColumn is the column of the intercept in b when training has one,
// or -1.
func biasColumn(b *DocBlock, bias bool) int {
	if !bias {
		return -1
	}
	return b.InterceptColumn()
}

// vectorAcc sums vectors element by element, exactly.
type vectorAcc struct {
	Sums []model.ExactSum
}

// SumVectors adds up vectors element by element, exactly, so the totals
// do not depend on the order the runner combines them in. Expects
// PCollection<[]float64> of vectors of length n (n = 0: whatever length
// they have, all the same); returns a singleton PCollection<[]float64>,
// or an empty one for empty input.
func SumVectors(s beam.Scope, vectors beam.PCollection, n int) beam.PCollection {
	return beam.Combine(s.Scope("dpmr.SumVectors"), &vectorSumFn{N: n}, vectors)
}

type vectorSumFn struct {
	N int
}

func (f *vectorSumFn) CreateAccumulator() vectorAcc {
	return vectorAcc{Sums: make([]model.ExactSum, f.N)}
}

func (f *vectorSumFn) AddInput(a vectorAcc, v []float64) vectorAcc {
	a.grow(len(v))
	for i, x := range v {
		a.Sums[i].Add(x)
	}
	return a
}

func (f *vectorSumFn) MergeAccumulators(a, b vectorAcc) vectorAcc {
	a.grow(len(b.Sums))
	for i := range b.Sums {
		a.Sums[i].Merge(&b.Sums[i])
	}
	return a
}

func (a *vectorAcc) grow(n int) {
	for len(a.Sums) < n {
		a.Sums = append(a.Sums, model.ExactSum{})
	}
}

func (f *vectorSumFn) ExtractOutput(a vectorAcc) []float64 {
	out := make([]float64, len(a.Sums))
	for i := range a.Sums {
		out[i] = a.Sums[i].Float64()
	}
	return out
}

type selectStepFn struct {
	Plan   model.Plan
	Lambda float64
}

func (f *selectStepFn) ProcessElement(losses []float64, emit func(model.Choice)) {
	emit(f.Plan.Select(f.Lambda, losses))
}

// GradientParams configure ComputeGradients.
type GradientParams struct {
	// Averaging also runs each block's local SGD epoch and emits the local
	// weights.
	Averaging bool
	// Curvature also sums each feature's Hessian diagonal (model.Block's
	// Curvature), which L-BFGS takes as its preconditioner.
	Curvature bool
	// L1: the chosen point is OWL-QN's (see LineSearch), whose margins
	// each block corrects; Bias: the intercept's column has no L1 term.
	L1, Bias bool
	Classes  int     // K under multiclass (model.Block.Classes)
	Eta      float64 // local SGD step
	Shrink   float64 // per-sample L2 shrinkage, lambda/N
}

// ComputeGradients differentiates the data loss at the chosen point
// W + alpha*D (and, for L-BFGS, measures its curvature there): each
// sufficient block yields one partial per feature
// (pre-summed over the block's rows), packed per partition of the
// features' rows and addressed by the rows' positions there (the RowIDs
// DistributeParameters sent); UpdateParameters adds a feature's partials exactly, so
// the result is the same in any order and on any runner. Partials of a
// sharded feature go to the partition of its row, not of its shard, and
// so are gathered back under the parent. Expects
// PCollection<SufficientBlock> and the singleton PCollection<model.Choice>
// of LineSearch; returns PCollection<KV<int32, GradPack>>.
func ComputeGradients(s beam.Scope, blocks, choice beam.PCollection, p GradientParams) beam.PCollection {
	s = s.Scope("dpmr.ComputeGradients")
	return beam.ParDo(s, &blockGradientFn{Params: p}, blocks, beam.SideInput{Input: choice})
}

type blockGradientFn struct {
	Params GradientParams
}

func (f *blockGradientFn) ProcessElement(b SufficientBlock, c model.Choice, emit func(int32, GradPack)) {
	BlockGradients(b, c, f.Params, emit)
}

// BlockGradients is one block's share of ComputeGradients: its partials
// at the choice, one pack per partition of its columns' rows.
func BlockGradients(b SufficientBlock, c model.Choice, p GradientParams, emit func(int32, GradPack)) {
	K := model.Width(p.Classes)
	n := K * len(b.Labels)
	zw, zd, resid := make([]float64, n), make([]float64, n), make([]float64, n)
	grad := make([]float64, K*b.Columns())
	m := b.Matrix()
	m.Classes = p.Classes
	m.Margins(b.W, b.D, zw, zd)
	if p.L1 {
		zw, zd = m.ClipMargins(nil, nil, zw, zd, b.W, b.D, c.Alpha, biasColumn(&b.DocBlock, p.Bias))
	}
	m.Gradient(grad, resid, zw, zd, c.Alpha)
	var curv []float64
	if p.Curvature {
		curv = make([]float64, K*b.Columns())
		m.Curvature(curv, resid, zw, zd, c.Alpha)
	}
	var local []float64
	if p.Averaging {
		local = make([]float64, b.Columns())
		for i := range local {
			local[i] = model.TrialWeight(b.W[i], b.D[i], c.Alpha)
		}
		m.LocalSGD(local, p.Eta, p.Shrink, b.InterceptColumn())
	}
	emitPacks(b.IDs, K, GradPack{G: grad, Curv: curv, LocalW: local}, emit)
}

// SubspaceGradients is ComputeGradients for subspace, for one block: its
// data gradient and curvature at the search's point W + V c
// (model.Block.SubspaceGradients), from the margins SubspaceSearch left it,
// sent to its columns' partitions, and the margins the block keeps for the
// next pass (model.SubspaceMargins.Kept, memory steps at most). doc is the
// block's postings, read again from the index (pipeline.IndexTrip.
// SubspaceGradients).
func SubspaceGradients(doc DocBlock, b SearchedBlock, c model.Choice, memory int, emit func(int32, GradPack)) (KeptMargins, error) {
	if len(b.IDs) != doc.Columns() || len(b.Margins.ZW) != len(doc.Labels) {
		return KeptMargins{}, fmt.Errorf("dpmr: block %d has %d columns and %d samples, its search %d and %d (index out of step)",
			b.Block, doc.Columns(), len(doc.Labels), len(b.IDs), len(b.Margins.ZW))
	}
	grad, curv := doc.Matrix().SubspaceGradients(&b.Margins, c.Coef)
	emitPacks(b.IDs, 1, GradPack{G: grad, Curv: curv}, emit)
	return KeptMargins{Block: b.Block, Margins: b.Margins.Kept(c.Coef, memory)}, nil
}

// emitPacks sends a block's per-column results (cols, whose fields are
// nil or K values per column) to the partitions of the columns' rows
// (ids), one pack per partition. A sharded feature's column has its row's
// id, so its partials go back to the row, not to the shard.
func emitPacks(ids []RowID, K int, cols GradPack, emit func(int32, GradPack)) {
	packs := map[int32]*GradPack{}
	pick := func(dst *[]float64, src []float64, i int) {
		if src != nil {
			*dst = append(*dst, src[i])
		}
	}
	var g *GradPack
	last := int32(-1)
	for c, id := range ids {
		if id.Part != last || g == nil {
			if g = packs[id.Part]; g == nil {
				g = &GradPack{}
				packs[id.Part] = g
			}
			last = id.Part
		}
		for k := range K {
			i := c*K + k
			g.Pos = append(g.Pos, id.Pos+int32(k))
			pick(&g.G, cols.G, i)
			pick(&g.Curv, cols.Curv, i)
			pick(&g.LocalW, cols.LocalW, i)
			pick(&g.Newton, cols.Newton, i)
		}
	}
	for _, p := range sortedKeys(packs) {
		emit(p, *packs[p])
	}
}
