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
	register.Function3x0[int32, RowPack, func(namedValue)](rowValues)
	register.Function2x0[model.Figures, func(namedValue)](figureValues)
	register.Function2x0[model.Gram, func(namedValue)](gramValues)
	register.Function2x0[Direction, func(namedValue)](directionValues)
}

// updateParts partitions the update tests' features: "" and c in 0, d
// and x in 1, a and b in 2.
const updateParts = 3

var updatePartitions = map[FeatureKey]int32{
	{Name: model.BiasName}: 0, {Name: "c"}: 0, {Name: "d"}: 1, {Name: "x"}: 1, {Name: "a"}: 2, {Name: "b"}: 2,
}

// rowValues names the numbers of a partition's rows: "W/a", "G/a",
// "D/a", "H/a", "S0/a", ..., "Y0/a", ..., "K/a", the history length, and
// "Part/a", the partition. A row in two packs shows up as a duplicate.
func rowValues(p int32, pack RowPack, emit func(namedValue)) {
	for i, name := range pack.Names {
		for _, v := range rowNamed(name, pack.Rows[i]) {
			emit(v)
		}
		emit(namedValue{"Part/" + name, float64(p)})
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

// rowsWant is what rowValues should emit for rows over parts partitions.
func rowsWant(rows map[string]model.Row, parts int32) map[string]float64 {
	want := map[string]float64{}
	for name, r := range rows {
		for _, v := range rowNamed(name, r) {
			want[v.Name] = v.V
		}
		want["Part/"+name] = float64(PartitionOf(FeatureKey{Name: name}, parts))
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
// regularized, d has no gradient (it is in no block, and alone in its
// partition, which gets no gradient pack at all).
var updateRows = map[string]model.Row{
	"a":            {W: 1, D: -0.5, H: 2},
	"b":            {W: 0, D: 2, H: 1},
	model.BiasName: {W: 0.5, D: 1, H: 3},
	"d":            {W: 2, D: 0, H: 0.5},
}

func updateRowsWithout(names ...string) map[string]model.Row {
	out := map[string]model.Row{}
	for name, r := range updateRows {
		out[name] = r
	}
	for _, name := range names {
		delete(out, name)
	}
	return out
}

func TestUpdateParametersGD(t *testing.T) {
	requirePartitions(t, updateParts, updatePartitions)
	// Gradient partials of a (0.5 - 0.25 = 0.25, from two blocks), b
	// (-0.75) and the intercept (0.75 + 0.25 = 1, two blocks).
	grads := []namedGrad{
		{Part: 2, Names: []string{"a", "b"}, G: []float64{0.5, -0.75}},
		{Part: 2, Names: []string{"a"}, G: []float64{-0.25}},
		{Part: 0, Names: []string{model.BiasName}, G: []float64{0.75}},
		{Part: 0, Names: []string{model.BiasName}, G: []float64{0.25}},
	}
	choice := model.Choice{Alpha: 0.5, Loss: 0.71875, J: 3.5, Moved: true}
	params := UpdateParams{Train: model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.GD}, Eta: 0.5, Pass: 4}
	// W' = W + 0.5*D; G = g + lambda*W' (not for the intercept);
	// D' = -eta*G = -0.5*G; H unchanged.
	//   a:  W' = 1 - 0.25 = 0.75   G = 0.25 + 0.75 = 1     D' = -0.5
	//   b:  W' = 0 + 1    = 1      G = -0.75 + 1   = 0.25  D' = -0.125
	//   "": W' = 0.5 + 0.5 = 1     G = 1                   D' = -0.5
	//   d:  W' = 2                 G = 0 + 2       = 2     D' = -1
	wantRows := []rowPackRec{
		{Part: 0, Names: []string{model.BiasName}, Rows: []model.Row{{W: 1, G: 1, D: -0.5, H: 3}}},
		{Part: 1, Names: []string{"d"}, Rows: []model.Row{{W: 2, G: 2, D: -1, H: 0.5}}},
		{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{{W: 0.75, G: 1, D: -0.5, H: 2}, {W: 1, G: 0.25, D: -0.125, H: 1}}},
	}
	// |g|^2 = 1 + 0.0625 + 1 + 4 = 6.0625 = 97/16
	// G.D   = -0.5 - 0.03125 - 0.5 - 2 = -3.03125
	// over a, b, d (the intercept is not regularized):
	//   WW = 0.5625 + 1 + 4 = 5.5625, WD = -0.375 - 0.125 - 2 = -2.5,
	//   DD = 0.25 + 0.015625 + 1 = 1.265625
	// J = Loss + lambda/2*WW = 0.71875 + 2.78125 = 3.5
	wantFigs := map[string]float64{
		"Pass": 4, "J": 3.5, "Loss": 0.71875, "GradNorm": math.Sqrt(97) / 4, "Alpha": 0.5,
		"Moved": 1, "Steepest": 0, "Slope": -3.03125,
		"WW": 5.5625, "WD": -2.5, "DD": 1.265625, "Rows": 4, "Seconds": 0,
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowPackRec, rowPacks(updateParts, updateRows)), keyed(s, fromGradRec, gradsAt(packIDs(rowPacks(updateParts, updateRows)), grads...)), beam.Create(s, choice), params)
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, up.Rows), wantRows)
		passert.Count(s, up.Figures, "figures", 1)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), wantFigs, valueTol)
	})
}

