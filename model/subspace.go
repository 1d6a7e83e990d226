package model

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mat"
)

// Subspace is subspace minimization with a lagged local-Newton direction:
// each pass minimizes J exactly (a few Newton steps) over the affine
// subspace W + span{-G/H, U, S_1..S_m}, where G and H are the gradient and
// the floored Hessian diagonal at W, S_i the last m = Memory steps
// (default 20, as many numbers per row as lbfgs's 10 pairs), and U a
// Newton-like direction at W that the sample blocks compute locally at the
// start of the pass (see LocalNewton). The subspace problem needs only scalars:
// with the block's margins of W and of every basis vector, each block sums
// the loss, gradient and Hessian of J restricted to the subspace for any
// coefficients, so its Newton steps cost one global combine of a few dozen
// scalars each, no pass over the parameter rows. Then the pass measures
// the gradient and curvature at the new point, as lbfgs's pass does.
//
// U costs the pass a second trip to the blocks: the blocks need G at W to
// compute it, and the search needs the sum of their shares. With U one
// pass late instead (computed with the G and H the pass starts from, used
// in the next pass), sotu needed 28 / 42 passes to 1e-4 / 1e-6 instead of
// 24 / 35, names 13 / 21 instead of 8 / 13.
//
// It is the default: on real text it reaches LIBLINEAR's optimum in a
// third to a sixth of lbfgs's passes (README "Optimizers"), at the price of
// more local work per pass and more bytes per (feature, block) pair: each
// block gets its columns' rows (without their steps, along which it keeps
// its samples' margins from pass to pass: SubspaceMargins.Kept).
const Subspace = "subspace"

type subspaceMethod struct{}

func (subspaceMethod) Name() string    { return Subspace }
func (subspaceMethod) Summary() string { return "fewest passes" }
func (subspaceMethod) Needs() Needs {
	return Needs{Subspace: true, Curvature: true, UsesMemory: true, UsesBlockSize: true}
}

// Defaults: 20 steps, as many numbers per row as lbfgs's 10 pairs.
func (subspaceMethod) Defaults(p TrainParams) TrainParams {
	if p.Memory == 0 {
		p.Memory = 20
	}
	return p
}

// Steps: the subspace search takes the place of the line search; the
// plan only numbers the pass.
func (subspaceMethod) Steps(f Figures) ([]float64, bool) { return forcedUnitStep(f) }

func (subspaceMethod) Move(r Row, m Measured) Row {
	return SubspaceUpdateRow(r, m.Params, m.Lambda, m.Choice.Coef, m.Grad, m.Curv)
}

// NoDescent: the subspace holds -G/H, so finding no lower J in it means J
// is at machine precision.
func (subspaceMethod) NoDescent([]Figures) bool { return true }

// Subspace tuning, chosen by measurement on testdata/real (block size 300).
const (
	// subspaceRounds is the number of damped Newton steps on the subspace
	// problem after the first evaluation at the current point; 5 did not
	// lower the passes.
	subspaceRounds = 2
	// LocalNewtonIters bounds each block's conjugate-gradient iterations
	// in LocalNewton, each two products with the block's matrix. On sotu
	// with 20 steps kept, 150 reach 1e-4 in 28 passes and 300 in 27; with
	// 10 steps kept, 60 need 35 and 150 need 30.
	LocalNewtonIters = 150
	// LocalNewtonTol stops a block's conjugate gradients once the
	// preconditioned residual norm is this fraction of its start. At
	// block size 16384 on names, sotu and sotu-bi, 1e-3 takes as many
	// passes as running all LocalNewtonIters (4/5, 7/10 and 10/15 to
	// 1e-4/1e-6) in 0.6x, 0.6x and 0.9x the time per pass; 1e-2 cost
	// sotu-bi a pass to 1e-6 and 1e-1 two on each set.
	LocalNewtonTol = 1e-3
)

