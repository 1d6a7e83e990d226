package model

import (
	"fmt"
	"math"
)

// Row is one feature's parameter row: its weight and the optimizer state
// that travels with it, so no optimizer vector ever lives in one place.
type Row struct {
	W float64 // weight at the last evaluated point
	G float64 // gradient of J at W
	D float64 // proposed step: the next pass evaluates W + alpha*D
	// H is the coordinate's curvature at W, measured by the pass that
	// evaluated W: sum_i x_ij^2 * max(p_i(1-p_i), CurvatureFloor) + lambda,
	// the Hessian's diagonal with a floor (see UpdateRow). L-BFGS works in
	// coordinates scaled by sqrt(H): under Zipf's law feature frequencies
	// span orders of magnitude, and without this diagonal preconditioner
	// the problem is badly conditioned and L-BFGS needs many more passes.
	// Only lbfgs and subspace set it.
	H float64
	// S and Y are the L-BFGS history of this coordinate, oldest first:
	// s = W_new - W_old and y = G_new - G_old of the last passes. They are
	// stored unscaled: the Gram scales them by the current H, so a new H
	// needs no rewrite of the history.
	S, Y []float64
	// U is subspace's local-Newton direction, computed by the blocks at
	// the start of the pass from the G and H measured at its starting
	// point (see Block.LocalNewton); after the pass it is the direction of
	// W's predecessor. Only subspace sets it; subspace keeps its past steps
	// in S and leaves Y empty.
	U float64
}

// CurvatureFloor bounds each sample's p(1-p) from below in H. As the fit
// sharpens, p(1-p) of well-classified samples vanishes exponentially, and
// the bare Hessian diagonal then promises steps that the loss's
// exponential tails refuse: on separable data with a small lambda the line
// search cut most steps to 0.05-0.2 and training fell behind a fixed H.
// Samples with |z| above about 3.9 count as if at that margin; elsewhere H
// is the exact diagonal.
const CurvatureFloor = 0.02

// Plan is what one pass needs to know besides the rows: the step sizes to
// try along D and the figures that judge them. Everything in it is a
// handful of scalars computed from the previous pass.
type Plan struct {
	Pass   int
	Steps  []float64 // candidate step sizes, largest first
	Forced bool      // take Steps[0] without a line search
	J      float64   // J at the current W
	Slope  float64   // directional derivative G.D
	// Penalty figures over the regularized rows, so that the penalty at
	// W + alpha*D is lambda/2*(WW + 2*alpha*WD + alpha^2*DD).
	WW, WD, DD float64
	// With an L1 term (OWL-QN), the penalty gains L1*(N1 + alpha*S1) and,
	// at Steps[i], PenaltyFix[i] for the rows whose weights the step puts
	// at zero; Armijo's decrease at Steps[i] is alpha*Slope +
	// DecreaseFix[i] (see l1RowFigures).
	L1                      float64
	N1, S1                  float64
	PenaltyFix, DecreaseFix []float64
}

// armijo is the sufficient-decrease constant of the line search.
const armijo = 1e-4

// FirstPlan is the plan of pass 0, which evaluates the starting point.
func FirstPlan() Plan { return Plan{Steps: []float64{0}, Forced: true} }

// Choice is the outcome of a pass's line search.
type Choice struct {
	Alpha float64 // step taken; 0 when no trial point decreased J enough
	Loss  float64 // data loss at W + Alpha*D
	J     float64 // J at W + Alpha*D as the plan's penalty figures give it
	Moved bool    // false when Alpha is 0 for want of descent
	// Coef are subspace's coefficients of the step over each row's basis
	// (see SubspaceStep), nil when it did not move or for the others.
	Coef []float64
}