func TestUpdateParametersAveraging(t *testing.T) {
	requirePartitions(t, updateParts, updatePartitions)
	// a: two blocks, gradients 0.5 - 0.25, local weights 0 and 2.5 (a
	// block whose epoch ends at 0 still counts); the intercept: three
	// blocks, gradients 0.25 + 0.25 + 0.5, local weights 1 + 1.5 + 2.
	grads := []namedGrad{
		{Part: 2, Names: []string{"a"}, G: []float64{0.5}, LocalW: []float64{0}},
		{Part: 2, Names: []string{"a"}, G: []float64{-0.25}, LocalW: []float64{2.5}},
		{Part: 0, Names: []string{model.BiasName}, G: []float64{0.25}, LocalW: []float64{1}},
		{Part: 0, Names: []string{model.BiasName}, G: []float64{0.25}, LocalW: []float64{1.5}},
		{Part: 0, Names: []string{model.BiasName}, G: []float64{0.5}, LocalW: []float64{2}},
	}
	choice := model.Choice{Alpha: 0.5, Loss: 1.21875, J: 2, Moved: true}
	params := UpdateParams{Train: model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.Averaging}, Eta: 0.1, Pass: 1}
	rows := updateRowsWithout("d")
	// D' = mean of the local weights - W':
	//   a:  W' = 0.75, G = 1,          D' = 2.5/2 - 0.75 = 0.5
	//   b:  W' = 1,    G = 0 + 1 = 1,  in no block:  D' = 0
	//   "": W' = 1,    G = 1,          D' = 4.5/3 - 1 = 0.5
	wantRows := []rowPackRec{
		{Part: 0, Names: []string{model.BiasName}, Rows: []model.Row{{W: 1, G: 1, D: 0.5, H: 3}}},
		{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{{W: 0.75, G: 1, D: 0.5, H: 2}, {W: 1, G: 1, D: 0, H: 1}}},
	}
	// |g|^2 = 3; G.D = 0.5 + 0 + 0.5 = 1; over a, b: WW = 0.5625 + 1 =
	// 1.5625, WD = 0.375, DD = 0.25; J = 1.21875 + 0.78125 = 2.
	wantFigs := map[string]float64{
		"Pass": 1, "J": 2, "Loss": 1.21875, "GradNorm": math.Sqrt(3), "Alpha": 0.5,
		"Moved": 1, "Steepest": 0, "Slope": 1,
		"WW": 1.5625, "WD": 0.375, "DD": 0.25, "Rows": 3, "Seconds": 0,
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowPackRec, rowPacks(updateParts, rows)), keyed(s, fromGradRec, gradsAt(packIDs(rowPacks(updateParts, rows)), grads...)), beam.Create(s, choice), params)
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, up.Rows), wantRows)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), wantFigs, valueTol)
	})
}