// subspaceGrid is the step sizes tried along each subspace Newton step, in
// one combine.
var subspaceGrid = []float64{1, 0.5, 0.25, 0.1}

// SubspaceBasis writes the row's basis coordinates [-G/H, U, S...] into
// dst. Every row has the same number of them.
func SubspaceBasis(dst []float64, r Row) []float64 {
	dst = append(dst[:0], -r.G/r.H, r.U)
	return append(dst, r.S...)
}

// SubspaceStep is the row's move for subspace coefficients c: the
// combination of its basis coordinates.
func SubspaceStep(r Row, c []float64) float64 {
	s := 0.0
	if len(c) > 0 {
		s = c[0] * (-r.G / r.H)
		s += c[1] * r.U
		for i, v := range r.S {
			s += c[2+i] * v
		}
	}
	return s
}

// SubspaceFigures are the global sums that the subspace problem's penalty
// needs, over the regularized rows: W.W, V_a.W and V_a.V_b (upper triangle,
// row-major), for the basis V of SubspaceBasis.
type SubspaceFigures struct {
	K  int
	WW float64
	VW []float64
	VV []float64 // K(K+1)/2
}

// AddSubspaceRow adds a regularized row's contribution to the sums, in the
// storage order of Vals: WW, VW..., VV....
func AddSubspaceRow(basis []float64, w float64, add func(i int, v float64)) {
	add(0, w*w)
	for a, v := range basis {
		add(1+a, v*w)
	}
	i := 1 + len(basis)
	for a := range basis {
		for b := a; b < len(basis); b++ {
			add(i, basis[a]*basis[b])
			i++
		}
	}
}

// NumSubspaceFigures is the number of sums AddSubspaceRow adds to.
func NumSubspaceFigures(k int) int { return 1 + k + k*(k+1)/2 }

// NewSubspaceFigures unpacks the sums AddSubspaceRow made.
func NewSubspaceFigures(k int, sums []float64) SubspaceFigures {
	return SubspaceFigures{K: k, WW: sums[0], VW: sums[1 : 1+k], VV: sums[1+k:]}
}

func (sf SubspaceFigures) vv(a, b int) float64 {
	if a > b {
		a, b = b, a
	}
	return sf.VV[a*sf.K-a*(a-1)/2+(b-a)]
}

// SubspaceMargins holds one block's margins: of W, and of each basis
// vector (Z[a][r]).
type SubspaceMargins struct {
	ZW []float64
	Z  [][]float64
}

// StartMargins are the block's margins at w, given per column, along no
// basis: what pass 0, which only evaluates the starting point, searches
// with, and what the block keeps from it.
func (b *Block) StartMargins(w []float64) SubspaceMargins {
	return SubspaceMargins{ZW: b.marginsAlong(w)[0]}
}

// SearchMargins are the block's margins for a pass's search along the
// basis [-G/H, U, S...]: at W and along the steps S it kept them from the
// passes before (kept, from Kept), so only the two vectors that are new
// each pass are multiplied out, from their coordinates per column (neg:
// -G/H, u: U). The steps are what would otherwise travel to every block
// with each of its columns' rows.
func (b *Block) SearchMargins(kept SubspaceMargins, neg, u []float64) SubspaceMargins {
	z := make([][]float64, 0, 2+len(kept.Z))
	return SubspaceMargins{ZW: kept.ZW, Z: append(append(z, b.marginsAlong(neg, u)...), kept.Z...)}
}

// marginsAlong returns the block's margins along each vector, given per
// column, in one sweep over the block's matrix.
func (b *Block) marginsAlong(vs ...[]float64) [][]float64 {
	n := b.NumRows()
	z := make([][]float64, len(vs))
	for a := range z {
		z[a] = make([]float64, n)
	}
	for c := 0; c+1 < len(b.ColPtr); c++ {
		for kk := b.ColPtr[c]; kk < b.ColPtr[c+1]; kk++ {
			r, v := b.Rows[kk], b.Vals[kk]
			for a, vec := range vs {
				z[a][r] += vec[c] * v
			}
		}
	}
	return z
}

