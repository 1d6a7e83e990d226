package transforms

import (
	"fmt"
	"math"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.Function2x1[string, GradSum, gradRec](toGradRec)
	register.Function3x0[string, GradSum, func(namedValue)](gradValues)
	register.Function2x0[model.Choice, func(namedValue)](choiceValues)
	register.Emitter1[namedValue]()
	register.Function2x0[[]float64, func(namedValue)](vectorValues)
}

// gradRec is a KV<string, GradSum>.
type gradRec struct {
	Name   string
	G      float64
	LocalW float64
	Blocks int64
}

func toGradRec(name string, g GradSum) gradRec {
	return gradRec{Name: name, G: g.G, LocalW: g.LocalW, Blocks: g.Blocks}
}

// gradValues names a feature's gradient sum: "G/a", "LocalW/a", "Blocks/a".
func gradValues(name string, g GradSum, emit func(namedValue)) {
	emit(namedValue{"G/" + name, g.G})
	emit(namedValue{"LocalW/" + name, g.LocalW})
	emit(namedValue{"Blocks/" + name, float64(g.Blocks)})
}

// choiceValues names a line search's choice: "Alpha", "J", "Moved" (0/1).
func choiceValues(c model.Choice, emit func(namedValue)) {
	for name, v := range choiceWant(c) {
		emit(namedValue{name, v})
	}
}

// choiceWant is the choice as checkValues expects it.
func choiceWant(c model.Choice) map[string]float64 {
	moved := 0.0
	if c.Moved {
		moved = 1
	}
	return map[string]float64{"Alpha": c.Alpha, "J": c.J, "Moved": moved}
}

// vectorValues names a vector's elements "v0", "v1", ...
func vectorValues(v []float64, emit func(namedValue)) {
	for i, x := range v {
		emit(namedValue{fmt.Sprintf("v%d", i), x})
	}
}

// column is one feature's postings in a hand-written block.
type column struct {
	name string
	rows []int32
	vals []float64
}

// sufficientBlock writes a SufficientBlock by hand: columns in feature
// order, each feature's W and D taken from rows (0 when absent).
func sufficientBlock(block int64, labels []float64, rows map[string]model.Row, cols ...column) SufficientBlock {
	b := SufficientBlock{Block: block, Labels: labels, ColPtr: []int32{0}}
	for i := range labels {
		b.Lines = append(b.Lines, int64(i+1))
	}
	for _, c := range cols {
		b.Features = append(b.Features, c.name)
		b.W = append(b.W, rows[c.name].W)
		b.D = append(b.D, rows[c.name].D)
		b.Rows = append(b.Rows, c.rows...)
		b.Vals = append(b.Vals, c.vals...)
		b.ColPtr = append(b.ColPtr, int32(len(b.Rows)))
	}
	return b
}

// gradientBlocks are two blocks over features a, b, c (and the intercept
// when bias is set), at the weights and steps of rows:
//
//	block 1: labels 1, 0, 1     block 2: labels 0, 1
//	  row 0: a:1   b:2            row 0: a:2 c:1
//	  row 1: b:1   c:3            row 1: b:0.5
//	  row 2: a:0.5
func gradientBlocks(rows map[string]model.Row, bias bool) []SufficientBlock {
	one := func(n int) column {
		c := column{name: model.BiasName}
		for r := 0; r < n; r++ {
			c.rows, c.vals = append(c.rows, int32(r)), append(c.vals, 1)
		}
		return c
	}
	cols1 := []column{
		{"a", []int32{0, 2}, []float64{1, 0.5}},
		{"b", []int32{0, 1}, []float64{2, 1}},
		{"c", []int32{1}, []float64{3}},
	}
	cols2 := []column{
		{"a", []int32{0}, []float64{2}},
		{"b", []int32{1}, []float64{0.5}},
		{"c", []int32{0}, []float64{1}},
	}
	if bias {
		cols1 = append([]column{one(3)}, cols1...)
		cols2 = append([]column{one(2)}, cols2...)
	}
	return []SufficientBlock{
		sufficientBlock(1, []float64{1, 0, 1}, rows, cols1...),
		sufficientBlock(2, []float64{0, 1}, rows, cols2...),
	}
}