// TestUpdateParametersLBFGSReset: a pass that did not move (alpha 0)
// clears every row's history, so the next direction is the preconditioned
// steepest descent D = -G/H, with H the curvature measured at W (summed
// over the blocks) plus lambda, but for the intercept.
func TestUpdateParametersLBFGSReset(t *testing.T) {
	requirePartitions(t, updateParts, updatePartitions)
	rows := map[string]model.Row{
		"a":            {W: 1, G: 0.5, D: -0.5, H: 7, S: []float64{0.25}, Y: []float64{0.5}},
		"b":            {W: -1, G: 0.1, D: 0.5, H: 7, S: []float64{-0.5}, Y: []float64{1}},
		model.BiasName: {W: 0.5, G: 0.1, D: 1, H: 7, S: []float64{0.5}, Y: []float64{0.125}},
	}
	grads := []namedGrad{
		{Part: 2, Names: []string{"a", "b"}, G: []float64{0.25, -0.5}, Curv: []float64{0.75, 1}},
		{Part: 2, Names: []string{"a"}, G: []float64{0}, Curv: []float64{0.25}},
		{Part: 0, Names: []string{model.BiasName}, G: []float64{1}, Curv: []float64{4}},
	}
	choice := model.Choice{Alpha: 0, Loss: 2, J: 3, Moved: false}
	params := UpdateParams{Train: model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.LBFGS, Memory: 3}, Pass: 2}
	//   a:  W' = 1,   G = 0.25 + 1 = 1.25, H = 0.75 + 0.25 + 1 = 2, D' = -1.25/2 = -0.625
	//   b:  W' = -1,  G = -0.5 - 1 = -1.5, H = 1 + 1 = 2,           D' = 1.5/2   = 0.75
	//   "": W' = 0.5, G = 1,               H = 4 (no lambda),       D' = -1/4    = -0.25
	wantRows := []rowPackRec{
		{Part: 0, Names: []string{model.BiasName}, Rows: []model.Row{{W: 0.5, G: 1, D: -0.25, H: 4}}},
		{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{{W: 1, G: 1.25, D: -0.625, H: 2}, {W: -1, G: -1.5, D: 0.75, H: 2}}},
	}
	// |g|^2 = 1.5625 + 2.25 + 1 = 4.8125; G.D = -0.78125 - 1.125 - 0.25 =
	// -2.15625; over a, b: WW = 2, WD = -0.625 - 0.75 = -1.375,
	// DD = 0.390625 + 0.5625 = 0.953125; J = 2 + 1 = 3.
	wantFigs := map[string]float64{
		"Pass": 2, "J": 3, "Loss": 2, "GradNorm": math.Sqrt(4.8125), "Alpha": 0,
		"Moved": 0, "Steepest": 1, "Slope": -2.15625,
		"WW": 2, "WD": -1.375, "DD": 0.953125, "Rows": 3, "Seconds": 0,
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowPackRec, rowPacks(updateParts, rows)), keyed(s, fromGradRec, gradsAt(packIDs(rowPacks(updateParts, rows)), grads...)), beam.Create(s, choice), params)
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, up.Rows), wantRows)
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
// J = 2.5 + 5/2 = 5.
func TestUpdateParametersInterceptRowWithoutBias(t *testing.T) {
	requirePartitions(t, updateParts, updatePartitions)
	rows := map[string]model.Row{model.BiasName: {W: 2, H: 1}, "a": {W: 1, H: 1}}
	grads := []namedGrad{{Part: 2, Names: []string{"a"}, G: []float64{0.5}}}
	choice := model.Choice{Alpha: 1, Loss: 2.5, J: 5, Moved: true}
	params := UpdateParams{Train: model.TrainParams{Lambda: 1, Bias: false, Optimizer: model.GD}, Eta: 0.5, Pass: 1}
	wantRows := []rowPackRec{
		{Part: 0, Names: []string{model.BiasName}, Rows: []model.Row{{W: 2, G: 2, D: -1, H: 1}}},
		{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 1, G: 1.5, D: -0.75, H: 1}}},
	}
	wantFigs := map[string]float64{
		"Pass": 1, "J": 5, "Loss": 2.5, "GradNorm": 2.5, "Alpha": 1,
		"Moved": 1, "Steepest": 0, "Slope": -3.125,
		"WW": 5, "WD": -2.75, "DD": 1.5625, "Rows": 2, "Seconds": 0,
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowPackRec, rowPacks(updateParts, rows)), keyed(s, fromGradRec, gradsAt(packIDs(rowPacks(updateParts, rows)), grads...)), beam.Create(s, choice), params)
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, up.Rows), wantRows)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), wantFigs, valueTol)
	})
}