// Kept is what a block keeps of a pass's margins for the next pass, once
// the search chose c (nil: the rows stay): its margins at the new W and
// along the last memory steps, oldest first, as SubspaceUpdateRow keeps
// the rows' steps. A sample's margin along the new step is the
// combination c of its margins along the basis, and at the new W it is
// the margin the gradient stage used (at).
func (m *SubspaceMargins) Kept(c []float64, memory int) SubspaceMargins {
	steps := m.Z[min(2, len(m.Z)):]
	if c == nil {
		return SubspaceMargins{ZW: m.ZW, Z: steps}
	}
	zw, zs := make([]float64, len(m.ZW)), make([]float64, len(m.ZW))
	for r := range zw {
		zw[r] = m.at(r, c)
		s := 0.0
		for a, x := range c {
			s += x * m.Z[a][r]
		}
		zs[r] = s
	}
	keep := min(len(steps), memory-1)
	z := make([][]float64, 0, keep+1)
	return SubspaceMargins{ZW: zw, Z: append(append(z, steps[len(steps)-keep:]...), zs)}
}

// at returns the margin of sample r at coefficients c.
func (m *SubspaceMargins) at(r int, c []float64) float64 {
	z := m.ZW[r]
	for a, x := range c {
		if x != 0 {
			z += x * m.Z[a][r]
		}
	}
	return z
}

// NumSubspaceTerms is the length of a block's subspace terms for k basis
// vectors: loss, k gradient entries, k(k+1)/2 Hessian entries.
func NumSubspaceTerms(k int) int { return 1 + k + k*(k+1)/2 }

// SubspaceTerms returns the block's data terms of J restricted to the
// subspace, at coefficients c: [loss, gradient (k), Hessian (upper
// triangle, row-major)]. Summed over blocks and completed by
// SubspaceModel they are J, its gradient and Hessian in c.
func (b *Block) SubspaceTerms(m *SubspaceMargins, c []float64) []float64 {
	k := len(m.Z)
	out := make([]float64, NumSubspaceTerms(k))
	za := make([]float64, k)
	for r, y := range b.Labels {
		z, wt := m.at(r, c), b.Weight(r)
		out[0] += wt * Loss(z, y)
		p := Sigmoid(z)
		res, cu := wt*(p-y), wt*p*(1-p)
		for a := range za {
			za[a] = m.Z[a][r]
			out[1+a] += res * za[a]
		}
		i := 1 + k
		for a := range za {
			ca := cu * za[a]
			for bb := a; bb < k; bb++ {
				out[i] += ca * za[bb]
				i++
			}
		}
	}
	return out
}

// SubspaceModel completes the summed data terms at c with the penalty:
// J, its gradient and Hessian in c.
func (sf SubspaceFigures) SubspaceModel(lambda float64, c, terms []float64) (float64, []float64, *mat.SymDense) {
	k := sf.K
	j := terms[0] + lambda/2*sf.WW
	g := make([]float64, k)
	var h *mat.SymDense
	if k > 0 {
		h = mat.NewSymDense(k, nil)
	}
	i := 1 + k
	for a := 0; a < k; a++ {
		vc := 0.0
		for bb := 0; bb < k; bb++ {
			vc += sf.vv(a, bb) * c[bb]
		}
		j += lambda * c[a] * (sf.VW[a] + vc/2)
		g[a] = terms[1+a] + lambda*(sf.VW[a]+vc)
		for bb := a; bb < k; bb++ {
			h.SetSym(a, bb, terms[i]+lambda*sf.vv(a, bb))
			i++
		}
	}
	return j, g, h
}

