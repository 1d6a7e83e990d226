package model

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// Tolerances of the numeric checks.
const (
	fdStep      = 1e-6 // finite-difference step
	fdTol       = 1e-6 // relative agreement of gradient and finite differences
	optimumTol  = 1e-6 // relative agreement of J at the two optima
	gonumGradTo = 1e-8 // gradient norm the independent solve runs to
)

func synthDataset(t testing.TB, p SynthParams, bias bool, blockSize int) *Dataset {
	t.Helper()
	var buf bytes.Buffer
	_, err := Synthesize(&buf, p)
	require.NoError(t, err)
	b := NewDatasetBuilder(bias, blockSize)
	r := NewReader(&buf, "synth")
	var s Sample
	for r.Read(&s) == nil {
		b.Add(0, &s)
	}
	return b.Dataset()
}

func TestObjectiveGradientMatchesFiniteDifferences(t *testing.T) {
	d := synthDataset(t, SynthParams{Samples: 300, Features: 50, PerSample: 6, Seed: 3}, true, 7)
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float64, len(d.Names))
	for j := range w {
		w[j] = rng.NormFloat64()
	}
	g := make([]float64, len(w))
	Objective(d, w, 0.7, true, g)
	for j := range w {
		wp := append([]float64(nil), w...)
		wm := append([]float64(nil), w...)
		wp[j] += fdStep
		wm[j] -= fdStep
		fd := (Objective(d, wp, 0.7, true, nil) - Objective(d, wm, 0.7, true, nil)) / (2 * fdStep)
		require.InDelta(t, fd, g[j], fdTol*math.Max(1, math.Abs(fd)), "feature %q", d.Names[j])
	}
}

func TestPassGradientEqualsObjective(t *testing.T) {
	d := synthDataset(t, SynthParams{Samples: 500, Features: 80, PerSample: 5, Seed: 9}, true, 13)
	tr, err := NewTrainer(d, TrainParams{Lambda: 2, Bias: true}, nil)
	require.NoError(t, err)
	f := tr.Pass()
	w := make([]float64, len(d.Names))
	g := make([]float64, len(w))
	for j, r := range tr.Rows {
		w[j] = r.W
	}
	require.InDelta(t, Objective(d, w, 2, true, g), f.J, 1e-9*f.J)
	for j, r := range tr.Rows {
		require.InDelta(t, g[j], r.G, 1e-9*math.Max(1, math.Abs(g[j])))
	}
	require.InDelta(t, floats.Norm(g, 2), f.GradNorm, 1e-9*f.GradNorm)
}

// TestPassCurvatureIsFlooredHessianDiagonal checks each row's H against
// the textbook sum_i max(p(1-p), CurvatureFloor) x^2 + lambda at the row's
// W, after the first pass (a warm start) and after one that moved. At
// w = 0 it is exactly 0.25*sum x^2 + lambda, the Hessian's diagonal there.
func TestPassCurvatureIsFlooredHessianDiagonal(t *testing.T) {
	d := synthDataset(t, SynthParams{Samples: 500, Features: 80, PerSample: 5, Seed: 9}, true, 13)
	const lambda = 2
	want := func(w []float64) []float64 {
		h := make([]float64, len(w))
		for bi := range d.Blocks {
			b := &d.Blocks[bi]
			z := make([]float64, b.NumRows())
			for c, f := range b.Cols {
				for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
					z[b.Rows[k]] += w[f] * b.Vals[k]
				}
			}
			for c, f := range b.Cols {
				for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
					p := Sigmoid(z[b.Rows[k]])
					h[f] += max(p*(1-p), CurvatureFloor) * b.Vals[k] * b.Vals[k]
				}
			}
		}
		for j, name := range d.Names {
			if name != BiasName {
				h[j] += lambda
			}
		}
		return h
	}
	check := func(tr *Trainer) {
		t.Helper()
		w := make([]float64, len(d.Names))
		for j, r := range tr.Rows {
			w[j] = r.W
		}
		for j, h := range want(w) {
			require.InDelta(t, h, tr.Rows[j].H, 1e-12*h, "feature %q", d.Names[j])
		}
	}

	cold, err := NewTrainer(d, TrainParams{Lambda: lambda, Bias: true}, nil)
	require.NoError(t, err)
	cold.Pass()
	for j, name := range d.Names {
		sumSq := 0.0
		for bi := range d.Blocks {
			b := &d.Blocks[bi]
			for c, f := range b.Cols {
				if int(f) == j {
					sumSq += b.ColumnSumSq(c)
				}
			}
		}
		h := 0.25 * sumSq
		if name != BiasName {
			h += lambda
		}
		require.InDelta(t, h, cold.Rows[j].H, 1e-12*h, "feature %q", name)
	}
	f := cold.Pass()
	require.True(t, f.Moved)
	check(cold)

	rng := rand.New(rand.NewPCG(6, 7))
	start := map[string]float64{}
	for _, name := range d.Names {
		start[name] = 3 * rng.NormFloat64() // many margins beyond the floor
	}
	warm, err := NewTrainer(d, TrainParams{Lambda: lambda, Bias: true}, start)
	require.NoError(t, err)
	warm.Pass()
	check(warm)
}

