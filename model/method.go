package model

import (
	"fmt"
	"strings"
)

// Method is an optimization method: what its passes ask of the sample
// blocks and how each parameter row moves. TrainParams.Optimizer names
// one of Methods. The reference trainer, the pipeline's pass, the stopping
// rules and the charts read a method's Needs and call its functions; none
// of them tests its name, so a new method is one file plus its entry in
// Methods.
type Method interface {
	// Name is the value of TrainParams.Optimizer (--optimizer).
	Name() string
	// Summary is a few words for --optimizer's help.
	Summary() string
	Needs() Needs
	// Defaults sets the method's own defaults in p's zero fields.
	Defaults(p TrainParams) TrainParams
	// Steps are the step sizes along D that the pass after the one that
	// produced f tries, largest first, and whether it takes the first
	// without a search (line-search methods; see Plan).
	Steps(f Figures) (steps []float64, forced bool)
	// Move moves a row to the point its pass evaluated and proposes its
	// next step, from what the blocks measured there.
	Move(r Row, m Measured) Row
	// NoDescent tells whether a pass that found no lower J (the last of
	// history) ends training: a method whose steps are already its most
	// careful has nowhere else to look.
	NoDescent(history []Figures) bool
}

// Needs are the stages and measurements a method's pass runs.
type Needs struct {
	// Subspace: the pass minimizes J over a subspace of each row's
	// vectors (SubspaceSearch), so the blocks get rows, and its
	// first trip to the blocks sets each row's U (NewtonShares).
	// Otherwise it searches a line along D (Plan).
	Subspace bool
	// Curvature: the blocks measure each feature's Hessian diagonal at
	// the new point (Block.Curvature); subspace's gradients always do.
	Curvature bool
	// LocalSGD: every block runs an epoch of local SGD from the new
	// weights (Block.LocalSGD), and Move gets their sum.
	LocalSGD bool
	// Direction: after Move, one global combine of the rows' Gram (Gram,
	// RowBasis) gives the coefficients of each row's next D
	// (ApplyDirection).
	Direction bool
	// Which of TrainParams' settings change the method's path, for the
	// labels of charts that compare runs.
	UsesLearningRate, UsesMemory, UsesBlockSize bool
}

// Measured is what a pass measured for one row, for Move.
type Measured struct {
	Params TrainParams
	Lambda float64 // the row's L2 strength (0 for the intercept's row)
	L1     float64 // the row's L1 strength (likewise)
	IsBias bool    // the row is the intercept's and training has one
	Choice Choice  // the point the pass chose
	Grad   float64 // data gradient at the chosen point, summed over blocks
	Curv   float64 // data curvature there (Needs.Curvature, subspace)
	// LocalSum and Blocks are the sum of the blocks' local SGD weights
	// and the number of blocks that use the feature (Needs.LocalSGD).
	LocalSum float64
	Blocks   int64
	Eta      float64 // gd's and averaging's resolved step
}

// Methods are the optimization methods, the default first.
var Methods = []Method{subspaceMethod{}, lbfgsMethod{}, gdMethod{}, averagingMethod{}}

// MethodNamed returns the method called name.
func MethodNamed(name string) (Method, error) {
	var names []string
	for _, m := range Methods {
		if m.Name() == name {
			return m, nil
		}
		names = append(names, m.Name())
	}
	return nil, fmt.Errorf("optimizer %q is not one of %s", name, strings.Join(names, ", "))
}

// Method returns p's method; p must have passed Validate.
func (p TrainParams) Method() Method {
	m, err := MethodNamed(p.Optimizer)
	if err != nil {
		panic("model: " + err.Error())
	}
	return m
}

// MethodHelp lists the methods for --optimizer's help.
func MethodHelp() string {
	var parts []string
	for _, m := range Methods {
		parts = append(parts, m.Name()+" ("+m.Summary()+")")
	}
	return strings.Join(parts, ", ")
}

// forcedUnitStep is the plan of gd and averaging: the step their Move
// proposed, taken as it is.
func forcedUnitStep(Figures) ([]float64, bool) { return []float64{1}, true }

// GD is the DPMR paper's fixed-step gradient descent, w <- w - eta*g.
const GD = "gd"

type gdMethod struct{}

func (gdMethod) Name() string                       { return GD }
func (gdMethod) Summary() string                    { return "the paper's fixed step" }
func (gdMethod) Needs() Needs                       { return Needs{UsesLearningRate: true} }
func (gdMethod) Defaults(p TrainParams) TrainParams { return withStepTol(p) }
func (gdMethod) Steps(f Figures) ([]float64, bool)  { return forcedUnitStep(f) }
func (gdMethod) Move(r Row, m Measured) Row {
	r = moveRow(r, m)
	r.D = -m.Eta * r.G
	return r
}
func (gdMethod) NoDescent([]Figures) bool { return false }

// Averaging is Iterative Reduce: every block runs one epoch of local SGD
// from the current weights and each feature takes the mean of the blocks'
// results.
const Averaging = "averaging"

type averagingMethod struct{}

func (averagingMethod) Name() string    { return Averaging }
func (averagingMethod) Summary() string { return "Iterative Reduce" }
func (averagingMethod) Needs() Needs {
	return Needs{LocalSGD: true, UsesLearningRate: true, UsesBlockSize: true}
}
func (averagingMethod) Defaults(p TrainParams) TrainParams {
	p = withStepTol(p)
	if p.LearningRate == 0 {
		p.LearningRate = 0.1
	}
	return p
}
func (averagingMethod) Steps(f Figures) ([]float64, bool) { return forcedUnitStep(f) }
func (averagingMethod) Move(r Row, m Measured) Row {
	r = moveRow(r, m)
	r.D = AveragingStep(r.W, m.LocalSum, m.Blocks)
	return r
}
func (averagingMethod) NoDescent([]Figures) bool { return false }

// withStepTol sets gd's and averaging's default Tol: they estimate no gap,
// so a small relative decrease of J is what stops them.
func withStepTol(p TrainParams) TrainParams {
	if p.Tol == 0 {
		p.Tol = 1e-7
	}
	return p
}

// moveRow is the common part of a line-search method's Move: the row at
// W + alpha*D with its gradient there. The step D stays until the method
// sets the next one; H, U and the history are the method's.
func moveRow(r Row, m Measured) Row {
	w := TrialWeight(r.W, r.D, m.Choice.Alpha)
	if m.L1 > 0 {
		w = OrthantWeight(r.W, r.D, m.Choice.Alpha)
	}
	g := m.Grad
	if !m.IsBias {
		g += m.Params.Lambda * w
	}
	return Row{W: w, G: g, D: r.D, H: r.H}
}