// SubspaceSearch minimizes J over the subspace by damped Newton steps, as
// a sequence of rounds: each round needs the blocks' SubspaceTerms at the
// round's trial points, summed over blocks, and nothing else. The first
// round evaluates the current point (c = 0); each of the next
// subspaceRounds tries the points c + a*step for a in subspaceGrid along
// the Newton step and keeps the lowest J that satisfies the Armijo
// condition. It is a deterministic function of the figures and the summed
// terms: a pipeline can run each round as a stage over the blocks whose
// side input is the previous rounds' sums, and replay the search from
// them.
type SubspaceSearch struct {
	fig    SubspaceFigures
	lambda float64
	round  int
	done   bool
	moved  bool
	c      []float64 // current coefficients
	j      float64   // J at c
	loss   float64   // the data part of J at c
	g      []float64 // gradient in c at c
	h      *mat.SymDense
	step   []float64 // the Newton step the pending trials lie along
	slope  float64   // g.step
	trials [][]float64
}

// NewSubspaceSearch starts the search at c = 0.
func NewSubspaceSearch(fig SubspaceFigures, lambda float64) *SubspaceSearch {
	s := &SubspaceSearch{fig: fig, lambda: lambda, c: make([]float64, fig.K)}
	s.trials = [][]float64{s.c}
	return s
}

// Trials returns the coefficient vectors whose summed terms the next round
// needs, or nil once the search is over.
func (s *SubspaceSearch) Trials() [][]float64 {
	if s.done {
		return nil
	}
	return s.trials
}

// Observe takes the summed SubspaceTerms at each of Trials' points and
// prepares the next round.
func (s *SubspaceSearch) Observe(terms [][]float64) {
	if s.round == 0 {
		s.j, s.g, s.h = s.fig.SubspaceModel(s.lambda, s.c, terms[0])
		s.loss = terms[0][0]
	} else {
		best := -1
		bestJ := s.j
		for i, ct := range s.trials {
			jt, _, _ := s.fig.SubspaceModel(s.lambda, ct, terms[i])
			if jt <= s.j+armijo*subspaceGrid[i]*s.slope && jt < bestJ {
				best, bestJ = i, jt
			}
		}
		if best < 0 {
			s.done = true
			return
		}
		s.moved = true
		s.c = s.trials[best]
		s.j, s.g, s.h = s.fig.SubspaceModel(s.lambda, s.c, terms[best])
		s.loss = terms[best][0]
	}
	s.round++
	if s.round > subspaceRounds || s.fig.K == 0 {
		s.done = true
		return
	}
	s.step = subspaceNewton(s.h, s.g)
	s.slope = 0
	for a := range s.step {
		s.slope += s.step[a] * s.g[a]
	}
	if !(s.slope < 0) {
		s.done = true
		return
	}
	s.trials = make([][]float64, len(subspaceGrid))
	for i, a := range subspaceGrid {
		ct := make([]float64, len(s.c))
		for l := range ct {
			ct[l] = s.c[l] + a*s.step[l]
		}
		s.trials[i] = ct
	}
}

// Choice returns the outcome once the search is over: Coef holds the
// chosen coefficients, nil when no trial point lowered J enough (the rows
// stay where they are); Loss and J are at that point.
func (s *SubspaceSearch) Choice() Choice {
	if !s.moved {
		return Choice{Loss: s.loss, J: s.j}
	}
	return Choice{Alpha: 1, Loss: s.loss, J: s.j, Moved: true, Coef: s.c}
}

// SubspaceSearchRounds is the number of rounds a search takes at most: a
// pipeline builds that many stages.
const SubspaceSearchRounds = 1 + subspaceRounds

// BlockTerms returns one block's SubspaceTerms at every point of the
// current round's trials, concatenated; nil once the search is over.
func (s *SubspaceSearch) BlockTerms(b *Block, m *SubspaceMargins) []float64 {
	var out []float64
	for _, c := range s.Trials() {
		out = append(out, b.SubspaceTerms(m, c)...)
	}
	return out
}

// SubspaceState is what a search has seen: the subspace figures and the
// terms of the rounds so far, each round's BlockTerms summed over all
// blocks and concatenated. It is all a pipeline stage needs to replay the
// search (Replay) to where it stands.
type SubspaceState struct {
	Fig   SubspaceFigures
	Terms []float64
}

