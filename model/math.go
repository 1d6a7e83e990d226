package model

import "math"

// Sigmoid returns 1/(1+exp(-z)) without overflow for any finite z.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// Log1pExp returns log(1+exp(z)) without overflow: for large z it is z plus
// a vanishing correction, for very negative z it is exp(z).
func Log1pExp(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

// Loss is one sample's negative log-likelihood log(1+exp(z)) - y*z for a
// label y in {0, 1}.
func Loss(z, y float64) float64 {
	return Log1pExp(z) - y*z
}
