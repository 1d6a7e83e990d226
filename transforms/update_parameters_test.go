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
	register.Function1x2[gradRec, string, GradSum](fromGradRec)
	register.Function3x0[string, model.Row, func(namedValue)](rowValues)
	register.Function2x0[model.Figures, func(namedValue)](figureValues)
	register.Function2x0[model.Gram, func(namedValue)](gramValues)
	register.Function2x0[Direction, func(namedValue)](directionValues)
}

func fromGradRec(r gradRec) (string, GradSum) {
	return r.Name, GradSum{G: r.G, LocalW: r.LocalW, Blocks: r.Blocks}
}

// rowValues names a row's numbers: "W/a", "G/a", "D/a", "H/a", "S0/a",
// ..., "Y0/a", ..., and "K/a", the history length.
func rowValues(name string, r model.Row, emit func(namedValue)) {
	for _, v := range rowNamed(name, r) {
		emit(v)
	}
}

func rowNamed(name string, r model.Row) []namedValue {
	out := []namedValue{{"W/" + name, r.W}, {"G/" + name, r.G}, {"D/" + name, r.D}, {"H/" + name, r.H}, {"K/" + name, float64(len(r.S))}}
	for i := range r.S {
		out = append(out, namedValue{fmt.Sprintf("S%d/%s", i, name), r.S[i]})
	}
	for i := range r.Y {
		out = append(out, namedValue{fmt.Sprintf("Y%d/%s", i, name), r.Y[i]})
	}
	return out
}

func rowsWant(rows map[string]model.Row) map[string]float64 {
	want := map[string]float64{}
	for name, r := range rows {
		for _, v := range rowNamed(name, r) {
			want[v.Name] = v.V
		}
	}
	return want
}

// figureValues names the figures' fields.
func figureValues(f model.Figures, emit func(namedValue)) {
	for name, v := range figuresNamed(f) {
		emit(namedValue{name, v})
	}
}

func figuresNamed(f model.Figures) map[string]float64 {
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	return map[string]float64{
		"Pass": float64(f.Pass), "J": f.J, "Loss": f.Loss, "GradNorm": f.GradNorm, "Alpha": f.Alpha,
		"Moved": b(f.Moved), "Steepest": b(f.Steepest), "Slope": f.Slope,
		"WW": f.WW, "WD": f.WD, "DD": f.DD, "Rows": float64(f.Rows), "Seconds": f.Seconds,
	}
}

// gramValues names a Gram's entries: "K", "Dot0", "Dot1", ...
func gramValues(g model.Gram, emit func(namedValue)) {
	emit(namedValue{"K", float64(g.K)})
	for i, v := range g.Dot {
		emit(namedValue{fmt.Sprintf("Dot%d", i), v})
	}
}

// directionValues names a Direction: "Coef0", ..., "Steepest".
func directionValues(d Direction, emit func(namedValue)) {
	for i, v := range d.Coef {
		emit(namedValue{fmt.Sprintf("Coef%d", i), v})
	}
	steepest := 0.0
	if d.Steepest {
		steepest = 1
	}
	emit(namedValue{"Steepest", steepest})
}

// updateRows are the rows before the update; the intercept is not
// regularized, d has no gradient (it is in no block).
var updateRows = []rowRec{
	{Name: "a", W: 1, D: -0.5, H: 2},
	{Name: "b", W: 0, D: 2, H: 1},
	{Name: model.BiasName, W: 0.5, D: 1, H: 3},
	{Name: "d", W: 2, D: 0, H: 0.5},
}