// TestUpdateParametersExactSum checks that a feature's partials, of the
// gradient and of the curvature, are added exactly. Five blocks' partials
// of x, 1e16, 1, 1, 1, 1: the total 1e16 + 4 is representable, but
// float64 additions that start from 1e16 lose every 1 (numbers near 1e16
// are 2 apart; 1e16 + 1 rounds to even, 1e16). With lambda 0 and W = 0,
// G and H are the sums themselves, and L-BFGS, reset (alpha 0), steps
// D = -G/H = -1 exactly; with H = 1e16 it would not be -1.
func TestUpdateParametersExactSum(t *testing.T) {
	requirePartitions(t, updateParts, updatePartitions)
	rows := map[string]model.Row{"x": {}}
	var grads []namedGrad
	for _, g := range []float64{1e16, 1, 1, 1, 1} {
		grads = append(grads, namedGrad{Part: 1, Names: []string{"x"}, G: []float64{g}, Curv: []float64{g}})
	}
	want := []rowPackRec{{Part: 1, Names: []string{"x"}, Rows: []model.Row{{G: 1e16 + 4, D: -1, H: 1e16 + 4}}}}
	params := UpdateParams{Train: model.TrainParams{Lambda: 0, Optimizer: model.LBFGS, Memory: 2}}
	onRunners(t, bothRunners, func(s beam.Scope) {
		up := UpdateParameters(s, keyed(s, fromRowPackRec, rowPacks(updateParts, rows)), keyed(s, fromGradRec, gradsAt(packIDs(rowPacks(updateParts, rows)), grads...)),
			beam.Create(s, model.Choice{}), params)
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, up.Rows), want)
	})
}

// lbfgsRows are rows with two history pairs each; c is in no block.
var lbfgsRows = map[string]model.Row{
	"a":            {W: 1, G: 0.5, D: -0.5, H: 2, S: []float64{0.25, -0.1}, Y: []float64{0.5, -0.3}},
	"b":            {W: -1, G: -0.2, D: 0.5, H: 0.5, S: []float64{-0.5, 0.2}, Y: []float64{-1, 0.4}},
	"c":            {W: 0.3, G: 0.3, D: -0.3, H: 1.5, S: []float64{0.1, 0.2}, Y: []float64{0.2, 0.3}},
	model.BiasName: {W: 0.5, G: 0.1, D: -0.25, H: 4, S: []float64{0.5, 0.1}, Y: []float64{0.125, 0.05}},
}

// lbfgsGrads are the blocks' partials: a from two blocks, b and the
// intercept from one.
var lbfgsGrads = []namedGrad{
	{Part: 2, Names: []string{"a", "b"}, G: []float64{-0.5, 0.6}, Curv: []float64{0.7, 0.2}},
	{Part: 2, Names: []string{"a"}, G: []float64{0.1}, Curv: []float64{0.55}},
	{Part: 0, Names: []string{model.BiasName}, G: []float64{-0.3}, Curv: []float64{3.5}},
}

// gramInMemory sums the rows' basis products in plain float64.
func gramInMemory(rows map[string]model.Row) model.Gram {
	var k int
	for _, r := range rows {
		k = len(r.S)
	}
	g := model.Gram{K: k, Dot: make([]float64, model.GramLen(k))}
	for _, r := range rows {
		model.AddRowProducts(model.RowBasis(nil, r, 0), func(i int, v float64) { g.Dot[i] += v })
	}
	return g
}