// TestComputeGradientsAtZero is the hand-checked case: all weights and
// steps 0, so every z is 0 and p = 0.5.
func TestComputeGradientsAtZero(t *testing.T) {
	blocks := gradientBlocks(nil, false)
	// Each of the 5 samples loses log(1 + e^0) = log 2; the penalty is 0.
	wantChoice := map[string]float64{"Alpha": 0, "J": 5 * math.Ln2, "Moved": 0}
	// g_j = sum (0.5 - y) x_j; residuals 0.5 - y are -0.5, 0.5, -0.5 in
	// block 1 and 0.5, -0.5 in block 2:
	//   a: (-0.5*1 - 0.5*0.5) + (0.5*2)   = -0.75 + 1    = 0.25
	//   b: (-0.5*2 + 0.5*1)   + (-0.5*0.5) = -0.5 - 0.25 = -0.75
	//   c: (0.5*3)            + (0.5*1)    = 1.5 + 0.5   = 2
	// each from 2 blocks.
	wantGrads := []gradRec{
		{Name: "a", G: 0.25, Blocks: 2},
		{Name: "b", G: -0.75, Blocks: 2},
		{Name: "c", G: 2, Blocks: 2},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		in := beam.CreateList(s, blocks)
		choice := LineSearch(s, in, model.FirstPlan(), 1)
		checkValues(s, beam.ParDo(s, choiceValues, choice), wantChoice, valueTol)
		grads := ComputeGradients(s, in, choice, GradientParams{})
		passert.EqualsList(s, beam.ParDo(s, toGradRec, grads), wantGrads)
	})
}

// referencePass computes, in memory with model.Block's methods, what
// LineSearch and ComputeGradients compute: the summed losses at every
// step, the choice, and per feature the summed gradient, local weights
// and block count.
func referencePass(blocks []SufficientBlock, plan model.Plan, lambda float64, p GradientParams) (model.Choice, map[string]float64) {
	losses := make([]float64, len(plan.Steps))
	for _, b := range blocks {
		m := b.Matrix()
		zw, zd := make([]float64, m.NumRows()), make([]float64, m.NumRows())
		m.Margins(b.W, b.D, zw, zd)
		m.AddLosses(losses, zw, zd, plan.Steps)
	}
	choice := plan.Select(lambda, losses)
	want := map[string]float64{}
	for _, b := range blocks {
		m := b.Matrix()
		n := m.NumRows()
		zw, zd, resid := make([]float64, n), make([]float64, n), make([]float64, n)
		grad := make([]float64, m.NumCols())
		m.Margins(b.W, b.D, zw, zd)
		m.Gradient(grad, resid, zw, zd, choice.Alpha)
		local := make([]float64, m.NumCols())
		noShrink := -1
		for c, name := range b.Features {
			local[c] = model.TrialWeight(b.W[c], b.D[c], choice.Alpha)
			if name == model.BiasName {
				noShrink = c
			}
		}
		if p.Averaging {
			m.LocalSGD(local, p.Eta, p.Shrink, noShrink)
		}
		for c, name := range b.Features {
			want["G/"+name] += grad[c]
			want["Blocks/"+name]++
			localW := 0.0 // without averaging, GradSum.LocalW stays 0
			if p.Averaging {
				localW = local[c]
			}
			want["LocalW/"+name] += localW
		}
	}
	return choice, want
}

// planAt is the plan of a pass that starts at the rows' W and searches
// along their D: J, slope and penalty figures at W, computed in memory
// from the blocks (the intercept not regularized).
func planAt(rows map[string]model.Row, blocks []SufficientBlock, lambda float64, steps []float64) model.Plan {
	zero := model.Plan{Steps: []float64{0}, Forced: true}
	c0, g0 := referencePass(blocks, zero, lambda, GradientParams{})
	plan := model.Plan{Steps: steps}
	for name, r := range rows {
		g := g0["G/"+name]
		if name != model.BiasName {
			g += lambda * r.W
			plan.WW += r.W * r.W
			plan.WD += r.W * r.D
			plan.DD += r.D * r.D
		}
		plan.Slope += g * r.D
	}
	plan.J = c0.J + lambda/2*plan.WW
	return plan
}