// Replay rebuilds the search from the state.
func (st SubspaceState) Replay(lambda float64) *SubspaceSearch {
	s := NewSubspaceSearch(st.Fig, lambda)
	n := NumSubspaceTerms(st.Fig.K)
	rest := st.Terms
	for trials := s.Trials(); trials != nil && len(rest) > 0; trials = s.Trials() {
		terms := make([][]float64, len(trials))
		for i := range terms {
			terms[i], rest = rest[:n], rest[n:]
		}
		s.Observe(terms)
	}
	return s
}

// Add returns the state after one more round whose summed terms are sums
// (empty when the search was already over).
func (st SubspaceState) Add(sums []float64) SubspaceState {
	return SubspaceState{Fig: st.Fig, Terms: append(append([]float64(nil), st.Terms...), sums...)}
}

// subspaceNewton returns the Newton step -H^+ g, the pseudo-inverse taken
// in coordinates scaled to H's unit diagonal, with eigenvalues below
// 1e-10 of the largest (dependent basis vectors) and zero directions
// dropped.
func subspaceNewton(h *mat.SymDense, g []float64) []float64 {
	k := len(g)
	sc := make([]float64, k)
	for a := range sc {
		if d := h.At(a, a); d > 0 {
			sc[a] = 1 / math.Sqrt(d)
		}
	}
	hs := mat.NewSymDense(k, nil)
	for a := 0; a < k; a++ {
		for b := a; b < k; b++ {
			hs.SetSym(a, b, h.At(a, b)*sc[a]*sc[b])
		}
	}
	var eig mat.EigenSym
	step := make([]float64, k)
	if !eig.Factorize(hs, true) {
		return step
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	top := 0.0
	for _, v := range vals {
		top = math.Max(top, v)
	}
	for i, l := range vals {
		if !(l > 1e-10*top) {
			continue
		}
		proj := 0.0
		for a := 0; a < k; a++ {
			proj += vecs.At(a, i) * g[a] * sc[a]
		}
		for a := 0; a < k; a++ {
			step[a] -= vecs.At(a, i) * proj / l
		}
	}
	for a := range step {
		step[a] *= sc[a]
	}
	return step
}

// LocalNewton computes a block's share of the next U at the point whose
// margins are z: per column, hb[c] times the block's solution x of
//
//	(S Hb S + diag(lambda_c)) x = -G
//
// on the block's columns, where Hb = X_b' diag(max(p(1-p), floor)) X_b is
// the block's own Hessian and S scales it so that its diagonal is the
// global one (H - lambda, from the rows), keeping the block's correlations
// between features. g, h and lam are per column: the rows' G and H and the
// column's lambda (0 for the intercept). Summed over blocks and divided by
// H - lambda, the shares average the blocks' local Newton steps, each block
// weighted per feature by its part of the feature's curvature. With no
// correlations between features this is -G/H; with one block holding all
// the data it is the Newton step. Conjugate gradients run at most iters
// iterations, or until the preconditioned residual norm is tol times its
// start, in a fixed order: the result depends only on the block and the rows.
func (b *Block) LocalNewton(dst, z, g, h, lam []float64, iters int, tol float64) {
	n, nc := b.NumRows(), b.NumCols()
	dd := make([]float64, n)
	for r := range dd {
		p := Sigmoid(z[r])
		dd[r] = b.Weight(r) * max(p*(1-p), CurvatureFloor)
	}
	hb := make([]float64, nc)
	sc := make([]float64, nc)
	reg := make([]float64, nc)
	for c := 0; c < nc; c++ {
		for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
			v := b.Vals[k]
			hb[c] += dd[b.Rows[k]] * v * v
		}
		base := h[c] - lam[c]
		sc[c] = 1
		if hb[c] > 0 && base > 0 {
			sc[c] = math.Sqrt(base / hb[c])
		}
		reg[c] = max(lam[c], 1e-9*h[c])
	}
	t, vs := make([]float64, n), make([]float64, nc)
	rowPtr, cols, rowVals := b.rowMajor()
	// mul is nearly all of a subspace pass's time. Its first product runs
	// over the rows (each row's columns ascending: the same sums, in the
	// same order, as column by column) so that it reads at random and
	// writes in sequence, and its loops range over slices so that only
	// the random index is bounds-checked.
	mul := func(dst, v []float64) {
		for c := range vs {
			vs[c] = v[c] * sc[c]
		}
		for r := range t {
			cs := cols[rowPtr[r]:rowPtr[r+1]]
			xs := rowVals[rowPtr[r]:rowPtr[r+1]]
			xs = xs[:len(cs)]
			s := 0.0
			for i, c := range cs {
				s += vs[c] * xs[i]
			}
			t[r] = s * dd[r]
		}
		for c := 0; c < nc; c++ {
			rows := b.Rows[b.ColPtr[c]:b.ColPtr[c+1]]
			vals := b.Vals[b.ColPtr[c]:b.ColPtr[c+1]]
			vals = vals[:len(rows)]
			s := 0.0
			for i, r := range rows {
				s += t[r] * vals[i]
			}
			dst[c] = s*sc[c] + reg[c]*v[c]
		}
	}
	// Preconditioned CG; the preconditioner is the system's diagonal,
	// sc^2*hb + reg, which is about H.
	x := make([]float64, nc)
	res := make([]float64, nc)
	pre := make([]float64, nc)
	dir := make([]float64, nc)
	q := make([]float64, nc)
	rz := 0.0
	for c := range res {
		res[c] = -g[c]
		pre[c] = res[c] / (sc[c]*sc[c]*hb[c] + reg[c])
		dir[c] = pre[c]
		rz += res[c] * pre[c]
	}
	rz0 := rz
	for it := 0; it < iters && rz > tol*tol*rz0 && rz > 0; it++ {
		mul(q, dir)
		pq := 0.0
		for c := range q {
			pq += dir[c] * q[c]
		}
		if !(pq > 0) {
			break
		}
		a := rz / pq
		rz2 := 0.0
		for c := range x {
			x[c] += a * dir[c]
			res[c] -= a * q[c]
			pre[c] = res[c] / (sc[c]*sc[c]*hb[c] + reg[c])
			rz2 += res[c] * pre[c]
		}
		beta := rz2 / rz
		rz = rz2
		for c := range dir {
			dir[c] = pre[c] + beta*dir[c]
		}
	}
	for c := range dst[:nc] {
		dst[c] = hb[c] * x[c]
	}
}

