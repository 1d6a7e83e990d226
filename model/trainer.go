package model

import (
	"fmt"
	"time"
)

// Trainer is the in-memory reference trainer: the oracle every pipeline
// result is checked against and the speed limit benchmarks compare with.
// It runs the pipeline's arithmetic in the pipeline's order (per block, the
// same Block methods; per-feature sums exact, as the pipeline's are), so
// the two agree to rounding in the last place.
type Trainer struct {
	Data   *Dataset
	Params TrainParams
	// Rows has one row per Data.Names entry, or under multiclass K of
	// them side by side: feature j's class k is Rows[j*K+k].
	Rows []Row
	// History holds the figures of every pass so far; History[0] is the
	// starting point.
	History []Figures
	plan    Plan
	// zw and zd are each block's margins of W and D, kept from a pass's
	// line search for its gradient sweep.
	zw, zd [][]float64
	// kept is each block's margins that Subspace keeps between passes
	// (SubspaceMargins.Kept).
	kept []SubspaceMargins
	// grads and curvs hold each block's per-column partials of a pass,
	// grad and curv their sums per row; kept to be reused.
	grads, curvs [][]float64
	grad, curv   []float64
	eta          float64
	biasCol      int
	width        int // weights per feature: Width(Data.Classes)
}

// NewTrainer prepares training from the given start weights (nil: all 0;
// multiclass always starts at 0).
func NewTrainer(d *Dataset, p TrainParams, start map[string]float64) (*Trainer, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Multiclass != (d.Classes >= 2) {
		return nil, fmt.Errorf("model: the data has %d classes, and multiclass is %v", d.Classes, p.Multiclass)
	}
	if p.Multiclass && start != nil {
		return nil, fmt.Errorf("model: a multiclass model starts from zero weights")
	}
	K := Width(d.Classes)
	t := &Trainer{Data: d, Params: p, Rows: make([]Row, K*len(d.Names)), plan: FirstPlan(), biasCol: -1, width: K}
	// H starts at 0: pass 0 measures it before any direction needs it.
	for j, name := range d.Names {
		if p.Bias && name == BiasName {
			t.biasCol = j
		}
		if K == 1 {
			t.Rows[j].W = start[name]
		}
	}
	t.eta = p.Eta(d.SumSq)
	return t, nil
}

// Train runs passes until a stop rule fires and returns its reason.
// rec, if not nil, sees each pass's figures.
func (t *Trainer) Train(rec Recorder) Stop {
	for {
		f := t.Pass()
		if rec != nil {
			rec.Record(f)
		}
		if reason := StopReason(t.Params, t.History); reason != "" {
			return reason
		}
	}
}

// Pass runs one pass: line search along D, gradient at the chosen point,
// row updates and the next direction.
func (t *Trainer) Pass() Figures {
	method := t.Params.Method()
	needs := method.Needs()
	if needs.Subspace {
		return t.subspacePass()
	}
	start := time.Now()
	p, pl := t.Params, t.plan
	var w, d, cw, cd, resid []float64
	lossSums := make([]ExactSum, len(pl.Steps))
	losses := make([]float64, len(pl.Steps))
	K := t.width
	if len(t.zw) != len(t.Data.Blocks) {
		t.zw, t.zd = make([][]float64, len(t.Data.Blocks)), make([][]float64, len(t.Data.Blocks))
	}
	for bi := range t.Data.Blocks {
		b := &t.Data.Blocks[bi]
		w, d = t.gather(w, d, b)
		t.zw[bi], t.zd[bi] = grow(t.zw[bi], K*b.NumRows()), grow(t.zd[bi], K*b.NumRows())
		zw, zd := t.zw[bi], t.zd[bi]
		b.Margins(w, d, zw, zd)
		for i := range losses {
			losses[i] = 0
		}
		b.AddLineLosses(losses, zw, zd, w, d, pl.Steps, p.L1 > 0, b.localCol(t.biasCol))
		for i, l := range losses {
			lossSums[i].Add(l)
		}
	}
	for i := range losses {
		losses[i] = lossSums[i].Float64()
	}
	choice := pl.Select(p.Lambda, losses)

	// Each block's gradient (and curvature) per column, summed per
	// feature after the sweep.
	grads, curvs := t.partials(&t.grads), [][]float64(nil)
	if needs.Curvature {
		curvs = t.partials(&t.curvs)
	}
	var avgW []PartialSum
	var avgN []int64
	if needs.LocalSGD {
		avgW, avgN = make([]PartialSum, len(t.Rows)), make([]int64, len(t.Rows))
	}
	for bi := range t.Data.Blocks {
		b := &t.Data.Blocks[bi]
		if p.L1 > 0 || avgW != nil {
			w, d = t.gather(w, d, b)
		}
		resid = grow(resid, K*b.NumRows())
		xw, xd := t.zw[bi], t.zd[bi] // the margins of the line search's sweep
		if p.L1 > 0 {
			cw, cd = grow(cw, K*b.NumRows()), grow(cd, K*b.NumRows())
			xw, xd = b.ClipMargins(cw, cd, xw, xd, w, d, choice.Alpha, b.localCol(t.biasCol))
		}
		grads[bi] = grow(grads[bi], K*b.NumCols())
		b.Gradient(grads[bi], resid, xw, xd, choice.Alpha)
		if curvs != nil {
			curvs[bi] = grow(curvs[bi], K*b.NumCols())
			b.Curvature(curvs[bi], resid, xw, xd, choice.Alpha)
		}
		if avgW != nil {
			local := make([]float64, len(b.Cols))
			for c := range local {
				local[c] = TrialWeight(w[c], d[c], choice.Alpha)
			}
			b.LocalSGD(local, t.eta, p.Lambda/float64(t.Data.Samples), b.localCol(t.biasCol))
			for c, j := range b.Cols {
				avgW[j].Add(local[c])
				avgN[j]++
			}
		}
	}

	grad := t.featureSums(&t.grad, grads)
	var curv []float64
	if curvs != nil {
		curv = t.featureSums(&t.curv, curvs)
	}
	for i := range t.Rows {
		j := i / K
		m := Measured{Params: p, Lambda: p.Lambda, L1: t.rowL1(j), IsBias: j == t.biasCol, Choice: choice, Grad: grad[i], Eta: t.eta}
		if m.IsBias {
			m.Lambda = 0
		}
		if curv != nil {
			m.Curv = curv[i]
		}
		if avgW != nil {
			m.LocalSum, m.Blocks = avgW[i].Float64(), avgN[i]
		}
		t.Rows[i] = method.Move(t.Rows[i], m)
	}
	steepest := false
	if needs.Direction {
		gram := t.gram()
		coef, st := gram.Direction()
		steepest = st
		for i := range t.Rows {
			t.Rows[i] = ApplyDirection(t.Rows[i], coef, t.rowL1(i/K))
		}
	}
	f := FromRowSums(pl.Pass, choice, p, steepest, t.rowFigures())
	f.Seconds = time.Since(start).Seconds()
	t.History = append(t.History, f)
	t.plan = NextPlan(p, f)
	return f
}