// gradientRows are nonzero weights and steps for gradientBlocks; D is a
// descent direction at W.
func gradientRows() map[string]model.Row {
	return map[string]model.Row{
		"a":            {W: 0.2, D: -0.5},
		"b":            {W: -0.1, D: 1},
		"c":            {W: 0.3, D: -1.5},
		model.BiasName: {W: 0.1, D: 0.5},
	}
}

// TestComputeGradientsMatchesModel compares LineSearch and
// ComputeGradients at nonzero weights and steps with the model's Block
// methods run in the test.
func TestComputeGradientsMatchesModel(t *testing.T) {
	const lambda = 0.5
	steps := []float64{8, 4, 2, 1, 0.5, 0.25}
	t.Run("descent", func(t *testing.T) {
		rows := gradientRows()
		blocks := gradientBlocks(rows, true)
		plan := planAt(rows, blocks, lambda, steps)
		choice, want := referencePass(blocks, plan, lambda, GradientParams{})
		// The grid has points on both sides of the best one, so the choice
		// shows the line search picks the lowest J among the acceptable
		// steps.
		if plan.Slope >= 0 || !choice.Moved || choice.Alpha == steps[0] || choice.Alpha == steps[len(steps)-1] {
			t.Fatalf("test data: slope %v, choice %+v; want a descent direction and a step inside the grid %v", plan.Slope, choice, steps)
		}
		t.Logf("plan J %.6g slope %.6g; chosen step %v, J %.6g", plan.J, plan.Slope, choice.Alpha, choice.J)
		onRunners(t, bothRunners, func(s beam.Scope) {
			in := beam.CreateList(s, blocks)
			got := LineSearch(s, in, plan, lambda)
			checkValues(s, beam.ParDo(s, choiceValues, got), choiceWant(choice), valueTol)
			grads := ComputeGradients(s, in, got, GradientParams{})
			checkValues(s, beam.ParDo(s, gradValues, grads), want, valueTol)
		})
	})
	t.Run("ascent", func(t *testing.T) {
		// D reversed: no step decreases J enough, so the line search stays
		// at W (step 0, J of the plan) and the gradient is taken at W.
		rows := gradientRows()
		for name, r := range rows {
			r.D = -r.D
			rows[name] = r
		}
		blocks := gradientBlocks(rows, true)
		plan := planAt(rows, blocks, lambda, steps)
		choice, want := referencePass(blocks, plan, lambda, GradientParams{})
		if plan.Slope <= 0 || choice.Moved || choice.Alpha != 0 || choice.J != plan.J {
			t.Fatalf("test data: slope %v, choice %+v; want an ascent direction and no step", plan.Slope, choice)
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			in := beam.CreateList(s, blocks)
			got := LineSearch(s, in, plan, lambda)
			checkValues(s, beam.ParDo(s, choiceValues, got), map[string]float64{"Alpha": 0, "J": plan.J, "Moved": 0}, 0)
			grads := ComputeGradients(s, in, got, GradientParams{})
			checkValues(s, beam.ParDo(s, gradValues, grads), want, valueTol)
		})
	})
}

// TestComputeGradientsExactSum checks that the combiner adds a feature's
// partials exactly. Five one-sample blocks, label 0, W = D = 0, so each
// partial is (0.5 - 0)*x: x = 2e16 gives 1e16, x = 2 gives 1. The total
// 1e16 + 4 is representable, but float64 additions that start from 1e16
// lose every 1 (numbers near 1e16 are 2 apart; 1e16 + 1 rounds to even,
// 1e16).
func TestComputeGradientsExactSum(t *testing.T) {
	var blocks []SufficientBlock
	for i, x := range []float64{2e16, 2, 2, 2, 2} {
		blocks = append(blocks, sufficientBlock(int64(i), []float64{0}, nil, column{"x", []int32{0}, []float64{x}}))
	}
	want := []gradRec{{Name: "x", G: 1e16 + 4, Blocks: 5}}
	onRunners(t, bothRunners, func(s beam.Scope) {
		in := beam.CreateList(s, blocks)
		choice := LineSearch(s, in, model.FirstPlan(), 1)
		passert.EqualsList(s, beam.ParDo(s, toGradRec, ComputeGradients(s, in, choice, GradientParams{})), want)
	})
}

