package model

import "math"

// Block is a run of consecutive samples as a small sparse matrix stored by
// column: column c holds the postings of one feature, its rows ascending.
// Columns are in ascending feature-name order. The pipeline's
// RestoreDocuments rebuilds exactly this from the shuffled postings, and the
// reference trainer keeps its data in the same form, so both run the same
// arithmetic in the same order.
type Block struct {
	Labels []float64 // per row, 0 or 1, or the class 0..Classes-1
	// Classes is K under multiclass, whose per-column and per-row vectors
	// are K wide (see softmax.go); 0 for two classes.
	Classes int
	// Weights are the rows' sample weights (Sample.Weight times the class
	// weight); nil when every one is 1, the usual case, which then costs
	// nothing.
	Weights []float64
	ColPtr  []int32   // column c's postings are [ColPtr[c], ColPtr[c+1])
	Rows    []int32   // row of each posting
	Vals    []float64 // value of each posting
}

// NumRows returns the number of samples in the block.
func (b *Block) NumRows() int { return len(b.Labels) }

// Weight is row r's sample weight.
func (b *Block) Weight(r int) float64 { return WeightAt(b.Weights, r) }

// WeightAt is sample r's weight in a block's weights, nil meaning all 1.
func WeightAt(weights []float64, r int) float64 {
	if weights == nil {
		return 1
	}
	return weights[r]
}

// NumCols returns the number of distinct features in the block.
func (b *Block) NumCols() int { return len(b.ColPtr) - 1 }

// ColumnSumSq is the sum over column c's postings of the row's weight
// times the value squared, in row order.
func (b *Block) ColumnSumSq(c int) float64 {
	sum := 0.0
	for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
		v := b.Vals[k]
		sum += b.Weight(int(b.Rows[k])) * v * v
	}
	return sum
}

// Margins sets zw[r] = sum_c w[c]*x[r,c] and zd[r] = sum_c d[c]*x[r,c],
// where w and d are given per column. Each row's sum runs in column order.
func (b *Block) Margins(w, d, zw, zd []float64) {
	if b.Classes >= 2 {
		b.classMargins(w, d, zw, zd)
		return
	}
	for r := range zw {
		zw[r], zd[r] = 0, 0
	}
	for c := 0; c+1 < len(b.ColPtr); c++ {
		wc, dc := w[c], d[c]
		for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
			r, v := b.Rows[k], b.Vals[k]
			zw[r] += wc * v
			zd[r] += dc * v
		}
	}
}

// AddLosses adds to dst[i] the block's data loss at the trial point
// w + steps[i]*d, given the margins of w and d.
func (b *Block) AddLosses(dst, zw, zd, steps []float64) {
	if b.Classes >= 2 {
		b.classLosses(dst, zw, zd, steps)
		return
	}
	for i, a := range steps {
		sum := 0.0
		for r, y := range b.Labels {
			sum += b.Weight(r) * Loss(zw[r]+a*zd[r], y)
		}
		dst[i] += sum
	}
}

// Gradient sets dst[c] = sum_r (p_r - y_r) x[r,c] at the point w + alpha*d,
// with p_r the predicted probability. resid is scratch of NumRows (times
// K under multiclass, whose dst[c*K+k] sums (p_rk - [y_r = k]) x[r,c]).
func (b *Block) Gradient(dst, resid, zw, zd []float64, alpha float64) {
	if b.Classes >= 2 {
		b.classResiduals(resid, nil, zw, zd, alpha)
		b.classColumnSums(dst, resid, 1)
		return
	}
	for r, y := range b.Labels {
		resid[r] = b.Weight(r) * (Sigmoid(zw[r]+alpha*zd[r]) - y)
	}
	for c := 0; c+1 < len(b.ColPtr); c++ {
		sum := 0.0
		for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
			sum += resid[b.Rows[k]] * b.Vals[k]
		}
		dst[c] = sum
	}
}

// Curvature sets dst[c] = sum_r max(p_r(1-p_r), CurvatureFloor) x[r,c]^2
// at the point w + alpha*d: the Hessian's diagonal, floored, that UpdateRow
// makes the row's H. scratch is scratch of NumRows (times K under
// multiclass, with p_rk for p_r).
func (b *Block) Curvature(dst, scratch, zw, zd []float64, alpha float64) {
	if b.Classes >= 2 {
		b.classResiduals(nil, scratch, zw, zd, alpha)
		b.classColumnSums(dst, scratch, 2)
		return
	}
	for r := range b.Labels {
		p := Sigmoid(zw[r] + alpha*zd[r])
		scratch[r] = b.Weight(r) * max(p*(1-p), CurvatureFloor)
	}
	for c := 0; c+1 < len(b.ColPtr); c++ {
		sum := 0.0
		for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
			v := b.Vals[k]
			sum += scratch[b.Rows[k]] * v * v
		}
		dst[c] = sum
	}
}

// LocalSGD runs one epoch of stochastic gradient descent over the block's
// rows in order, starting from w (per column, updated in place): for each
// sample, w -= eta*(weight*(p-y)*x_r + shrink*w), where shrink is lambda/N so that
// an epoch over all N samples applies the full penalty once. The penalty
// shrinks every column at every sample, not only the sample's features
// (rare features would otherwise go almost unregularized); it is applied
// lazily, the shrinks a column missed caught up when it is next used and
// at the end. Column noShrink (the intercept, or -1) is not shrunk.
func (b *Block) LocalSGD(w []float64, eta, shrink float64, noShrink int) {
	// Transpose to rows once; the epoch walks samples in order.
	n := b.NumRows()
	rowPtr := make([]int32, n+1)
	for _, r := range b.Rows {
		rowPtr[r+1]++
	}
	for r := 0; r < n; r++ {
		rowPtr[r+1] += rowPtr[r]
	}
	cols := make([]int32, len(b.Rows))
	vals := make([]float64, len(b.Rows))
	next := append([]int32(nil), rowPtr[:n]...)
	for c := 0; c+1 < len(b.ColPtr); c++ {
		for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
			r := b.Rows[k]
			cols[next[r]], vals[next[r]] = int32(c), b.Vals[k]
			next[r]++
		}
	}
	decay := 1 - eta*shrink
	// last[c] is the sample after which column c was last brought up to
	// date; catchUp applies the shrinks of the samples since then.
	last := make([]int32, len(w))
	for c := range last {
		last[c] = -1
	}
	catchUp := func(c int32, upTo int32) {
		if missed := upTo - last[c] - 1; missed > 0 && int(c) != noShrink {
			w[c] *= math.Pow(decay, float64(missed))
		}
	}
	for r, y := range b.Labels {
		z := 0.0
		for k := rowPtr[r]; k < rowPtr[r+1]; k++ {
			c := cols[k]
			catchUp(c, int32(r))
			z += w[c] * vals[k]
		}
		g := b.Weight(r) * (Sigmoid(z) - y)
		for k := rowPtr[r]; k < rowPtr[r+1]; k++ {
			c := cols[k]
			step := g * vals[k]
			if int(c) != noShrink {
				step += shrink * w[c]
			}
			w[c] -= eta * step
			last[c] = int32(r)
		}
	}
	for c := range w {
		catchUp(int32(c), int32(n))
	}
}