// rowMajor is the block's matrix by rows: row r's columns, ascending, and
// their values are cols and vals[rowPtr[r]:rowPtr[r+1]].
func (b *Block) rowMajor() (rowPtr, cols []int32, vals []float64) {
	n, nnz := b.NumRows(), len(b.Rows)
	rowPtr = make([]int32, n+1)
	for _, r := range b.Rows {
		rowPtr[r+1]++
	}
	for r := 0; r < n; r++ {
		rowPtr[r+1] += rowPtr[r]
	}
	next := append([]int32(nil), rowPtr[:n]...)
	cols, vals = make([]int32, nnz), make([]float64, nnz)
	for c := 0; c < b.NumCols(); c++ {
		for k := b.ColPtr[c]; k < b.ColPtr[c+1]; k++ {
			r := b.Rows[k]
			cols[next[r]], vals[next[r]] = int32(c), b.Vals[k]
			next[r]++
		}
	}
	return rowPtr, cols, vals
}

// LocalNewtonRow turns the summed shares of LocalNewton into the row's U:
// their sum over the blocks divided by the feature's data curvature
// H - lambda at the point they were computed at (h, lam). A feature
// without data curvature gets -G/H.
func LocalNewtonRow(sum, g, h, lam float64) float64 {
	if base := h - lam; base > 0 {
		return sum / base
	}
	return -g / h
}