func TestUpdateParametersGD(t *testing.T) {
	grads := []gradRec{
		{Name: "a", G: 0.25, Blocks: 2},
		{Name: "b", G: -0.75, Blocks: 1},
		{Name: model.BiasName, G: 1, Blocks: 2},
	}
	choice := model.Choice{Alpha: 0.5, Loss: 0.71875, J: 3.5, Moved: true}
	params := UpdateParams{Train: model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.GD}, Eta: 0.5, Pass: 4}
	// W' = W + 0.5*D; G = g + lambda*W' (not for the intercept);
	// D' = -eta*G = -0.5*G; H unchanged.
	//   a:  W' = 1 - 0.25 = 0.75   G = 0.25 + 0.75 = 1     D' = -0.5
	//   b:  W' = 0 + 1    = 1      G = -0.75 + 1   = 0.25  D' = -0.125
	//   "": W' = 0.5 + 0.5 = 1     G = 1                   D' = -0.5
	//   d:  W' = 2                 G = 0 + 2       = 2     D' = -1
	wantRows := []rowRec{
		{Name: "a", W: 0.75, G: 1, D: -0.5, H: 2},
		{Name: "b", W: 1, G: 0.25, D: -0.125, H: 1},
		{Name: model.BiasName, W: 1, G: 1, D: -0.5, H: 3},
		{Name: "d", W: 2, G: 2, D: -1, H: 0.5},
	}
	// |g|^2 = 1 + 0.0625 + 1 + 4 = 6.0625 = 97/16
	// G.D   = -0.5 - 0.03125 - 0.5 - 2 = -3.03125
	// over a, b, d (the intercept is not regularized):
	//   WW = 0.5625 + 1 + 4 = 5.5625, WD = -0.375 - 0.125 - 2 = -2.5,
	//   DD = 0.25 + 0.015625 + 1 = 1.265625
	// Loss = J - lambda/2*WW = 3.5 - 2.78125 = 0.71875
	wantFigs := map[string]float64{
		"Pass": 4, "J": 3.5, "Loss": 0.71875, "GradNorm": math.Sqrt(97) / 4, "Alpha": 0.5,
		"Moved": 1, "Steepest": 0, "Slope": -3.03125,
		"WW": 5.5625, "WD": -2.5, "DD": 1.265625, "Rows": 4, "Seconds": 0,
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowRec, updateRows), keyed(s, fromGradRec, grads), beam.Create(s, choice), params)
		passert.EqualsList(s, beam.ParDo(s, toRowRec, up.Rows), wantRows)
		passert.Count(s, up.Figures, "figures", 1)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), wantFigs, valueTol)
	})
}

func TestUpdateParametersAveraging(t *testing.T) {
	grads := []gradRec{
		{Name: "a", G: 0.25, LocalW: 2.5, Blocks: 2},
		{Name: model.BiasName, G: 1, LocalW: 4.5, Blocks: 3},
	}
	choice := model.Choice{Alpha: 0.5, Loss: 1.21875, J: 2, Moved: true}
	params := UpdateParams{Train: model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.Averaging}, Eta: 0.1, Pass: 1}
	rows := updateRows[:3]
	// D' = mean of the local weights - W':
	//   a:  W' = 0.75, G = 1,          D' = 2.5/2 - 0.75 = 0.5
	//   b:  W' = 1,    G = 0 + 1 = 1,  in no block:  D' = 0
	//   "": W' = 1,    G = 1,          D' = 4.5/3 - 1 = 0.5
	wantRows := []rowRec{
		{Name: "a", W: 0.75, G: 1, D: 0.5, H: 2},
		{Name: "b", W: 1, G: 1, D: 0, H: 1},
		{Name: model.BiasName, W: 1, G: 1, D: 0.5, H: 3},
	}
	// |g|^2 = 3; G.D = 0.5 + 0 + 0.5 = 1; over a, b: WW = 0.5625 + 1 =
	// 1.5625, WD = 0.375, DD = 0.25; Loss = 2 - 0.78125 = 1.21875.
	wantFigs := map[string]float64{
		"Pass": 1, "J": 2, "Loss": 1.21875, "GradNorm": math.Sqrt(3), "Alpha": 0.5,
		"Moved": 1, "Steepest": 0, "Slope": 1,
		"WW": 1.5625, "WD": 0.375, "DD": 0.25, "Rows": 3, "Seconds": 0,
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowRec, rows), keyed(s, fromGradRec, grads), beam.Create(s, choice), params)
		passert.EqualsList(s, beam.ParDo(s, toRowRec, up.Rows), wantRows)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), wantFigs, valueTol)
	})
}

