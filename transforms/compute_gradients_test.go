package transforms

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.Function3x0[int32, GradPack, func(namedValue)](gradValues)
	register.Function2x0[model.Choice, func(namedValue)](choiceValues)
	register.Function2x0[[]float64, func(namedValue)](vectorValues)
}

// gradParts partitions the gradient tests' features: "" and c in 0, a and
// b in 2.
const gradParts = 3

var gradPartitions = map[FeatureKey]int32{
	{Name: model.BiasName}: 0, {Name: "c"}: 0, {Name: "a"}: 2, {Name: "b"}: 2,
}

// gradIDs are the rows of the gradient tests' features, as DistributeParameters
// would send them to the blocks, and gradNames their names.
var (
	gradIDs   = rowIDs(gradParts, model.BiasName, "a", "b", "c")
	gradNames = func() map[RowID]string {
		names := map[RowID]string{}
		for name, id := range gradIDs {
			names[id] = name
		}
		return names
	}()
)

// gradValues names one block's gradient pack: "G/a", "Curv/a" (with
// curvature), "LocalW/a" (when averaging) and "Part/a", the partition it
// was sent to, by the name of the row at each position (gradNames). A
// feature in two packs shows up as a duplicate, which checkValues refuses.
func gradValues(p int32, g GradPack, emit func(namedValue)) {
	for i, pos := range g.Pos {
		name, ok := gradNames[RowID{Part: p, Pos: pos}]
		if !ok {
			name = fmt.Sprintf("?%d/%d", p, pos)
		}
		emit(namedValue{"G/" + name, g.G[i]})
		if g.Curv != nil {
			emit(namedValue{"Curv/" + name, g.Curv[i]})
		}
		if g.LocalW != nil {
			emit(namedValue{"LocalW/" + name, g.LocalW[i]})
		}
		emit(namedValue{"Part/" + name, float64(p)})
	}
}