// SearchColumns returns the coordinates of a pass's two new basis
// vectors, -G/H and U, of a block's columns from their rows (SearchMargins).
func SearchColumns(rows []Row) (neg, u []float64) {
	neg, u = make([]float64, len(rows)), make([]float64, len(rows))
	for c, r := range rows {
		neg[c], u[c] = -r.G/r.H, r.U
	}
	return neg, u
}

// Weights returns the rows' W.
func Weights(rows []Row) []float64 {
	w := make([]float64, len(rows))
	for c, r := range rows {
		w[c] = r.W
	}
	return w
}

// SubspaceGradients is a block's share of a subspace pass's last stage:
// the data gradient and curvature at W + V c (c nil: at W).
func (b *Block) SubspaceGradients(m *SubspaceMargins, c []float64) (grad, curv []float64) {
	n, nc := b.NumRows(), b.NumCols()
	z, resid := make([]float64, n), make([]float64, n)
	grad, curv = make([]float64, nc), make([]float64, nc)
	for r := range z {
		z[r] = m.at(r, c)
	}
	b.Gradient(grad, resid, z, z, 0)
	b.Curvature(curv, resid, z, z, 0)
	return grad, curv
}

// NewtonShares is a block's share of a subspace pass's first stage: its
// LocalNewton shares at W, whose margins zw it kept from the pass before
// (SubspaceMargins.Kept), from its columns' rows (G and H are read) and
// lambdas. Summed over blocks they make each row's U (SetLocalNewton).
func (b *Block) NewtonShares(zw []float64, rows []Row, lam []float64) []float64 {
	nc := b.NumCols()
	g, h := make([]float64, nc), make([]float64, nc)
	for c, r := range rows {
		g[c], h[c] = r.G, r.H
	}
	shares := make([]float64, nc)
	b.LocalNewton(shares, zw, g, h, lam, LocalNewtonIters, LocalNewtonTol)
	return shares
}

// SetLocalNewton sets the row's U from its summed NewtonShares; lam is the
// row's lambda.
func SetLocalNewton(r Row, sum, lam float64) Row {
	r.U = LocalNewtonRow(sum, r.G, r.H, lam)
	return r
}