// TestUpdateParametersLBFGSReset: a pass that did not move (alpha 0)
// clears every row's history, so the next direction is the preconditioned
// steepest descent D = -G/H.
func TestUpdateParametersLBFGSReset(t *testing.T) {
	rows := []rowRec{
		{Name: "a", W: 1, G: 0.5, D: -0.5, H: 2, S: []float64{0.25}, Y: []float64{0.5}},
		{Name: "b", W: -1, G: 0.1, D: 0.5, H: 0.5, S: []float64{-0.5}, Y: []float64{1}},
		{Name: model.BiasName, W: 0.5, G: 0.1, D: 1, H: 4, S: []float64{0.5}, Y: []float64{0.125}},
	}
	grads := []gradRec{{Name: "a", G: 0.25, Blocks: 1}, {Name: "b", G: -0.5, Blocks: 1}, {Name: model.BiasName, G: 1, Blocks: 1}}
	choice := model.Choice{Alpha: 0, Loss: 2, J: 3, Moved: false}
	params := UpdateParams{Train: model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.LBFGS, Memory: 3}, Pass: 2}
	//   a:  W' = 1,   G = 0.25 + 1  = 1.25, D' = -1.25/2   = -0.625
	//   b:  W' = -1,  G = -0.5 - 1  = -1.5, D' = 1.5/0.5   = 3
	//   "": W' = 0.5, G = 1,               D' = -1/4      = -0.25
	wantRows := []rowRec{
		{Name: "a", W: 1, G: 1.25, D: -0.625, H: 2},
		{Name: "b", W: -1, G: -1.5, D: 3, H: 0.5},
		{Name: model.BiasName, W: 0.5, G: 1, D: -0.25, H: 4},
	}
	// |g|^2 = 1.5625 + 2.25 + 1 = 4.8125; G.D = -0.78125 - 4.5 - 0.25 =
	// -5.53125; over a, b: WW = 2, WD = -0.625 - 3 = -3.625,
	// DD = 0.390625 + 9 = 9.390625; Loss = 3 - 1 = 2.
	wantFigs := map[string]float64{
		"Pass": 2, "J": 3, "Loss": 2, "GradNorm": math.Sqrt(4.8125), "Alpha": 0,
		"Moved": 0, "Steepest": 1, "Slope": -5.53125,
		"WW": 2, "WD": -3.625, "DD": 9.390625, "Rows": 3, "Seconds": 0,
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowRec, rows), keyed(s, fromGradRec, grads), beam.Create(s, choice), params)
		passert.EqualsList(s, beam.ParDo(s, toRowRec, up.Rows), wantRows)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), wantFigs, valueTol)
	})
}