// gonumOptimum minimizes J on d with gonum's Newton method, the
// independent solver the trainers' optima are checked against, and
// requires it to have got there.
func gonumOptimum(t *testing.T, d *Dataset, lambda float64, bias bool) *optimize.Result {
	t.Helper()
	prob := optimize.Problem{
		Func: func(x []float64) float64 { return Objective(d, x, lambda, bias, nil) },
		Grad: func(grad, x []float64) { Objective(d, x, lambda, bias, grad) },
		Hess: func(h *mat.SymDense, x []float64) { hessian(h, d, x, lambda, bias) },
	}
	res, err := optimize.Minimize(prob, make([]float64, len(d.Names)),
		&optimize.Settings{GradientThreshold: gonumGradTo}, &optimize.Newton{})
	g := make([]float64, len(d.Names))
	Objective(d, res.X, lambda, bias, g)
	// Newton's line search may give up once J no longer changes in
	// floating point; the gradient norm says whether it got there.
	require.LessOrEqual(t, floats.Norm(g, 2), 10*gonumGradTo, "gonum: %v", err)
	return res
}

// TestReferenceOptimumMatchesGonum solves the same problem with gonum's
// Newton method, an independent implementation, to a gradient norm of 1e-8.
func TestReferenceOptimumMatchesGonum(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lambda  float64
		bias    bool
		samples int64
	}{
		{"bias/lambda=1", 1, true, 2000},
		{"nobias/lambda=0.1", 0.1, false, 2000},
		{"bias/lambda=10", 10, true, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := synthDataset(t, SynthParams{Samples: tc.samples, Features: 300, PerSample: 10, Seed: 5, Noise: 0.1}, tc.bias, 100)
			res := gonumOptimum(t, d, tc.lambda, tc.bias)

			tr, err := NewTrainer(d, TrainParams{Optimizer: LBFGS, Lambda: tc.lambda, Bias: tc.bias, Iterations: 500, Tol: -1, GTol: 1e-10, GapTol: -1}, nil)
			require.NoError(t, err)
			reason := tr.Train(nil)
			last := tr.History[len(tr.History)-1]
			t.Logf("reference: %s after %d passes, J %.12g; gonum J %.12g", reason, len(tr.History), last.J, res.F)
			require.InDelta(t, res.F, last.J, optimumTol*res.F)
		})
	}
}

// hessian sets h to the objective's Hessian, sum_i weight_i p(1-p) x_i x_i' + lambda*I.
func hessian(h *mat.SymDense, d *Dataset, w []float64, lambda float64, bias bool) {
	n := len(w)
	h.Zero()
	for bi := range d.Blocks {
		b := &d.Blocks[bi]
		rows := make([][]struct {
			f int32
			v float64
		}, b.NumRows())
		for c, f := range b.Cols {
			for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
				r := b.Rows[k]
				rows[r] = append(rows[r], struct {
					f int32
					v float64
				}{f, b.Vals[k]})
			}
		}
		for r, row := range rows {
			z := 0.0
			for _, e := range row {
				z += w[e.f] * e.v
			}
			p := Sigmoid(z)
			cu := b.Weight(r) * p * (1 - p)
			for _, a := range row {
				for _, c := range row {
					if a.f <= c.f {
						h.SetSym(int(a.f), int(c.f), h.At(int(a.f), int(c.f))+cu*a.v*c.v)
					}
				}
			}
		}
	}
	for j := 0; j < n; j++ {
		if !(bias && d.Names[j] == BiasName) {
			h.SetSym(j, j, h.At(j, j)+lambda)
		}
	}
}

// textbookDirection is the standard two-loop recursion on explicit vectors,
// with the identity as initial inverse Hessian (Direction does not scale it).
func textbookDirection(s, y [][]float64, g []float64) []float64 {
	k := len(s)
	q := append([]float64(nil), g...)
	alpha := make([]float64, k)
	for i := k - 1; i >= 0; i-- {
		alpha[i] = floats.Dot(s[i], q) / floats.Dot(s[i], y[i])
		floats.AddScaled(q, -alpha[i], y[i])
	}
	for i := 0; i < k; i++ {
		beta := floats.Dot(y[i], q) / floats.Dot(s[i], y[i])
		floats.AddScaled(q, alpha[i]-beta, s[i])
	}
	floats.Scale(-1, q)
	return q
}

func TestVectorFreeDirectionMatchesTwoLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	const n, k = 40, 5
	s, y := make([][]float64, k), make([][]float64, k)
	for i := range s {
		s[i], y[i] = make([]float64, n), make([]float64, n)
		for j := 0; j < n; j++ {
			s[i][j] = rng.NormFloat64()
			y[i][j] = s[i][j]*(1+rng.Float64()) + 0.1*rng.NormFloat64() // positive curvature
		}
	}
	// In the preconditioned coordinates the recursion is the textbook one
	// on s*sqrt(H), y/sqrt(H), g/sqrt(H), and d maps back as d~/sqrt(H).
	g := make([]float64, n)
	rows := make([]Row, n)
	st, yt, gt := make([][]float64, k), make([][]float64, k), make([]float64, n)
	for i := range st {
		st[i], yt[i] = make([]float64, n), make([]float64, n)
	}
	for j := range g {
		g[j] = rng.NormFloat64()
		h := 0.1 + 10*rng.Float64()
		rows[j] = Row{G: g[j], H: h}
		gt[j] = g[j] / math.Sqrt(h)
		for i := 0; i < k; i++ {
			rows[j].S = append(rows[j].S, s[i][j])
			rows[j].Y = append(rows[j].Y, y[i][j])
			st[i][j], yt[i][j] = s[i][j]*math.Sqrt(h), y[i][j]/math.Sqrt(h)
		}
	}
	gram := Gram{K: k, Dot: make([]float64, GramLen(k))}
	for _, r := range rows {
		AddRowProducts(RowBasis(nil, r, 0), func(i int, v float64) { gram.Dot[i] += v })
	}
	coef, steepest := gram.Direction()
	require.False(t, steepest)
	want := textbookDirection(st, yt, gt)
	for j, r := range rows {
		require.InDelta(t, want[j]/math.Sqrt(r.H), ApplyDirection(r, coef, 0).D, 1e-10)
	}
}

// TestWarmStartReportsTrueObjective starts from a trained model: the first
// pass must report J including the penalty of the starting weights, and
// training must not regress.
func TestWarmStartReportsTrueObjective(t *testing.T) {
	d := synthDataset(t, SynthParams{Samples: 800, Features: 100, PerSample: 6, Seed: 8}, true, 50)
	p := TrainParams{Lambda: 1, Bias: true, Iterations: 30}
	first, err := NewTrainer(d, p, nil)
	require.NoError(t, err)
	first.Train(nil)
	start := first.Weights()
	w := make([]float64, len(d.Names))
	for j, name := range d.Names {
		w[j] = start[name]
	}
	trueJ := Objective(d, w, 1, true, nil)

	warm, err := NewTrainer(d, p, start)
	require.NoError(t, err)
	f := warm.Pass()
	require.InDelta(t, trueJ, f.J, 1e-9*trueJ)
	warm.Train(nil)
	require.LessOrEqual(t, warm.History[len(warm.History)-1].J, trueJ)
}

// TestLBFGSPassesToOptimum checks issue 7's target on dpmr gen data: 100k
// samples, Zipf features, intercept on. The optimum is the same trainer run
// to |g| <= 1e-9 |g0| (checked against gonum above). The target is a
// relative gap (J - J*)/J* of at most 1e-4 after 20 passes, pass 0 (the
// starting point) included. With H fixed at its value at w = 0 the gap
// there was 7.9e-4 and 1e-4 took 24 passes; with H measured every pass,
// unscaled initial inverse Hessian and the finer step grid it is 1.5e-5,
// reached after 18.
func TestLBFGSPassesToOptimum(t *testing.T) {
	if testing.Short() {
		t.Skip("100k samples; skipped with -short")
	}
	d := synthDataset(t, SynthParams{Samples: 100000, Features: 50000, PerSample: 20, Zipf: 1.1, Seed: 61, Noise: 0.05}, true, 16384)
	tr, err := NewTrainer(d, TrainParams{Optimizer: LBFGS, Lambda: 1, Bias: true, Iterations: 300, Tol: -1, GTol: 1e-9, GapTol: -1}, nil)
	require.NoError(t, err)
	tr.Train(nil)
	h := tr.History
	opt := h[len(h)-1].J
	gap := func(pass int) float64 { return (h[pass].J - opt) / opt }
	within := len(h)
	for i := range h {
		if gap(i) <= 1e-4 {
			within = i + 1
			break
		}
	}
	t.Logf("optimum J %.10g after %d passes; gap after 20 passes %.2e; gap <= 1e-4 after %d passes", opt, len(h), gap(19), within)
	require.LessOrEqual(t, gap(19), 1e-4)
}