// subspacePass runs one pass of Subspace, in the stages the pipeline runs
// it in. Pass 0 evaluates the starting point: a search over no basis
// vectors, from each block's margins at W. Every later pass: (1) per
// block, NewtonShares at the margins it kept, summed into each row's U;
// (2) the subspace figures over the rows; (3) per block, SearchMargins,
// then up to SubspaceSearchRounds combines of the blocks' BlockTerms
// choose the coefficients c; (4) per block, SubspaceGradients, and the
// margins it keeps (Kept); (5) the row updates.
// Every global figure is an exact sum, so the result does not depend on
// the order of the blocks.
func (t *Trainer) subspacePass() Figures {
	start := time.Now()
	p := t.Params
	pass := len(t.History)
	lam := func(j int) float64 { return RowStrength(p.Lambda, p.Bias, t.Data.Names[j]) }
	blocks := t.Data.Blocks
	rows := make([][]Row, len(blocks))
	lams := make([][]float64, len(blocks))
	gather := func() {
		for bi := range blocks {
			b := &blocks[bi]
			rows[bi], lams[bi] = make([]Row, len(b.Cols)), make([]float64, len(b.Cols))
			for cc, j := range b.Cols {
				rows[bi][cc], lams[bi][cc] = t.Rows[j], lam(int(j))
			}
		}
	}
	gather()
	k := 0
	if pass > 0 {
		k = 2 + len(t.Rows[0].S)
		if len(t.kept) != len(blocks) {
			panic("model: a subspace pass after the first needs the margins the blocks kept")
		}
		parts := t.partials(&t.grads)
		for bi := range blocks {
			parts[bi] = blocks[bi].NewtonShares(t.kept[bi].ZW, rows[bi], lams[bi])
		}
		shares := t.featureSums(&t.grad, parts)
		for j := range t.Rows {
			t.Rows[j] = SetLocalNewton(t.Rows[j], shares[j], lam(j))
		}
		gather()
	}
	sums := make([]ExactSum, NumSubspaceFigures(k))
	var basis []float64
	for j, r := range t.Rows {
		if pass > 0 && len(r.S)+2 != k {
			panic(fmt.Sprintf("model: rows disagree on history length: %d and %d", len(r.S), k-2))
		}
		if j == t.biasCol {
			continue
		}
		if k > 0 {
			basis = SubspaceBasis(basis, r)
		}
		AddSubspaceRow(basis[:k], r.W, func(i int, v float64) { sums[i].Add(v) })
	}
	state := SubspaceState{Fig: NewSubspaceFigures(k, roundSums(sums))}

	margins := make([]SubspaceMargins, len(blocks))
	for bi := range blocks {
		if k == 0 {
			margins[bi] = blocks[bi].StartMargins(Weights(rows[bi]))
			continue
		}
		if len(t.kept[bi].Z)+2 != k {
			panic(fmt.Sprintf("model: block %d kept %d steps' margins, the rows %d", bi, len(t.kept[bi].Z), k-2))
		}
		neg, u := SearchColumns(rows[bi])
		margins[bi] = blocks[bi].SearchMargins(t.kept[bi], neg, u)
	}
	for round := 0; round < SubspaceSearchRounds; round++ {
		search := state.Replay(p.Lambda)
		var terms []ExactSum
		for bi := range blocks {
			bt := search.BlockTerms(&blocks[bi].Block, &margins[bi])
			terms = growSums(terms, len(bt))
			for l, v := range bt {
				terms[l].Add(v)
			}
		}
		state = state.Add(roundSums(terms))
	}
	ch := state.Replay(p.Lambda).Choice()

	grads, curvs := t.partials(&t.grads), t.partials(&t.curvs)
	t.kept = make([]SubspaceMargins, len(blocks))
	for bi := range blocks {
		grads[bi], curvs[bi] = blocks[bi].SubspaceGradients(&margins[bi], ch.Coef)
		t.kept[bi] = margins[bi].Kept(ch.Coef, p.Memory)
	}
	grad, curv := t.featureSums(&t.grad, grads), t.featureSums(&t.curv, curvs)
	for j := range t.Rows {
		t.Rows[j] = SubspaceUpdateRow(t.Rows[j], p, lam(j), ch.Coef, grad[j], curv[j])
	}
	f := FromRowSums(pass, ch, p, false, t.rowFigures())
	f.Seconds = time.Since(start).Seconds()
	t.History = append(t.History, f)
	return f
}

// growSums returns sums with at least n entries, keeping the existing ones.
func growSums(sums []ExactSum, n int) []ExactSum {
	for len(sums) < n {
		sums = append(sums, ExactSum{})
	}
	return sums
}

// SubspaceUpdateRow moves a row by the subspace coefficients c (nil: it
// stays) and records the gradient and curvature there (gradData and
// curvData summed over blocks). The step joins the history S, at most
// p.Memory of them; D is the step taken; U stays, the direction at the
// previous point that GapEstimate reads. lam is the row's lambda (0 for
// the intercept).
func SubspaceUpdateRow(r Row, p TrainParams, lam float64, c []float64, gradData, curvData float64) Row {
	s := SubspaceStep(r, c)
	w := r.W
	if c != nil {
		w += s
	}
	out := Row{W: w, G: gradData + lam*w, H: curvData + lam, D: s, U: r.U}
	if out.H <= 0 {
		out.H = 1
	}
	if c != nil {
		keep := min(len(r.S), p.Memory-1)
		out.S = append(append(make([]float64, 0, keep+1), r.S[len(r.S)-keep:]...), s)
	} else {
		out.S = append([]float64(nil), r.S...)
	}
	return out
}