// Select picks the step: the trial point of lowest J among those that
// satisfy the Armijo condition, or no step at all. losses[i] is the data
// loss at W + Steps[i]*D.
func (pl Plan) Select(lambda float64, losses []float64) Choice {
	if pl.Forced {
		a := pl.Steps[0]
		return Choice{Alpha: a, Loss: losses[0], J: losses[0] + pl.stepPenalty(lambda, 0), Moved: a != 0}
	}
	best := -1
	bestJ := 0.0
	for i, a := range pl.Steps {
		j := losses[i] + pl.stepPenalty(lambda, i)
		decrease := a * pl.Slope
		if pl.DecreaseFix != nil {
			decrease += pl.DecreaseFix[i]
		}
		if j <= pl.J+armijo*decrease && (best < 0 || j < bestJ) {
			best, bestJ = i, j
		}
	}
	if best < 0 {
		// Staying put: the pass evaluates W itself, whose loss the
		// previous pass measured.
		return Choice{Alpha: 0, Loss: pl.J - pl.Penalty(lambda, 0), J: pl.J}
	}
	return Choice{Alpha: pl.Steps[best], Loss: losses[best], J: bestJ, Moved: true}
}

// Penalty is the regularization at W + alpha*D, before the fixes of the
// rows that cross zero.
func (pl Plan) Penalty(lambda, alpha float64) float64 {
	pen := lambda / 2 * (pl.WW + 2*alpha*pl.WD + alpha*alpha*pl.DD)
	if pl.L1 > 0 {
		pen += pl.L1 * (pl.N1 + alpha*pl.S1)
	}
	return pen
}

// stepPenalty is the regularization at the trial point of Steps[i].
func (pl Plan) stepPenalty(lambda float64, i int) float64 {
	pen := pl.Penalty(lambda, pl.Steps[i])
	if pl.PenaltyFix != nil {
		pen += pl.PenaltyFix[i]
	}
	return pen
}

// Step grids. A steepest descent direction's scale is only as good as the
// diagonal preconditioner, so it gets a wide search. Quasi-Newton steps
// are well scaled and land between 1/2 and 2, where the grid is finest
// (quarter octaves; halving from 1/2 down covers the rare bad direction).
// A trial step costs one loss per sample, far less than the pass's reads.
var lineGrids = [2][]float64{
	geometric(16, 1, 21), // steepest descent
	append(geometric(2, 4, 8), geometric(0.5, 1, 10)...), // quasi-Newton
}

// gridOf is the index in lineGrids of the grid a direction gets.
func gridOf(steepest bool) int {
	if steepest {
		return 0
	}
	return 1
}

// geometric returns n steps from first down, perOctave of them per halving.
func geometric(first float64, perOctave, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = first / math.Exp2(float64(i)/float64(perOctave))
	}
	return s
}

// UpdateRow moves a row to the evaluated point W + alpha*D and records the
// gradient there, by the line-search method p names (Method.Move):
// gradData is sum_i (p_i - y_i) x_ij and curvData is sum_i max(p_i(1-p_i),
// CurvatureFloor) x_ij^2 at that point (Block.Gradient and Block.Curvature
// summed over blocks; curvData is ignored unless the method needs it).
func UpdateRow(r Row, p TrainParams, isBias bool, alpha, gradData, curvData float64) Row {
	lam, l1 := p.Lambda, p.L1
	if isBias {
		lam, l1 = 0, 0
	}
	return p.Method().Move(r, Measured{Params: p, Lambda: lam, L1: l1, IsBias: isBias, Choice: Choice{Alpha: alpha}, Grad: gradData, Curv: curvData})
}

// LBFGS is vector-free L-BFGS: the (s, y) history lives in the parameter
// rows, and each pass searches a grid of step sizes along one direction.
const LBFGS = "lbfgs"

type lbfgsMethod struct{}

func (lbfgsMethod) Name() string    { return LBFGS }
func (lbfgsMethod) Summary() string { return "vector-free L-BFGS; OWL-QN with --l1" }
func (lbfgsMethod) Needs() Needs {
	return Needs{Curvature: true, Direction: true, UsesMemory: true}
}
func (lbfgsMethod) Defaults(p TrainParams) TrainParams {
	if p.Memory == 0 {
		p.Memory = 10
	}
	return p
}

