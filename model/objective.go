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