// TestUpdateParametersInterceptRowWithoutBias: training without the
// intercept from the weights of a model trained with it keeps the row ""
// (InitParameters keeps rows found only in the warm start). With Bias off
// that row is an ordinary, regularized feature: UpdateRow adds lambda*W to
// its gradient, as the reference trainer does (it treats a row as the
// intercept only when Bias is set). The pass's figures must then count its
// W and D in WW, WD, DD, or the next line search's J (whose penalty is
// built from WW) is not the objective whose gradient the rows carry.
//
// Rows (GD, eta 0.5, lambda 1, step 1, D = 0 so W' = W):
//
//	"": W 2, no gradient data: G = 0 + 2 = 2,   D' = -1
//	a:  W 1, data gradient 0.5: G = 0.5 + 1 = 1.5, D' = -0.75
//
// Figures: |g|^2 = 4 + 2.25 = 6.25; G.D = -2 - 1.125 = -3.125;
// WW = 4 + 1 = 5; WD = -2 - 0.75 = -2.75; DD = 1 + 0.5625 = 1.5625;
// Loss = J - WW/2 = 5 - 2.5 = 2.5.
func TestUpdateParametersInterceptRowWithoutBias(t *testing.T) {
	rows := []rowRec{{Name: model.BiasName, W: 2, H: 1}, {Name: "a", W: 1, H: 1}}
	grads := []gradRec{{Name: "a", G: 0.5, Blocks: 1}}
	choice := model.Choice{Alpha: 1, Loss: 2.5, J: 5, Moved: true}
	params := UpdateParams{Train: model.TrainParams{Lambda: 1, Bias: false, Optimizer: model.GD}, Eta: 0.5, Pass: 1}
	wantRows := []rowRec{
		{Name: model.BiasName, W: 2, G: 2, D: -1, H: 1},
		{Name: "a", W: 1, G: 1.5, D: -0.75, H: 1},
	}
	wantFigs := map[string]float64{
		"Pass": 1, "J": 5, "Loss": 2.5, "GradNorm": 2.5, "Alpha": 1,
		"Moved": 1, "Steepest": 0, "Slope": -3.125,
		"WW": 5, "WD": -2.75, "DD": 1.5625, "Rows": 2, "Seconds": 0,
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowRec, rows), keyed(s, fromGradRec, grads), beam.Create(s, choice), params)
		passert.EqualsList(s, beam.ParDo(s, toRowRec, up.Rows), wantRows)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), wantFigs, valueTol)
	})
}

// lbfgsRows are rows with two history pairs each, and their gradient
// sums; c is in no block.
var (
	lbfgsRows = []rowRec{
		{Name: "a", W: 1, G: 0.5, D: -0.5, H: 2, S: []float64{0.25, -0.1}, Y: []float64{0.5, -0.3}},
		{Name: "b", W: -1, G: -0.2, D: 0.5, H: 0.5, S: []float64{-0.5, 0.2}, Y: []float64{-1, 0.4}},
		{Name: "c", W: 0.3, G: 0.3, D: -0.3, H: 1.5, S: []float64{0.1, 0.2}, Y: []float64{0.2, 0.3}},
		{Name: model.BiasName, W: 0.5, G: 0.1, D: -0.25, H: 4, S: []float64{0.5, 0.1}, Y: []float64{0.125, 0.05}},
	}
	lbfgsGrads = []gradRec{
		{Name: "a", G: -0.4, Blocks: 2},
		{Name: "b", G: 0.6, Blocks: 1},
		{Name: model.BiasName, G: -0.3, Blocks: 2},
	}
)

// gramInMemory sums the rows' basis products in plain float64.
func gramInMemory(rows map[string]model.Row) model.Gram {
	var k int
	for _, r := range rows {
		k = len(r.S)
	}
	g := model.Gram{K: k, Dot: make([]float64, model.GramLen(k))}
	for _, r := range rows {
		model.AddRowProducts(model.RowBasis(nil, r), func(i int, v float64) { g.Dot[i] += v })
	}
	return g
}