// Steps: a steepest descent direction gets the wide grid, a quasi-Newton
// one the fine grid around 1.
func (lbfgsMethod) Steps(f Figures) ([]float64, bool) {
	return lineGrids[gridOf(f.Steepest)], false
}

// NoDescent: only when the direction that found no descent was already
// steepest descent (a failed quasi-Newton direction restarts as one).
func (lbfgsMethod) NoDescent(history []Figures) bool {
	n := len(history)
	return n > 1 && history[n-2].Steepest
}

// Move records H at the new point and the pair (s, y) when the pass moved;
// when it did not, the history is cleared (the next direction restarts as
// steepest descent). ApplyDirection then sets D.
//
// H follows the iterate rather than staying at its value at w = 0: as the
// fit sharpens the curvature of most coordinates falls, and a stale,
// too-large H makes every direction too short in the coordinates the
// history has not yet seen.
func (lbfgsMethod) Move(r Row, m Measured) Row {
	out := moveRow(r, m)
	out.H = m.Curv
	if !m.IsBias {
		out.H += m.Params.Lambda
	}
	if out.H <= 0 {
		// All of the feature's values are 0 and lambda is 0: its
		// gradient is 0 too, and any scale will do.
		out.H = 1
	}
	if m.Choice.Alpha != 0 {
		keep := min(len(r.S), m.Params.Memory-1)
		out.S = append(append(make([]float64, 0, keep+1), r.S[len(r.S)-keep:]...), out.W-r.W)
		out.Y = append(append(make([]float64, 0, keep+1), r.Y[len(r.Y)-keep:]...), out.G-r.G)
	}
	return out
}

// Gram holds the dot products of the L-BFGS basis vectors
// [s_0..s_{k-1}, y_0..y_{k-1}, g] in the preconditioned coordinates
// (s*sqrt(H), y/sqrt(H), g/sqrt(H)), summed over all rows; only the upper
// triangle (a <= b) is stored, row-major.
type Gram struct {
	K   int       // history pairs
	Dot []float64 // len = n(n+1)/2 with n = 2K+1
}

// GramLen is the number of stored products for k history pairs.
func GramLen(k int) int { n := 2*k + 1; return n * (n + 1) / 2 }

// RowBasis writes the row's preconditioned basis coordinates
// [s*sqrt(H)..., y/sqrt(H)..., g/sqrt(H)] into dst, where g is the
// pseudo-gradient under the row's L1 strength l1 (OWL-QN). A row that the
// L1 term holds at zero (W = 0 and a pseudo-gradient of 0) is not free to
// move, so its coordinates are 0: the quasi-Newton model is then that of
// the free weights alone, as L-BFGS-B's is. On testdata/real this took
// names from 97 to 70 passes to 1e-4, sotu from 223 to 188.
func RowBasis(dst []float64, r Row, l1 float64) []float64 {
	rt := math.Sqrt(r.H)
	dst = dst[:0]
	if l1 > 0 && r.W == 0 && PseudoGradient(0, r.G, l1) == 0 {
		for range 2*len(r.S) + 1 {
			dst = append(dst, 0)
		}
		return dst
	}
	for _, s := range r.S {
		dst = append(dst, s*rt)
	}
	for _, y := range r.Y {
		dst = append(dst, y/rt)
	}
	return append(dst, PseudoGradient(r.W, r.G, l1)/rt)
}

// AddRowProducts adds the row's contribution to every Gram entry, in the
// storage order of Gram.Dot, calling add(i, value) for each.
func AddRowProducts(basis []float64, add func(i int, v float64)) {
	i := 0
	for a := range basis {
		for b := a; b < len(basis); b++ {
			add(i, basis[a]*basis[b])
			i++
		}
	}
}

func (gr Gram) at(a, b int) float64 {
	if a > b {
		a, b = b, a
	}
	n := 2*gr.K + 1
	return gr.Dot[a*n-a*(a-1)/2+(b-a)]
}