// choiceValues names a line search's choice: "Alpha", "Loss", "J",
// "Moved" (0/1).
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
	return map[string]float64{"Alpha": c.Alpha, "Loss": c.Loss, "J": c.J, "Moved": moved}
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
// order, each feature's W and D taken from rows (0 when absent), its row
// from gradIDs (NoRow when absent).
func sufficientBlock(block int64, labels []float64, rows map[string]model.Row, cols ...column) SufficientBlock {
	b := SufficientBlock{DocBlock: DocBlock{Block: block, Labels: labels, ColPtr: []int32{0}}}
	for i := range labels {
		b.Lines = append(b.Lines, int64(i+1))
	}
	for _, c := range cols {
		if c.name == model.BiasName {
			b.Intercept = int32(len(b.IDs)) + 1
		}
		id, ok := gradIDs[c.name]
		if !ok {
			id = NoRow
		}
		b.IDs = append(b.IDs, id)
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
// steps 0, so every z is 0 and p = 0.5, with the curvature measured.
func TestComputeGradientsAtZero(t *testing.T) {
	requirePartitions(t, gradParts, gradPartitions)
	blocks := gradientBlocks(nil, false)
	// Each of the 5 samples loses log(1 + e^0) = log 2; the penalty is 0.
	wantChoice := map[string]float64{"Alpha": 0, "Loss": 5 * math.Ln2, "J": 5 * math.Ln2, "Moved": 0}
	// g_j = sum (0.5 - y) x_j per block; residuals 0.5 - y are -0.5, 0.5,
	// -0.5 in block 1 and 0.5, -0.5 in block 2:
	//   block 1: a: -0.5*1 - 0.5*0.5 = -0.75  b: -0.5*2 + 0.5*1 = -0.5  c: 0.5*3 = 1.5
	//   block 2: a: 0.5*2 = 1                 b: -0.5*0.5 = -0.25       c: 0.5*1 = 0.5
	// The curvature is sum p(1-p) x_j^2, p(1-p) = 0.25 (above the floor):
	//   block 1: a: 0.25*(1 + 0.25) = 0.3125  b: 0.25*(4 + 1) = 1.25  c: 0.25*9 = 2.25
	//   block 2: a: 0.25*4 = 1               b: 0.25*0.25 = 0.0625   c: 0.25*1 = 0.25
	// One pack per (block, partition): c in 0, a and b in 2.
	if model.CurvatureFloor >= 0.25 {
		t.Fatalf("test data: p(1-p) = 0.25 is below the curvature floor %v", model.CurvatureFloor)
	}
	wantGrads := gradsAt(gradIDs,
		namedGrad{Part: 0, Names: []string{"c"}, G: []float64{1.5}, Curv: []float64{2.25}},
		namedGrad{Part: 2, Names: []string{"a", "b"}, G: []float64{-0.75, -0.5}, Curv: []float64{0.3125, 1.25}},
		namedGrad{Part: 0, Names: []string{"c"}, G: []float64{0.5}, Curv: []float64{0.25}},
		namedGrad{Part: 2, Names: []string{"a", "b"}, G: []float64{1, -0.25}, Curv: []float64{1, 0.0625}},
	)
	onRunners(t, bothRunners, func(s beam.Scope) {
		in := beam.CreateList(s, blocks)
		choice := LineSearch(s, in, model.FirstPlan(), 1, false, 0)
		checkValues(s, beam.ParDo(s, choiceValues, choice), wantChoice, valueTol)
		grads := ComputeGradients(s, in, choice, GradientParams{Curvature: true})
		passert.EqualsList(s, beam.ParDo(s, toGradRec, grads), wantGrads)
	})
}

// referencePass computes, in memory with model.Block's methods, what
// LineSearch and ComputeGradients compute: the summed losses at every
// step, the choice, and each block's gradient packs over gradParts
// partitions (names ascending in each), with the curvature and the local
// weights when asked for.
func referencePass(blocks []SufficientBlock, plan model.Plan, lambda float64, p GradientParams) (model.Choice, []namedGrad) {
	losses := make([]float64, len(plan.Steps))
	for _, b := range blocks {
		m := b.Matrix()
		zw, zd := make([]float64, m.NumRows()), make([]float64, m.NumRows())
		m.Margins(b.W, b.D, zw, zd)
		m.AddLosses(losses, zw, zd, plan.Steps)
	}
	choice := plan.Select(lambda, losses)
	var want []namedGrad
	for _, b := range blocks {
		m := b.Matrix()
		n := m.NumRows()
		zw, zd, resid := make([]float64, n), make([]float64, n), make([]float64, n)
		grad := make([]float64, m.NumCols())
		m.Margins(b.W, b.D, zw, zd)
		m.Gradient(grad, resid, zw, zd, choice.Alpha)
		curv := make([]float64, m.NumCols())
		m.Curvature(curv, resid, zw, zd, choice.Alpha)
		local := make([]float64, m.NumCols())
		noShrink := -1
		for c, id := range b.IDs {
			local[c] = model.TrialWeight(b.W[c], b.D[c], choice.Alpha)
			if gradNames[id] == model.BiasName {
				noShrink = c
			}
		}
		if p.Averaging {
			m.LocalSGD(local, p.Eta, p.Shrink, noShrink)
		}
		packs := map[int32]*namedGrad{}
		for c, id := range b.IDs {
			name := gradNames[id]
			part := PartitionOf(FeatureKey{Name: name}, gradParts)
			g := packs[part]
			if g == nil {
				g = &namedGrad{Part: part}
				packs[part] = g
			}
			g.Names = append(g.Names, name)
			g.G = append(g.G, grad[c])
			if p.Curvature {
				g.Curv = append(g.Curv, curv[c])
			}
			if p.Averaging {
				g.LocalW = append(g.LocalW, local[c])
			}
		}
		for _, g := range packs {
			want = append(want, *g)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Part < want[j].Part })
	return choice, want
}

// gradSums adds up the packs' gradients per feature.
func gradSums(packs []namedGrad) map[string]float64 {
	sums := map[string]float64{}
	for _, g := range packs {
		for i, name := range g.Names {
			sums[name] += g.G[i]
		}
	}
	return sums
}

// planAt is the plan of a pass that starts at the rows' W and searches
// along their D: J, slope and penalty figures at W, computed in memory
// from the blocks (the intercept not regularized).
func planAt(rows map[string]model.Row, blocks []SufficientBlock, lambda float64, steps []float64) model.Plan {
	zero := model.Plan{Steps: []float64{0}, Forced: true}
	c0, g0 := referencePass(blocks, zero, lambda, GradientParams{})
	sums := gradSums(g0)
	plan := model.Plan{Steps: steps}
	for name, r := range rows {
		g := sums[name]
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
// methods run in the test, with the curvature (as for L-BFGS) and
// without. ComputeGradients runs those very methods on the same columns,
// so its partials must match bit for bit.
func TestComputeGradientsMatchesModel(t *testing.T) {
	requirePartitions(t, gradParts, gradPartitions)
	const lambda = 0.5
	steps := []float64{8, 4, 2, 1, 0.5, 0.25}
	t.Run("descent", func(t *testing.T) {
		params := GradientParams{Curvature: true}
		rows := gradientRows()
		blocks := gradientBlocks(rows, true)
		plan := planAt(rows, blocks, lambda, steps)
		choice, want := referencePass(blocks, plan, lambda, params)
		// The grid has points on both sides of the best one, so the choice
		// shows the line search picks the lowest J among the acceptable
		// steps.
		if plan.Slope >= 0 || !choice.Moved || choice.Alpha == steps[0] || choice.Alpha == steps[len(steps)-1] {
			t.Fatalf("test data: slope %v, choice %+v; want a descent direction and a step inside the grid %v", plan.Slope, choice, steps)
		}
		if len(want) != 4 {
			t.Fatalf("test data: want 2 blocks x 2 partitions of gradients, got %d packs", len(want))
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			in := beam.CreateList(s, blocks)
			got := LineSearch(s, in, plan, lambda, false, 0)
			checkValues(s, beam.ParDo(s, choiceValues, got), choiceWant(choice), valueTol)
			grads := ComputeGradients(s, in, got, params)
			passert.EqualsList(s, beam.ParDo(s, toGradRec, grads), gradsAt(gradIDs, want...))
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
		params := GradientParams{}
		choice, want := referencePass(blocks, plan, lambda, params)
		if plan.Slope <= 0 || choice.Moved || choice.Alpha != 0 || choice.J != plan.J {
			t.Fatalf("test data: slope %v, choice %+v; want an ascent direction and no step", plan.Slope, choice)
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			in := beam.CreateList(s, blocks)
			got := LineSearch(s, in, plan, lambda, false, 0)
			checkValues(s, beam.ParDo(s, choiceValues, got), choiceWant(choice), 0)
			grads := ComputeGradients(s, in, got, params)
			passert.EqualsList(s, beam.ParDo(s, toGradRec, grads), gradsAt(gradIDs, want...))
		})
	})
}

// TestComputeGradientsAveraging checks the local weights of averaging.
func TestComputeGradientsAveraging(t *testing.T) {
	requirePartitions(t, gradParts, gradPartitions)
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
			"G/": 0, "LocalW/": 0.25 - 0.5*sig, "Part/": 0,
			"G/a": 0, "LocalW/a": 0.4375 - sig, "Part/a": 2,
		}
		onRunners(t, bothRunners, func(s beam.Scope) {
			in := beam.CreateList(s, []SufficientBlock{block})
			choice := LineSearch(s, in, model.FirstPlan(), 1, false, 0)
			grads := ComputeGradients(s, in, choice, GradientParams{Averaging: true, Eta: 0.5, Shrink: 0.25})
			checkValues(s, beam.ParDo(s, gradValues, grads), want, valueTol)
		})
	})
	t.Run("model", func(t *testing.T) {
		// Two blocks at nonzero W, D and a forced step of 0.5: each block's
		// epoch starts from W + 0.5*D.
		blocks := gradientBlocks(gradientRows(), true)
		params := GradientParams{Averaging: true, Eta: 0.3, Shrink: 0.1}
		plan := model.Plan{Steps: []float64{0.5}, Forced: true}
		choice, want := referencePass(blocks, plan, 1, params)
		onRunners(t, bothRunners, func(s beam.Scope) {
			in := beam.CreateList(s, blocks)
			got := LineSearch(s, in, plan, 1, false, 0)
			checkValues(s, beam.ParDo(s, choiceValues, got), choiceWant(choice), valueTol)
			grads := ComputeGradients(s, in, got, params)
			passert.EqualsList(s, beam.ParDo(s, toGradRec, grads), gradsAt(gradIDs, want...))
		})
	})
}

// TestLineSearchExactSum: the blocks' losses are summed exactly. Block
// losses at step 0 of 1e16 (a huge margin on the wrong side) and four of
// log 2 (margin 0): a float64 sum from 1e16 loses every log 2 (numbers
// near 1e16 are 2 apart), the exact one keeps their sum, 2.77, and rounds
// the total once, to 1e16 + 2.
func TestLineSearchExactSum(t *testing.T) {
	big := sufficientBlock(0, []float64{1}, map[string]model.Row{"x": {W: -1}}, column{"x", []int32{0}, []float64{1e16}})
	blocks := []SufficientBlock{big}
	for i := 1; i <= 4; i++ {
		blocks = append(blocks, sufficientBlock(int64(i), []float64{1}, nil, column{"x", []int32{0}, []float64{1}}))
	}
	want := 1e16 + 4*math.Ln2
	if want == 1e16 {
		t.Fatal("test data: 1e16 + 4 log 2 rounds to 1e16")
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		choice := LineSearch(s, beam.CreateList(s, blocks), model.FirstPlan(), 0, false, 0)
		checkValues(s, beam.ParDo(s, choiceValues, choice), map[string]float64{"Alpha": 0, "Loss": want, "J": want, "Moved": 0}, 0)
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
