package model

import (
	"fmt"
	"math"
)

// BiasName is the parameter row of the intercept. Real feature names are
// never empty (the parser rejects them), so it cannot collide with one.
const BiasName = ""

// RowStrength is a penalty's strength (lambda, or L1) on the parameter
// row named name: strength, or 0 for the intercept's row (its ClassRows
// under multiclass) when training has an intercept (a warm start may
// bring that row into a run without one).
func RowStrength(strength float64, bias bool, name string) float64 {
	if IsBiasRow(bias, name) {
		return 0
	}
	return strength
}

// TrainParams are the settings that define a training run. The reference
// trainer and the Beam pipeline read the same struct, so they follow the
// same rule.
type TrainParams struct {
	// Lambda is the L2 strength; with lambda = 1/C the objective is
	// LIBLINEAR's -s 0. The intercept is not regularized.
	Lambda float64
	// L1 is the L1 strength: J gains L1*|w|_1, the intercept again
	// excepted; with both set it is the elastic net. Only lbfgs, which
	// then runs as OWL-QN, minimizes it, and it is the default then.
	L1 float64
	// Bias adds the intercept, a feature of value 1 in every sample.
	Bias bool
	// Multiclass trains multinomial (softmax) regression over labels
	// 0..K-1, K read from the data: every feature, the intercept too, has
	// one weight per class, and J sums -log p(y_i) + lambda/2 |w|^2 over
	// all of them. Only the line-search methods (lbfgs, the default then,
	// and gd) train it.
	Multiclass bool
	// ClassWeight multiplies the weight of the samples of class 0 and of
	// class 1, as LIBLINEAR's -wi; default 1. A sample's loss counts
	// weight times: its own (label:weight) times its class's.
	ClassWeight [2]float64
	// Optimizer is the Name of one of Methods; default Subspace.
	Optimizer string
	// LearningRate is gd's eta and averaging's local SGD step. Zero picks
	// the default: for gd 1/L with L = 0.25*sum(x^2) + lambda, a bound on the
	// gradient's Lipschitz constant that never diverges; for averaging 0.1.
	LearningRate float64
	// Memory is the number of (s, y) pairs L-BFGS keeps per row, default
	// 10; for Subspace the number of steps, default 20.
	Memory int
	// BlockSize is the number of input lines per sample block; default
	// 16384. Beam's cost is per element, and elements are (feature, block)
	// pairs, so larger blocks are cheaper (Zipf features repeat within a
	// block) until blocks are too few to keep every worker busy.
	// Subspace's and averaging's paths depend on it (each block computes
	// a local Newton step or runs a local epoch), though not their optimum;
	// lbfgs's and gd's do not.
	BlockSize int
	// Iterations caps the number of iterations (passes after the first);
	// default 100.
	Iterations int
	// Tol stops when the relative decrease of J over one iteration falls
	// below it. Default 1e-7 for gd and averaging; off for subspace and
	// lbfgs, which stop by GapTol: on sotu-bi a pass of subspace that
	// lowered J by 1e-7 still left a gap of 1.1e-6, ten times as much.
	// Zero after defaulting disables the test.
	Tol float64
	// GTol stops when |g| <= GTol*|g0| (LIBLINEAR's rule); default 1e-5.
	GTol float64
	// GapTol stops when the estimated relative gap to the optimum,
	// (J - J*)/J* (Figures.Gap), is at most GapTol; default 1e-6.
	// Subspace and lbfgs estimate it; gd and averaging do not.
	GapTol float64
}