// Direction returns the coefficients of the next L-BFGS direction over the
// preconditioned basis (see ApplyDirection), from the two-loop recursion
// carried out on dot products only (Chen, Wang & Zhou, "Large-scale L-BFGS
// using MapReduce", NIPS 2014). Pairs without positive curvature are
// skipped. With no usable pair the direction is the preconditioned steepest
// descent -g/H, and steepest reports so.
//
// The recursion's initial inverse Hessian is the identity in preconditioned
// coordinates, that is diag(H)^-1 itself, without the usual scaling by
// s'y/y'y: H is measured at the current point, and the scaling (0.4 to 0.7
// on Zipf data) only shortened the directions: the line search then took
// steps of 2 to 4 where unscaled directions take 1, and convergence was
// slower.
func (gr Gram) Direction() (coef []float64, steepest bool) {
	k := gr.K
	n := 2*k + 1
	gi := 2 * k
	coef = make([]float64, n)
	dot := func(l int) float64 { // basis[l] . (sum coef*basis)
		s := 0.0
		for m, c := range coef {
			if c != 0 {
				s += c * gr.at(l, m)
			}
		}
		return s
	}
	valid := make([]bool, k)
	usable := false
	for i := 0; i < k; i++ {
		sy := gr.at(i, k+i)
		ss, yy := gr.at(i, i), gr.at(k+i, k+i)
		valid[i] = sy > 1e-10*math.Sqrt(ss*yy) && sy > 0
		usable = usable || valid[i]
	}
	if !usable {
		coef[gi] = -1
		return coef, true
	}
	coef[gi] = 1 // q = g
	alphas := make([]float64, k)
	for i := k - 1; i >= 0; i-- {
		if !valid[i] {
			continue
		}
		alphas[i] = dot(i) / gr.at(i, k+i)
		coef[k+i] -= alphas[i]
	}
	for i := 0; i < k; i++ {
		if !valid[i] {
			continue
		}
		beta := dot(k+i) / gr.at(i, k+i)
		coef[i] += alphas[i] - beta
	}
	for l := range coef {
		coef[l] = -coef[l]
	}
	return coef, false
}

// ApplyDirection sets r.D to the direction with the given coefficients:
// the combination of the preconditioned basis, mapped back to weights,
// which is sum coef_s*s + (sum coef_y*y + coef_g*g)/H. With an L1
// strength l1, g is the pseudo-gradient and the step is kept where it
// descends: a coordinate whose step does not oppose the pseudo-gradient's
// sign does not move (OWL-QN).
func ApplyDirection(r Row, coef []float64, l1 float64) Row {
	k := len(r.S)
	pg := PseudoGradient(r.W, r.G, l1)
	scaled := coef[2*k] * pg
	d := 0.0
	for i := 0; i < k; i++ {
		d += coef[i] * r.S[i]
		scaled += coef[k+i] * r.Y[i]
	}
	r.D = d + scaled/r.H
	if l1 > 0 && r.D*pg >= 0 {
		r.D = 0
	}
	return r
}

