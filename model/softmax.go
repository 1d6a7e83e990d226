package model

import (
	"math"
	"strings"
)

// Multiclass (TrainParams.Multiclass) is multinomial regression: a sample
// of class y with margins z_k = w_k . x, one per class, loses
// -log p_y = logsumexp(z) - z_y. A feature's K weights sit side by side:
// a block's per-column vectors (W, D, the gradient) hold column c's class
// k at c*K+k and its per-row margins row r's at r*K+k. Block.Classes says
// which: K, or 0 for two classes with one weight per feature, whose
// loops below are the binary ones unchanged. Everything past the block
// (rows, the Gram, the line search's plan, the stop rules) sees K rows per
// feature and needs no change.

// Width is the number of weights a feature has: K under multiclass
// (classes >= 2), else 1.
func Width(classes int) int {
	if classes >= 2 {
		return classes
	}
	return 1
}

// SoftmaxLoss is -log p_y under margins z: logsumexp(z) - z_y, computed
// from the largest margin so that no exp overflows.
func SoftmaxLoss(z []float64, y int) float64 {
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	sum := 0.0
	for _, v := range z {
		sum += math.Exp(v - m)
	}
	return math.Log(sum) + m - z[y]
}

// Softmax sets p to the class probabilities under margins z.
func Softmax(p, z []float64) {
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	sum := 0.0
	for k, v := range z {
		p[k] = math.Exp(v - m)
		sum += p[k]
	}
	for k := range p {
		p[k] /= sum
	}
}

// classMargins computes Margins for K classes.
func (b *Block) classMargins(w, d, zw, zd []float64) {
	K := b.Classes
	for i := range zw {
		zw[i], zd[i] = 0, 0
	}
	for c := 0; c+1 < len(b.ColPtr); c++ {
		wc, dc := w[c*K:(c+1)*K], d[c*K:(c+1)*K]
		for p := b.ColPtr[c]; p < b.ColPtr[c+1]; p++ {
			r, v := int(b.Rows[p]), b.Vals[p]
			zr, dr := zw[r*K:(r+1)*K], zd[r*K:(r+1)*K]
			for k := range wc {
				zr[k] += wc[k] * v
				dr[k] += dc[k] * v
			}
		}
	}
}

// classLosses computes AddLosses for K classes.
func (b *Block) classLosses(dst, zw, zd, steps []float64) {
	K := b.Classes
	z := make([]float64, K)
	for i, a := range steps {
		sum := 0.0
		for r, y := range b.Labels {
			for k := range z {
				z[k] = zw[r*K+k] + a*zd[r*K+k]
			}
			sum += b.Weight(r) * SoftmaxLoss(z, int(y))
		}
		dst[i] += sum
	}
}

// classResiduals sets resid[r*K+k] to row r's weight times p_k - [y = k]
// at w + alpha*d, and, if curv is not nil, curv[r*K+k] to its weight times
// max(p_k(1-p_k), CurvatureFloor), the Hessian's diagonal.
func (b *Block) classResiduals(resid, curv, zw, zd []float64, alpha float64) {
	K := b.Classes
	z, p := make([]float64, K), make([]float64, K)
	for r, y := range b.Labels {
		for k := range z {
			z[k] = zw[r*K+k] + alpha*zd[r*K+k]
		}
		Softmax(p, z)
		wr := b.Weight(r)
		for k, pk := range p {
			if resid != nil {
				t := pk
				if k == int(y) {
					t--
				}
				resid[r*K+k] = wr * t
			}
			if curv != nil {
				curv[r*K+k] = wr * max(pk*(1-pk), CurvatureFloor)
			}
		}
	}
}

// classColumnSums sets dst[c*K+k] = sum over column c's postings of
// perRow[r*K+k] times the value to the power pow (1 or 2).
func (b *Block) classColumnSums(dst, perRow []float64, pow int) {
	K := b.Classes
	for c := 0; c+1 < len(b.ColPtr); c++ {
		out := dst[c*K : (c+1)*K]
		for k := range out {
			out[k] = 0
		}
		for p := b.ColPtr[c]; p < b.ColPtr[c+1]; p++ {
			r, v := int(b.Rows[p]), b.Vals[p]
			if pow == 2 {
				v *= v
			}
			for k, x := range perRow[r*K : (r+1)*K] {
				out[k] += x * v
			}
		}
	}
}

// ClassRow names the parameter row of feature name's weight for class k
// under multiclass: the name, a NUL, and k in three digits (MaxClasses is
// 1000). No feature name holds a NUL (the parser refuses control bytes),
// and NUL sorts first, so a feature's rows sort together, by class, where
// the feature's name sorts, and the partitioning (transforms.PartitionOf)
// puts them with the feature by hashing RowFeature.
func ClassRow(name string, k int) string {
	return name + "\x00" + string([]byte{byte('0' + k/100), byte('0' + k/10%10), byte('0' + k%10)})
}

// RowFeature is the feature a parameter row belongs to and the row's
// class (0 for a row of two-class training, named by its feature).
func RowFeature(row string) (name string, class int) {
	i := strings.IndexByte(row, 0)
	if i < 0 || len(row) != i+4 {
		return row, 0
	}
	c := row[i+1:]
	return row[:i], int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0')
}

// IsBiasRow tells whether a parameter row is (a class's row of) the
// intercept, when training has one. Every pass asks it of every row, so it
// looks at the length first: the intercept's row is BiasName, or BiasName,
// a NUL and 3 digits.
func IsBiasRow(bias bool, row string) bool {
	if !bias || len(row) != len(BiasName) && len(row) != len(BiasName)+4 {
		return false
	}
	name, _ := RowFeature(row)
	return name == BiasName
}