// WithDefaults returns p with zero fields set to their defaults. Negative
// Tol or GTol mean "disabled" and become zero.
func (p TrainParams) WithDefaults() TrainParams {
	if p.Optimizer == "" {
		p.Optimizer = Methods[0].Name()
		if p.L1 > 0 || p.Multiclass {
			p.Optimizer = LBFGS
		}
	}
	if m, err := MethodNamed(p.Optimizer); err == nil {
		p = m.Defaults(p)
	}
	if p.Memory == 0 {
		p.Memory = 10
	}
	for c, w := range p.ClassWeight {
		if w == 0 {
			p.ClassWeight[c] = 1
		}
	}
	if p.BlockSize == 0 {
		p.BlockSize = 16384
	}
	if p.Iterations == 0 {
		p.Iterations = 100
	}
	if p.Tol < 0 {
		p.Tol = 0
	}
	switch {
	case p.GTol == 0:
		p.GTol = 1e-5
	case p.GTol < 0:
		p.GTol = 0
	}
	switch {
	case p.GapTol == 0:
		p.GapTol = 1e-6
	case p.GapTol < 0:
		p.GapTol = 0
	}
	return p
}

// Validate reports the first setting that cannot be trained with.
func (p TrainParams) Validate() error {
	if _, err := MethodNamed(p.Optimizer); err != nil {
		return err
	}
	if !(p.Lambda >= 0) || math.IsInf(p.Lambda, 0) {
		return fmt.Errorf("lambda %v must be a finite number >= 0", p.Lambda)
	}
	if !(p.L1 >= 0) || math.IsInf(p.L1, 0) {
		return fmt.Errorf("l1 %v must be a finite number >= 0", p.L1)
	}
	if p.L1 > 0 && p.Optimizer != LBFGS {
		return fmt.Errorf("l1 needs optimizer %s (OWL-QN), not %s: the others minimize a smooth J only", LBFGS, p.Optimizer)
	}
	if n := p.Method().Needs(); p.Multiclass && (n.Subspace || n.LocalSGD) {
		return fmt.Errorf("multiclass needs optimizer %s or %s, not %s: its steps inside a block are for two classes only", LBFGS, GD, p.Optimizer)
	}
	if p.Multiclass && p.ClassWeight != [2]float64{} && p.ClassWeight != [2]float64{1, 1} {
		return fmt.Errorf("class weights are for two classes; with multiclass, weigh samples by label:weight")
	}
	if !(p.LearningRate >= 0) || math.IsInf(p.LearningRate, 0) {
		return fmt.Errorf("learning rate %v must be a finite number > 0 (or 0 for the default)", p.LearningRate)
	}
	if p.Memory < 1 || p.Memory > 100 {
		return fmt.Errorf("lbfgs memory %d must be between 1 and 100", p.Memory)
	}
	if p.BlockSize < 1 {
		return fmt.Errorf("block size %d must be >= 1", p.BlockSize)
	}
	for c, w := range p.ClassWeight {
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("class %d's weight %v must be a finite number > 0", c, w)
		}
	}
	if p.Iterations < 1 {
		return fmt.Errorf("iterations %d must be >= 1", p.Iterations)
	}
	if !(p.Tol >= 0) || math.IsInf(p.Tol, 0) {
		return fmt.Errorf("tol %v must be a finite number (negative turns the test off)", p.Tol)
	}
	if !(p.GTol >= 0) || math.IsInf(p.GTol, 0) {
		return fmt.Errorf("gtol %v must be a finite number (negative turns the test off)", p.GTol)
	}
	if !(p.GapTol >= 0) || math.IsInf(p.GapTol, 0) {
		return fmt.Errorf("gap %v must be a finite number (negative turns the test off)", p.GapTol)
	}
	return nil
}

// Eta returns the step size gd or averaging uses on data whose squared
// values sum to sumSq (the intercept counts 1 per sample). A sample's
// Hessian is at most 1/4 x x^T for two classes and 1/2 x x^T for softmax
// (the largest eigenvalue of diag(p) - p p^T), whence the bound L.
func (p TrainParams) Eta(sumSq float64) float64 {
	if p.LearningRate > 0 {
		return p.LearningRate
	}
	if p.Multiclass {
		return 1 / (0.5*sumSq + p.Lambda)
	}
	return 1 / (0.25*sumSq + p.Lambda)
}