// Figures are one pass's global results: what the driver prints, what the
// model's history keeps, and what the next plan is made of.
type Figures struct {
	Pass     int     `json:"pass"`
	J        float64 `json:"objective"`
	Loss     float64 `json:"loss"` // data part of J
	GradNorm float64 `json:"grad_norm"`
	Alpha    float64 `json:"step"`
	Moved    bool    `json:"moved"`
	Steepest bool    `json:"steepest"` // the next direction is steepest descent
	Slope    float64 `json:"slope"`    // G.D of the next direction
	WW       float64 `json:"ww"`
	WD       float64 `json:"wd"`
	DD       float64 `json:"dd"`
	Rows     int64   `json:"rows"`
	// With an L1 term: |W|_1 (l1_norm), the derivative of |W + alpha*D|_1
	// at 0+, and the fixes for the next plan (see Plan).
	L1Norm      float64   `json:"l1_norm,omitempty"`
	L1Slope     float64   `json:"l1_slope,omitempty"`
	Zeros       int64     `json:"zero_weights,omitempty"` // L1 rows whose weight is 0
	PenaltyFix  []float64 `json:"penalty_fix,omitempty"`
	DecreaseFix []float64 `json:"decrease_fix,omitempty"`
	// Gap estimates (J - J*)/J*, the relative distance to the optimum,
	// for the optimizers that measure H (see GapEstimate); 0 otherwise.
	Gap     float64 `json:"gap_estimate,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	// Test holds the test set's metrics at this pass's weights, when
	// training was given one.
	Test *Metrics `json:"test,omitempty"`
	// Keys describes each keyed stage's shuffle keys, as the runner's
	// metrics reported them.
	Keys []KeyStats `json:"keys,omitempty"`
}

// CheckFinite reports figures that overflowed: a step so large that the
// weights, and with them J, leave the floating-point range, or that the
// next step's own figures do. Only gd and averaging, whose steps scale
// with the user's --learning-rate, get there.
func (f Figures) CheckFinite() error {
	bad := func(vs ...float64) bool {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return true
			}
		}
		return false
	}
	switch {
	case bad(f.J, f.Loss, f.GradNorm):
		return fmt.Errorf("training diverged at pass %d (J = %v, |g| = %v): the step is too large; lower --learning-rate, or leave it 0 for a safe one", f.Pass, f.J, f.GradNorm)
	case bad(f.Slope, f.WW, f.WD, f.DD):
		return fmt.Errorf("the step planned after pass %d overflows (|step|^2 = %v): lower --learning-rate, or leave it 0 for a safe one", f.Pass, f.DD)
	}
	return nil
}

// KeyStats sums up the key sizes of one keyed stage: how many keys, and
// the largest and mean size (in postings, or partials for the combine).
type KeyStats struct {
	Stage string  `json:"stage"`
	Keys  int64   `json:"keys"`
	Max   int64   `json:"max"`
	Mean  float64 `json:"mean"`
}

// NumRowFigures is the length of RowFigures' vector.
const NumRowFigures = 8

// RowFigures writes into dst (grown as needed) and returns one row's
// contribution to the pass's figures under p:
// |G|^2, G.D, and, over regularized rows only, W.W, W.D, D.D; then 1 (a
// row count), and the two terms of GapEstimate, G^2/H (where H is
// measured) and G.U. With an L1 term G is the pseudo-gradient and the L1
// figures follow (l1RowFigures). Summed over all rows they make the
// figures FromRowSums completes.
func RowFigures(dst []float64, r Row, p TrainParams, isBias bool) []float64 {
	v := grow(dst, RowFiguresLen(p))
	clear(v)
	l1 := p.L1
	if isBias {
		l1 = 0
	}
	g := PseudoGradient(r.W, r.G, l1)
	v[0], v[1], v[5], v[7] = g*g, g*r.D, 1, g*r.U
	if !isBias {
		v[2], v[3], v[4] = r.W*r.W, r.W*r.D, r.D*r.D
	}
	if r.H > 0 {
		v[6] = g * g / r.H
	}
	if l1 > 0 {
		l1RowFigures(v[NumRowFigures:], r, p.Lambda, l1, g)
	}
	return v
}

// GapEstimate predicts the relative gap (J - J*)/J* from two estimates of
// the Newton decrement g'H^-1 g/2, which is J - J* where J is close to
// quadratic: with H's diagonal (sum of G^2/H over the rows) and with
// subspace's local-Newton direction U, about -H^-1 g (-G.U). Each alone
// fell to 0.5-0.6 of the true gap at times on testdata/real; their larger
// stayed within 0.75-3x of it after the first passes (names, sotu).
func GapEstimate(j, gOverH, gu float64) float64 {
	if !(j > 0) || !(gOverH > 0) {
		return 0
	}
	return math.Max(gOverH, -gu) / 2 / j
}

// FromRowSums completes a pass's figures from the summed RowFigures and
// the line search's choice. J is the data loss plus the penalty of the new
// weights themselves, so it is exact even where the plan knew no penalty
// figures (the first pass of a warm start).
func FromRowSums(pass int, c Choice, p TrainParams, steepest bool, sums []float64) Figures {
	f := Figures{
		Pass: pass, Loss: c.Loss, GradNorm: math.Sqrt(sums[0]), Alpha: c.Alpha, Moved: c.Moved,
		Steepest: steepest, Slope: sums[1], WW: sums[2], WD: sums[3], DD: sums[4], Rows: int64(sums[5]),
	}
	f.J = c.Loss + p.Lambda/2*f.WW
	if p.L1 == 0 {
		// With an L1 term the diagonal Newton decrement fell to a tenth
		// of the true gap on testdata/real's names: no estimate then.
		f.Gap = GapEstimate(f.J, sums[6], sums[7])
	} else {
		l1 := sums[NumRowFigures:]
		f.L1Norm, f.L1Slope, f.Zeros = l1[0], l1[1], int64(l1[2])
		f.PenaltyFix, f.DecreaseFix = stepFixes(l1, steepest)
		f.J += p.L1 * f.L1Norm
	}
	return f
}

// NextPlan builds the plan of the pass after the one that produced f.
func NextPlan(p TrainParams, f Figures) Plan {
	pl := Plan{Pass: f.Pass + 1, J: f.J, Slope: f.Slope, WW: f.WW, WD: f.WD, DD: f.DD,
		L1: p.L1, N1: f.L1Norm, S1: f.L1Slope, PenaltyFix: f.PenaltyFix, DecreaseFix: f.DecreaseFix}
	pl.Steps, pl.Forced = p.Method().Steps(f)
	return pl
}

// Stop is why training stopped, as model.json records it; "" means it
// goes on.
type Stop string

// Stop reasons.
const (
	StopIterations Stop = "iterations"    // --iterations reached
	StopObjective  Stop = "objective"     // relative change of J below Tol
	StopGradient   Stop = "gradient"      // |g| <= GTol*|g0|
	StopNoDescent  Stop = "no-descent"    // the method found no decrease where it looks most carefully (Method.NoDescent): J is at machine precision
	StopZeroGrad   Stop = "zero-gradient" // the gradient is exactly zero
	StopGap        Stop = "gap"           // the estimated gap to the optimum is below GapTol
)

// StopReason tells whether training stops after the figures in history
// (history[0] is pass 0). It returns "" to go on.
func StopReason(p TrainParams, history []Figures) Stop {
	n := len(history)
	last := history[n-1]
	if last.GradNorm == 0 {
		return StopZeroGrad
	}
	if n > 1 && p.GTol > 0 && last.GradNorm <= p.GTol*history[0].GradNorm {
		return StopGradient
	}
	if p.GapTol > 0 && last.Gap > 0 && last.Gap <= p.GapTol {
		return StopGap
	}
	if n > 1 && !last.Moved && p.Method().NoDescent(history) {
		return StopNoDescent
	}
	if n > 1 && p.Tol > 0 && last.Moved {
		prev := history[n-2].J
		if math.Abs(prev-last.J) <= p.Tol*math.Max(math.Abs(last.J), math.SmallestNonzeroFloat64) {
			return StopObjective
		}
	}
	if n > p.Iterations {
		return StopIterations
	}
	return ""
}

// String formats the figures as the driver's one line per iteration.
func (f Figures) String() string {
	line := fmt.Sprintf("iter %3d  J %.10g  |g| %.4g  step %.4g", f.Pass, f.J, f.GradNorm, f.Alpha)
	if f.Gap > 0 {
		line += fmt.Sprintf("  gap~%.1e", f.Gap)
	}
	line += fmt.Sprintf("  %.2fs", f.Seconds)
	if t := f.Test; t != nil {
		line += fmt.Sprintf("  test: acc %.4f  F1 %.4f  AUC %.4f  logloss %.4f", t.Accuracy, t.MacroF1, t.AUC, t.LogLoss)
	}
	return line
}