// partials returns *keep with one (reused) slice per block.
func (t *Trainer) partials(keep *[][]float64) [][]float64 {
	if len(*keep) != len(t.Data.Blocks) {
		*keep = make([][]float64, len(t.Data.Blocks))
	}
	return *keep
}

// featureSums sums the blocks' per-column partials per row into *keep,
// reused.
func (t *Trainer) featureSums(keep *[]float64, partials [][]float64) []float64 {
	*keep = grow(*keep, len(t.Rows))
	sumByFeature(*keep, t.width, t.Data.Blocks, partials)
	return *keep
}

// rowFigures sums every row's RowFigures.
func (t *Trainer) rowFigures() []float64 {
	sums := make([]ExactSum, RowFiguresLen(t.Params))
	var fig []float64
	for i := range t.Rows {
		fig = RowFigures(fig, t.Rows[i], t.Params, i/t.width == t.biasCol)
		for i, v := range fig {
			if v != 0 {
				sums[i].Add(v)
			}
		}
	}
	return roundSums(sums)
}

// rowL1 is row j's L1 strength.
func (t *Trainer) rowL1(j int) float64 {
	return RowStrength(t.Params.L1, t.Params.Bias, t.Data.Names[j])
}

// gram sums the L-BFGS basis products over all rows.
func (t *Trainer) gram() Gram {
	k := len(t.Rows[0].S)
	sums := make([]ExactSum, GramLen(k))
	var basis []float64
	for i, r := range t.Rows {
		if len(r.S) != k {
			panic(fmt.Sprintf("model: rows disagree on history length: %d and %d", len(r.S), k))
		}
		basis = RowBasis(basis, r, t.rowL1(i/t.width))
		AddRowProducts(basis, func(i int, v float64) { sums[i].Add(v) })
	}
	return Gram{K: k, Dot: roundSums(sums)}
}

func roundSums(sums []ExactSum) []float64 {
	out := make([]float64, len(sums))
	for i := range sums {
		out[i] = sums[i].Float64()
	}
	return out
}

// gather collects the block's columns' W and D (K per column under
// multiclass).
func (t *Trainer) gather(w, d []float64, b *DataBlock) ([]float64, []float64) {
	K := t.width
	w, d = grow(w, K*len(b.Cols)), grow(d, K*len(b.Cols))
	for c, j := range b.Cols {
		for k := range K {
			r := &t.Rows[int(j)*K+k]
			w[c*K+k], d[c*K+k] = r.W, r.D
		}
	}
	return w, d
}

// localCol returns the column of global feature j in the block, or -1.
func (b *DataBlock) localCol(j int) int {
	if j < 0 {
		return -1
	}
	for c, f := range b.Cols {
		if int(f) == j {
			return c
		}
	}
	return -1
}

// Weights returns the trained weights by feature name (of two classes).
func (t *Trainer) Weights() map[string]float64 {
	if t.width != 1 {
		panic("model: Weights of a multiclass model; use WeightsByClass")
	}
	m := make(map[string]float64, len(t.Rows))
	for j, r := range t.Rows {
		m[t.Data.Names[j]] = r.W
	}
	return m
}

// WeightsByClass returns each feature's weights, one per class (one for two
// classes).
func (t *Trainer) WeightsByClass() map[string][]float64 {
	K := t.width
	m := make(map[string][]float64, len(t.Data.Names))
	for j, name := range t.Data.Names {
		w := make([]float64, K)
		for k := range w {
			w[k] = t.Rows[j*K+k].W
		}
		m[name] = w
	}
	return m
}

// TrialWeight is the weight at W + alpha*D, computed as UpdateRow does.
func TrialWeight(w, d, alpha float64) float64 {
	if alpha == 0 {
		return w
	}
	return w + alpha*d
}

// AveragingStep is averaging's proposed step: from w to the mean of the
// blocks' local results (sum over n blocks). A feature in no block stays.
func AveragingStep(w, sum float64, n int64) float64 {
	if n == 0 {
		return 0
	}
	return sum/float64(n) - w
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