// TestComputeGradientsAveraging checks the local weights of averaging.
func TestComputeGradientsAveraging(t *testing.T) {
	t.Run("hand", func(t *testing.T) {
		// One block at W = D = 0 (step 0), eta 0.5, shrink 0.25:
		//   row 0, label 1: "":1 a:2     row 1, label 0: "":1 a:2
		// Row 0: z = 0, p - y = -0.5:
		//   w"" = 0 - 0.5*(-0.5*1)            = 0.25 (intercept: no shrink)
		//   wa  = 0 - 0.5*(-0.5*2 + 0.25*0)   = 0.5
		// Row 1: z = 0.25 + 0.5*2 = 1.25, p - y = s = sigmoid(1.25):
		//   w"" = 0.25 - 0.5*s
		//   wa  = 0.5 - 0.5*(2s + 0.25*0.5)   = 0.4375 - s
		// The gradient at W = 0 is (0.5 - 1)*x + (0.5 - 0)*x = 0 for both.
		block := sufficientBlock(1, []float64{1, 0}, nil,
			column{model.BiasName, []int32{0, 1}, []float64{1, 1}},
			column{"a", []int32{0, 1}, []float64{2, 2}})
		sig := model.Sigmoid(1.25)
		want := map[string]float64{
			"G/": 0, "LocalW/": 0.25 - 0.5*sig, "Blocks/": 1,
			"G/a": 0, "LocalW/a": 0.4375 - sig, "Blocks/a": 1,
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			in := beam.CreateList(s, []SufficientBlock{block})
			choice := LineSearch(s, in, model.FirstPlan(), 1)
			grads := ComputeGradients(s, in, choice, GradientParams{Averaging: true, Eta: 0.5, Shrink: 0.25})
			checkValues(s, beam.ParDo(s, gradValues, grads), want, valueTol)
		})
	})
	t.Run("model", func(t *testing.T) {
		// Two blocks at nonzero W, D and a forced step of 0.5: each block's
		// epoch starts from W + 0.5*D; the local weights are summed over
		// the blocks that hold the feature.
		blocks := gradientBlocks(gradientRows(), true)
		params := GradientParams{Averaging: true, Eta: 0.3, Shrink: 0.1}
		plan := model.Plan{Steps: []float64{0.5}, Forced: true}
		choice, want := referencePass(blocks, plan, 1, params)
		onRunners(t, bothRunners, func(s beam.Scope) {
			in := beam.CreateList(s, blocks)
			got := LineSearch(s, in, plan, 1)
			checkValues(s, beam.ParDo(s, choiceValues, got), choiceWant(choice), valueTol)
			grads := ComputeGradients(s, in, got, params)
			checkValues(s, beam.ParDo(s, gradValues, grads), want, valueTol)
		})
	})
}

// TestSumVectors checks the exact element-wise sum: 1e16 + 1 + 1 + 1 + 1
// is 1e16 + 4 however the terms are grouped (float64 left to right from
// 1e16 would lose every 1; see TestInvertDocumentsFreqExact).
func TestSumVectors(t *testing.T) {
	vectors := [][]float64{{1e16, 0.5}, {1, 0.25}, {1, -1}, {1, 2}, {1, 0}}
	want := map[string]float64{"v0": 1e16 + 4, "v1": 1.75}
	onRunners(t, bothRunners, func(s beam.Scope) {
		sum := SumVectors(s, beam.CreateList(s, vectors), 2)
		passert.Count(s, sum, "sums", 1)
		checkValues(s, beam.ParDo(s, vectorValues, sum), want, 0)
	})
}