// TestUpdateParametersLBFGS compares a moving L-BFGS pass with the same
// steps run in memory: model.UpdateRow per row (with the summed gradient
// and curvature partials; c, in no block, has neither), the Gram of the
// new rows,
// its Direction, ApplyDirection, and the figures. It also checks the Gram
// combine and the Direction on their own.
func TestUpdateParametersLBFGS(t *testing.T) {
	requirePartitions(t, updateParts, updatePartitions)
	const lambda = 0.5
	train := model.TrainParams{Lambda: lambda, Bias: true, Optimizer: model.LBFGS, Memory: 2}
	choice := model.Choice{Alpha: 1, J: 4.25, Moved: true}
	sums := map[string]*[2]model.ExactSum{}
	for _, g := range lbfgsGrads {
		for i, name := range g.Names {
			if sums[name] == nil {
				sums[name] = &[2]model.ExactSum{}
			}
			sums[name][0].Add(g.G[i])
			sums[name][1].Add(g.Curv[i])
		}
	}
	moved := map[string]model.Row{}
	for name, row := range lbfgsRows {
		g, h := 0.0, 0.0
		if sums[name] != nil {
			g, h = sums[name][0].Float64(), sums[name][1].Float64()
		}
		moved[name] = model.UpdateRow(row, train, name == model.BiasName, choice.Alpha, g, h)
	}
	gram := gramInMemory(moved)
	coef, steepest := gram.Direction()
	if gram.K != 2 || steepest {
		t.Fatalf("test data: want 2 usable history pairs, got K = %d, steepest = %v", gram.K, steepest)
	}
	next := map[string]model.Row{}
	var figSums [model.NumRowFigures]float64
	for name, r := range moved {
		next[name] = model.ApplyDirection(r, coef, 0)
		for i, v := range model.RowFigures(nil, next[name], train, name == model.BiasName) {
			figSums[i] += v
		}
	}
	figs := model.FromRowSums(3, choice, train, false, figSums[:])
	wantGram := map[string]float64{"K": 2}
	for i, v := range gram.Dot {
		wantGram[fmt.Sprintf("Dot%d", i)] = v
	}
	wantDir := map[string]float64{"Steepest": 0}
	for i, v := range coef {
		wantDir[fmt.Sprintf("Coef%d", i)] = v
	}

	onRunners(t, bothRunners, func(s beam.Scope) {
		rows := keyed(s, fromRowPackRec, rowPacks(updateParts, lbfgsRows))
		up := UpdateParameters(s, rows, keyed(s, fromGradRec, gradsAt(packIDs(rowPacks(updateParts, lbfgsRows)), lbfgsGrads...)), beam.Create(s, choice),
			UpdateParams{Train: train, Pass: 3})
		checkValues(s, beam.ParDo(s, rowValues, up.Rows), rowsWant(next, updateParts), valueTol)
		checkValues(s, beam.ParDo(s, figureValues, up.Figures), figuresNamed(figs), valueTol)

		// The Gram combine and the coefficients on their own, over the
		// moved rows (the update's rows before the direction is applied).
		movedRows := keyed(s, fromRowPackRec, rowPacks(updateParts, moved))
		g := beam.Combine(s, &gramSumFn{}, beam.DropKey(s, movedRows))
		checkValues(s, beam.ParDo(s, gramValues, g), wantGram, valueTol)
		checkValues(s, beam.ParDo(s, directionValues, beam.ParDo(s, directionOf, g)), wantDir, valueTol)
	})
}

func TestUpdateParametersErrors(t *testing.T) {
	requirePartitions(t, updateParts, updatePartitions)
	gd := UpdateParams{Train: model.TrainParams{Lambda: 1, Optimizer: model.GD}, Eta: 0.5}
	moved := model.Choice{Alpha: 1, Moved: true}
	cases := []struct {
		name   string
		rows   []rowPackRec
		grads  []namedGrad
		params UpdateParams
		want   string
	}{
		{
			// b has no row, in a partition that holds a's.
			name:   "gradient-without-row",
			rows:   rowPacks(updateParts, map[string]model.Row{"a": {W: 1, H: 1}}),
			grads:  []namedGrad{{Part: 2, Names: []string{"a", "b"}, G: []float64{0.25, 1}}},
			params: gd,
			want:   `a block sent a gradient for row -1 of partition 2, which has 1 rows (index out of step)`,
		},
		{
			// x has no row, in a partition that has none at all.
			name:   "gradient-without-rows",
			rows:   rowPacks(updateParts, map[string]model.Row{"a": {W: 1, H: 1}}),
			grads:  []namedGrad{{Part: 2, Names: []string{"a"}, G: []float64{0.25}}, {Part: 1, Names: []string{"x"}, G: []float64{1}}},
			params: gd,
			want:   `partition 1 has gradients for 1 rows but no parameter rows`,
		},
		{
			name: "two-row-packs",
			rows: []rowPackRec{
				{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 1, H: 1}}},
				{Part: 2, Names: []string{"b"}, Rows: []model.Row{{W: 1, H: 1}}},
			},
			grads:  []namedGrad{{Part: 2, Names: []string{"a"}, G: []float64{0.25}}},
			params: gd,
			want:   "partition 2 has 2 parameter row packs, want 1",
		},
		{
			// After a move with memory 3, a has 2 pairs and b 1.
			name: "history-lengths-disagree",
			rows: rowPacks(updateParts, map[string]model.Row{
				"a": {W: 1, H: 1, S: []float64{0.5}, Y: []float64{0.5}},
				"b": {W: 1, H: 1},
			}),
			grads:  []namedGrad{{Part: 2, Names: []string{"a", "b"}, G: []float64{0.25, 0.5}}},
			params: UpdateParams{Train: model.TrainParams{Lambda: 1, Optimizer: model.LBFGS, Memory: 3}},
			want:   "parameter rows disagree on L-BFGS history length",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			failsOnRunners(t, bothRunners, tc.want, func(s beam.Scope) {
				UpdateParameters(s, keyed(s, fromRowPackRec, tc.rows), keyed(s, fromGradRec, gradsAt(packIDs(tc.rows), tc.grads...)), beam.Create(s, moved), tc.params)
			})
		})
	}
}

