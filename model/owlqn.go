package model

import "math"

// OWL-QN (Andrew & Gao, "Scalable training of L1-regularized log-linear
// models", ICML 2007) is how lbfgs minimizes J with an L1 term, which has
// no gradient where a weight is 0. Everything it changes is per row or per
// block, so it fits the vector-free design as L-BFGS does:
//   - the rows' gradient becomes the pseudo-gradient (PseudoGradient) in
//     the Gram, the direction and the figures;
//   - each row's step is kept to the orthant the pseudo-gradient points
//     into (ApplyDirection);
//   - a trial point puts every weight that would cross zero at zero
//     (OrthantWeight). The margins are then no longer linear in the step,
//     so the blocks correct theirs for the columns that cross
//     (Block.ClipMargins), and the rows' figures carry the penalty and
//     the decrease at each step the next pass may try (stepFixes).

// PseudoGradient is OWL-QN's gradient of J at a weight w with L1 strength
// l1, where g is the gradient of the smooth part: the one-sided derivative
// that descends, or 0 where neither side does (w = 0 and |g| <= l1).
func PseudoGradient(w, g, l1 float64) float64 {
	switch {
	case l1 == 0:
		return g
	case w > 0:
		return g + l1
	case w < 0:
		return g - l1
	case g+l1 < 0:
		return g + l1
	case g-l1 > 0:
		return g - l1
	}
	return 0
}

// OrthantWeight is OWL-QN's weight at W + alpha*D: a nonzero weight that
// would reach or cross zero stops at zero. (A zero weight moves the way D
// points, which ApplyDirection made the way the pseudo-gradient descends.)
func OrthantWeight(w, d, alpha float64) float64 {
	t := TrialWeight(w, d, alpha)
	if (w > 0 && t <= 0) || (w < 0 && t >= 0) {
		return 0
	}
	return t
}

// crosses tells whether OrthantWeight stops the weight at zero for step
// alpha.
func crosses(w, d, alpha float64) bool {
	return w != 0 && OrthantWeight(w, d, alpha) == 0
}

// ClipMargins returns the margins of a trial point of OWL-QN's line
// search in the form Gradient, Curvature and AddLosses take: zw + alpha*zd
// are the margins at the point where every column but free (the
// intercept's, or -1) whose weight crosses zero for step alpha is zero
// (under multiclass, each of a column's K weights on its own).
// w and d are per column, zw and zd their margins (Margins). When no
// column crosses they are returned as they are; otherwise corrected
// copies in cw and cd (grown as needed).
func (b *Block) ClipMargins(cw, cd, zw, zd, w, d []float64, alpha float64, free int) (xw, xd []float64) {
	copied := false
	K := Width(b.Classes)
	for i := range K * b.NumCols() {
		c, k := i/K, i%K
		if c == free || !crosses(w[i], d[i], alpha) {
			continue
		}
		if !copied {
			cw, cd = grow(cw, len(zw)), grow(cd, len(zd))
			copy(cw, zw)
			copy(cd, zd)
			copied = true
		}
		for p := b.ColPtr[c]; p < b.ColPtr[c+1]; p++ {
			r, v := int(b.Rows[p])*K+k, b.Vals[p]
			cw[r] -= w[i] * v
			cd[r] -= d[i] * v
		}
	}
	if !copied {
		return zw, zd
	}
	return cw, cd
}

// AddLineLosses adds to dst[i] the block's data loss at the i-th trial
// point: AddLosses, or with l1 the OWL-QN points (ClipMargins).
func (b *Block) AddLineLosses(dst, zw, zd, w, d, steps []float64, l1 bool, free int) {
	if !l1 {
		b.AddLosses(dst, zw, zd, steps)
		return
	}
	cw, cd := make([]float64, len(zw)), make([]float64, len(zd))
	for i := range steps {
		xw, xd := b.ClipMargins(cw, cd, zw, zd, w, d, steps[i], free)
		b.AddLosses(dst[i:i+1], xw, xd, steps[i:i+1])
	}
}

// The figures of a row with an L1 term, after the NumRowFigures smooth
// ones: |W|, the derivative of |W + alpha*D| at alpha = 0+, and 1 if W is
// 0 (the model leaves those weights out); then, for each step of each
// line-search grid (lineGrids, in order), the row's fixes to the penalty
// and to the decrease there when its weight crosses zero (stepFixes).
const l1Figures = 3

// RowFiguresLen is the length of RowFigures' vector under p.
func RowFiguresLen(p TrainParams) int {
	if p.L1 == 0 {
		return NumRowFigures
	}
	n := NumRowFigures + l1Figures
	for _, g := range lineGrids {
		n += 2 * len(g)
	}
	return n
}

// l1RowFigures writes a row's L1 figures into v (RowFigures' vector past
// NumRowFigures); pg is its pseudo-gradient.
//
// Over the rows that do not cross zero, the penalty is linear in alpha
// (L1*(|W| + alpha*S1)) plus the quadratic L2 term, and the decrease that
// Armijo's rule asks for is alpha*pg.D. A crossing row's weight is 0
// instead, so its fixes cancel what those formulas count for it: at a
// step where it crosses, -(l1*sign(W)*(W+alpha*D) + lambda/2*(W+alpha*D)^2)
// for the penalty and pg*(0 - W) - alpha*pg*D for the decrease.
func l1RowFigures(v []float64, r Row, lambda, l1, pg float64) {
	v[0] = math.Abs(r.W)
	switch {
	case r.W > 0:
		v[1] = r.D
	case r.W < 0:
		v[1] = -r.D
	default:
		v[1], v[2] = math.Abs(r.D), 1
	}
	if r.W == 0 || r.W*r.D >= 0 {
		return
	}
	i := l1Figures
	for _, grid := range lineGrids {
		for _, a := range grid {
			if crosses(r.W, r.D, a) {
				lin := TrialWeight(r.W, r.D, a)
				v[i] = -(l1*math.Copysign(1, r.W)*lin + lambda/2*lin*lin)
				v[i+1] = -pg * lin
			}
			i += 2
		}
	}
}

// stepFixes picks the fixes of the grid the next pass searches (lbfgs's,
// by whether its direction is steepest descent) out of the summed L1
// figures (l1 is the sums past NumRowFigures).
func stepFixes(l1 []float64, steepest bool) (penalty, decrease []float64) {
	i := l1Figures
	for g, grid := range lineGrids {
		if g == gridOf(steepest) {
			for k := range grid {
				penalty = append(penalty, l1[i+2*k])
				decrease = append(decrease, l1[i+2*k+1])
			}
			break
		}
		i += 2 * len(grid)
	}
	return penalty, decrease
}
