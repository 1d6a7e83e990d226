package model

// Objective returns J(w) and its gradient for the dataset, w indexed like
// d.Names. It is the plain textbook formula, independent of the trainer's
// pass machinery, for checking it (finite differences, an independent
// optimizer). The intercept, when bias is set, is not regularized.
func Objective(d *Dataset, w []float64, lambda float64, bias bool, grad []float64) float64 {
	for j := range grad {
		grad[j] = 0
	}
	j := 0.0
	for bi := range d.Blocks {
		b := &d.Blocks[bi]
		z := make([]float64, b.NumRows())
		for c, f := range b.Cols {
			for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
				z[b.Rows[k]] += w[f] * b.Vals[k]
			}
		}
		resid := make([]float64, len(z))
		for r, y := range b.Labels {
			j += b.Weight(r) * Loss(z[r], y)
			resid[r] = b.Weight(r) * (Sigmoid(z[r]) - y)
		}
		if grad != nil {
			for c, f := range b.Cols {
				for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
					grad[f] += resid[b.Rows[k]] * b.Vals[k]
				}
			}
		}
	}
	for f, name := range d.Names {
		if bias && name == BiasName {
			continue
		}
		j += lambda / 2 * w[f] * w[f]
		if grad != nil {
			grad[f] += lambda * w[f]
		}
	}
	return j
}

// MulticlassObjective is Objective for multiclass data (d.Classes = K):
// J(w) = sum_i weight_i * -log softmax(z_i)[y_i] + lambda/2 |w|^2, with w
// and grad indexed j*K+k (feature j's weight for class k) and the
// intercept's K weights not regularized.
func MulticlassObjective(d *Dataset, w []float64, lambda float64, bias bool, grad []float64) float64 {
	K := d.Classes
	for i := range grad {
		grad[i] = 0
	}
	j := 0.0
	for bi := range d.Blocks {
		b := &d.Blocks[bi]
		z := make([]float64, b.NumRows()*K)
		for c, f := range b.Cols {
			for p := b.ColPtr[c]; p < b.ColPtr[c+1]; p++ {
				r := int(b.Rows[p])
				for k := 0; k < K; k++ {
					z[r*K+k] += w[int(f)*K+k] * b.Vals[p]
				}
			}
		}
		prob := make([]float64, K)
		for r, y := range b.Labels {
			zr := z[r*K : (r+1)*K]
			j += b.Weight(r) * SoftmaxLoss(zr, int(y))
			Softmax(prob, zr)
			for k := range prob {
				if k == int(y) {
					prob[k]--
				}
				zr[k] = b.Weight(r) * prob[k] // z now holds the residuals
			}
		}
		if grad != nil {
			for c, f := range b.Cols {
				for p := b.ColPtr[c]; p < b.ColPtr[c+1]; p++ {
					r := int(b.Rows[p])
					for k := 0; k < K; k++ {
						grad[int(f)*K+k] += z[r*K+k] * b.Vals[p]
					}
				}
			}
		}
	}
	for f, name := range d.Names {
		if bias && name == BiasName {
			continue
		}
		for k := 0; k < K; k++ {
			x := w[f*K+k]
			j += lambda / 2 * x * x
			if grad != nil {
				grad[f*K+k] += lambda * x
			}
		}
	}
	return j
}