// TestUpdateParametersLBFGS compares a moving L-BFGS pass with the same
// steps run in memory: model.UpdateRow per row, the Gram of the new rows,
// its Direction, ApplyDirection, and the figures. It also checks the Gram
// combine and the Direction on their own.
func TestUpdateParametersLBFGS(t *testing.T) {
	const lambda = 0.5
	train := model.TrainParams{Lambda: lambda, Bias: true, Optimizer: model.LBFGS, Memory: 2}
	choice := model.Choice{Alpha: 1, J: 4.25, Moved: true}
	grad := map[string]float64{}
	for _, g := range lbfgsGrads {
		grad[g.Name] = g.G
	}
	moved := map[string]model.Row{}
	for _, r := range lbfgsRows {
		_, row := fromRowRec(r)
		moved[r.Name] = model.UpdateRow(row, train, r.Name == model.BiasName, choice.Alpha, grad[r.Name])
	}
	gram := gramInMemory(moved)
	coef, steepest := gram.Direction()
	if gram.K != 2 || steepest {
		t.Fatalf("test data: want 2 usable history pairs, got K = %d, steepest = %v", gram.K, steepest)
	}
	next := map[string]model.Row{}
	var sums [model.NumRowFigures]float64
	for name, r := range moved {
		next[name] = model.ApplyDirection(r, coef)
		for i, v := range model.RowFigures(next[name], name == model.BiasName) {
			sums[i] += v
		}
	}
	figs := model.FromRowSums(3, choice, lambda, false, sums[:])
	wantGram := map[string]float64{"K": 2}
	for i, v := range gram.Dot {
		wantGram[fmt.Sprintf("Dot%d", i)] = v
	}
	wantDir := map[string]float64{"Steepest": 0}
	for i, v := range coef {
		wantDir[fmt.Sprintf("Coef%d", i)] = v
	}

	onRunners(t, bothRunners, func(s beam.Scope) {
		rows := keyed(s, fromRowRec, lbfgsRows)
		up := UpdateParameters(s, rows, keyed(s, fromGradRec, lbfgsGrads), beam.Create(s, choice),
			UpdateParams{Train: train, Pass: 3})
		checkValues(s, beam.ParDo(s, rowValues, up.Rows), rowsWant(next), valueTol)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), figuresNamed(figs), valueTol)

		// The Gram combine and the coefficients on their own, over the
		// moved rows (the update's rows before the direction is applied).
		movedRows := beam.ParDo(s, fromRowRec, beam.CreateList(s, recsOf(moved)))
		g := beam.Combine(s, &gramSumFn{}, beam.DropKey(s, movedRows))
		checkValues(s, beam.ParDo(s, gramValues, g), wantGram, valueTol)
		checkValues(s, beam.ParDo(s, directionValues, beam.ParDo(s, directionOf, g)), wantDir, valueTol)
	})
}

func recsOf(rows map[string]model.Row) []rowRec {
	var out []rowRec
	for name, r := range rows {
		out = append(out, toRowRec(name, r))
	}
	return out
}

func TestUpdateParametersErrors(t *testing.T) {
	t.Run("gradient-without-row", func(t *testing.T) {
		grads := []gradRec{{Name: "a", G: 0.25, Blocks: 1}, {Name: "x", G: 1, Blocks: 1}}
		params := UpdateParams{Train: model.TrainParams{Lambda: 1, Optimizer: model.GD}, Eta: 0.5}
		failsOnRunners(t, bothRunners, `feature "x" has 0 parameter rows, want 1`, func(s beam.Scope) {
			UpdateParameters(s, keyed(s, fromRowRec, updateRows[:1]), keyed(s, fromGradRec, grads),
				beam.Create(s, model.Choice{Alpha: 1, Moved: true}), params)
		})
	})
	t.Run("history-lengths-disagree", func(t *testing.T) {
		// After a move with memory 3, a has 2 pairs and b 1.
		rows := []rowRec{
			{Name: "a", W: 1, H: 1, S: []float64{0.5}, Y: []float64{0.5}},
			{Name: "b", W: 1, H: 1},
		}
		grads := []gradRec{{Name: "a", G: 0.25, Blocks: 1}, {Name: "b", G: 0.5, Blocks: 1}}
		params := UpdateParams{Train: model.TrainParams{Lambda: 1, Optimizer: model.LBFGS, Memory: 3}}
		failsOnRunners(t, bothRunners, "parameter rows disagree on L-BFGS history length", func(s beam.Scope) {
			UpdateParameters(s, keyed(s, fromRowRec, rows), keyed(s, fromGradRec, grads),
				beam.Create(s, model.Choice{Alpha: 1, Moved: true}), params)
		})
	})
}
