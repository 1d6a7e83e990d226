package transforms

import (
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
	register.DoFn3x0[SufficientBlock, model.Choice, func(string, GradPart)](&blockGradientFn{})
	register.Emitter2[string, GradPart]()
	register.Combiner3[gradAcc, GradPart, GradSum](&gradSumFn{})
}

// LineSearch evaluates J at every trial point of the plan in one scan of
// the sufficient blocks (the margins of W and D are computed once; each
// trial point costs one loss per sample), sums the losses exactly over all
// blocks and picks the step. Expects PCollection<SufficientBlock>; returns
// a singleton PCollection<model.Choice>.
func LineSearch(s beam.Scope, blocks beam.PCollection, plan model.Plan, lambda float64) beam.PCollection {
	s = s.Scope("dpmr.LineSearch")
	losses := beam.ParDo(s, &blockLossesFn{Steps: plan.Steps}, blocks)
	total := SumVectors(s, losses, len(plan.Steps))
	return beam.ParDo(s, &selectStepFn{Plan: plan, Lambda: lambda}, total)
}

type blockLossesFn struct {
	Steps []float64
}

func (f *blockLossesFn) ProcessElement(b SufficientBlock, emit func([]float64)) {
	zw, zd := make([]float64, len(b.Labels)), make([]float64, len(b.Labels))
	m := b.Matrix()
	m.Margins(b.W, b.D, zw, zd)
	losses := make([]float64, len(f.Steps))
	m.AddLosses(losses, zw, zd, f.Steps)
	emit(losses)
}

// vectorAcc sums vectors element by element, exactly.
type vectorAcc struct {
	Sums []model.ExactSum
}

// SumVectors adds up fixed-length vectors element by element, exactly, so
// the totals do not depend on the order the runner combines them in.
// Expects PCollection<[]float64> of vectors of length n; returns a
// singleton PCollection<[]float64>, or an empty one for empty input.
func SumVectors(s beam.Scope, vectors beam.PCollection, n int) beam.PCollection {
	return beam.Combine(s.Scope("dpmr.SumVectors"), &vectorSumFn{N: n}, vectors)
}

type vectorSumFn struct {
	N int
}

func (f *vectorSumFn) CreateAccumulator() vectorAcc {
	return vectorAcc{Sums: make([]model.ExactSum, f.N)}
}

func (f *vectorSumFn) AddInput(a vectorAcc, losses []float64) vectorAcc {
	for i, l := range losses {
		a.Sums[i].Add(l)
	}
	return a
}

func (f *vectorSumFn) MergeAccumulators(a, b vectorAcc) vectorAcc {
	for i := range a.Sums {
		a.Sums[i].Merge(&b.Sums[i])
	}
	return a
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
	Eta       float64 // local SGD step
	Shrink    float64 // per-sample L2 shrinkage, lambda/N
}

// ComputeGradients differentiates the data loss at the chosen point
// W + alpha*D: each sufficient block yields one partial sum per feature
// (pre-summed over the block's rows), and a combiner adds the partials of
// a feature exactly, so the result is the same in any order and on any
// runner. Gradients of a sharded feature arrive under its own name and so
// are gathered back under the parent. Expects PCollection<SufficientBlock>
// and the singleton PCollection<model.Choice> of LineSearch; returns
// PCollection<KV<string, GradSum>>.
func ComputeGradients(s beam.Scope, blocks, choice beam.PCollection, p GradientParams) beam.PCollection {
	s = s.Scope("dpmr.ComputeGradients")
	parts := beam.ParDo(s, &blockGradientFn{Params: p}, blocks, beam.SideInput{Input: choice})
	return beam.CombinePerKey(s, &gradSumFn{}, parts)
}

type blockGradientFn struct {
	Params GradientParams
}

func (f *blockGradientFn) ProcessElement(b SufficientBlock, c model.Choice, emit func(string, GradPart)) {
	n := len(b.Labels)
	zw, zd, resid := make([]float64, n), make([]float64, n), make([]float64, n)
	grad := make([]float64, len(b.Features))
	m := b.Matrix()
	m.Margins(b.W, b.D, zw, zd)
	m.Gradient(grad, resid, zw, zd, c.Alpha)
	var local []float64
	if f.Params.Averaging {
		local = make([]float64, len(b.Features))
		noShrink := -1
		for i, name := range b.Features {
			local[i] = model.TrialWeight(b.W[i], b.D[i], c.Alpha)
			if name == model.BiasName {
				noShrink = i
			}
		}
		m.LocalSGD(local, f.Params.Eta, f.Params.Shrink, noShrink)
	}
	for i, name := range b.Features {
		part := GradPart{G: grad[i], Blocks: 1}
		if local != nil {
			part.LocalW = local[i]
		}
		emit(name, part)
	}
}

// gradAcc adds gradient partials exactly.
type gradAcc struct {
	G, LocalW model.ExactSum
	Blocks    int64
}

type gradSumFn struct{}

func (f *gradSumFn) AddInput(a gradAcc, p GradPart) gradAcc {
	a.G.Add(p.G)
	if p.LocalW != 0 {
		a.LocalW.Add(p.LocalW)
	}
	a.Blocks += p.Blocks
	return a
}

func (f *gradSumFn) MergeAccumulators(a, b gradAcc) gradAcc {
	a.G.Merge(&b.G)
	a.LocalW.Merge(&b.LocalW)
	a.Blocks += b.Blocks
	return a
}

func (f *gradSumFn) ExtractOutput(a gradAcc) GradSum {
	return GradSum{G: a.G.Float64(), LocalW: a.LocalW.Float64(), Blocks: a.Blocks}
}