// TestPassMatchesTrainer runs three whole passes, from InvertDocuments to
// UpdateParameters with hot features sharded, and compares each pass's
// figures and the final rows with the reference trainer's on the same
// samples, for every optimizer. Pass 0 evaluates the start, pass 1 takes
// the first step and pass 2 (for L-BFGS) the first step built from
// history. The plans of passes 1 and 2 are the trainer's, made from its
// figures, which the pipeline's must match.
func TestPassMatchesTrainer(t *testing.T) {
	files := randomFiles(11, []int{10, 7}, 6)
	const blockSize, parts, threshold = 4, 3, 4
	for _, opt := range []string{model.LBFGS, model.GD, model.Averaging} {
		t.Run(opt, func(t *testing.T) {
			p := model.TrainParams{Lambda: 0.25, Bias: true, Optimizer: opt, Memory: 3, BlockSize: blockSize}.WithDefaults()
			d := datasetOf(files, true, blockSize)
			tr, err := model.NewTrainer(d, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			plans := []model.Plan{model.FirstPlan()}
			var wantFigs []map[string]float64
			for pass := 0; pass < 3; pass++ {
				f := tr.Pass()
				if pass == 1 && !f.Moved {
					t.Fatalf("test data: the reference's first step did not move: %+v", f)
				}
				plans = append(plans, model.NextPlan(p, f))
				want := figuresNamed(f)
				want["Seconds"] = 0
				wantFigs = append(wantFigs, want)
			}
			wantRows := map[string]model.Row{}
			for j, name := range d.Names {
				wantRows[name] = tr.Rows[j]
			}
			if opt == model.LBFGS && len(tr.Rows[0].S) != 2 {
				t.Fatalf("test data: want 2 history pairs after pass 2, got %d", len(tr.Rows[0].S))
			}
			eta := p.Eta(d.SumSq)
			onRunners(t, bothRunners, func(s beam.Scope) {
				idx := InvertDocuments(s, beam.CreateList(s, parsedOf(files, blockSize)), true, parts)
				features, hot := ShardHotFeatures(s, idx, ShardingParams{Threshold: threshold}, parts)
				passert.NonEmpty(s, beam.ParDo(s, toHotRec, hot))
				rows := InitParameters(s, idx.Freq, ColdStart(s))
				for pass := 0; pass < 3; pass++ {
					weights := distributeByName(s, rows, features, hot, parts, false)
					blocks := RestoreDocuments(s, idx.Docs, weights)
					choice := LineSearch(s, blocks, plans[pass], p.Lambda, p.Bias, 0)
					grads := ComputeGradients(s, blocks, choice, GradientParams{
						Averaging: opt == model.Averaging, Curvature: opt == model.LBFGS,
						Eta: eta, Shrink: p.Lambda / float64(d.Samples),
					})
					up := UpdateParameters(s, rows, grads, choice, UpdateParams{Train: p, Eta: eta, Pass: pass})
					checkValues(s, beam.ParDo(s, figureValues, up.Figures), wantFigs[pass], 1e-10)
					rows = up.Rows
				}
				checkValues(s, beam.ParDo(s, rowValues, rows), rowsWant(wantRows, parts), 1e-10)
			})
		})
	}
}
