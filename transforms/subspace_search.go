package transforms

import (
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.Combiner3[figuresAcc, RowPack, model.SubspaceState](&subspaceFiguresFn{})
	register.DoFn3x1[SufficientBlock, func(MarginBlock), func(SearchedBlock), error](&blockMarginsFn{})
	register.Emitter1[MarginBlock]()
	register.Emitter1[SearchedBlock]()
	register.DoFn3x1[MarginBlock, model.SubspaceState, func([]float64), error](&blockTermsFn{})
	register.Function2x1[[]float64, model.SubspaceState, model.SubspaceState](addRound)
	register.DoFn2x0[model.SubspaceState, func(model.Choice)](&subspaceChoiceFn{})
	register.Emitter1[model.SubspaceState]()
}

// SearchParams configure SubspaceSearch.
type SearchParams struct {
	Lambda float64
	Bias   bool // the intercept's row is not regularized
	// Basis is false in pass 0, which evaluates the starting point: the
	// rows have no measured gradient yet, so the search is over no basis
	// vectors and only measures the loss.
	Basis bool
}

// SubspaceSearch is subspace's line search: it minimizes J over the
// affine subspace W + span(basis) of model.Subspace in a few damped Newton
// steps, each a stage over the blocks. One combine over the rows gives the
// subspace figures; each block has its margins along W and the basis
// (what the rounds and the gradient stage need of its rows): it kept those
// at W and along the past steps from the pass before, and computes those
// along -G/H and U. These need no side input, so no block waits, postings
// and all, for the figures. Then each round's blocks compute their terms
// of J restricted to the subspace at the round's trial points
// (model.SubspaceSearch.BlockTerms), exactly summed into the search
// state, which the next round's blocks take as a side input and replay.
// Only a few dozen scalars per block travel; the rows do not move, and
// the rounds read labels and margins only.
// Expects rows PCollection<KV<int32, RowPack>> and PCollection<
// SufficientBlock> from Distribute: in pass 0 with weights (WeightsAndSteps),
// after it with SearchRows and the margins the blocks kept.
func SubspaceSearch(s beam.Scope, rows, blocks beam.PCollection, p SearchParams) Searched {
	s = s.Scope("dpmr.SubspaceSearch")
	state := beam.Combine(s, &subspaceFiguresFn{Bias: p.Bias, Basis: p.Basis}, beam.DropKey(s, rows))
	margins, searched := beam.ParDo2(s, &blockMarginsFn{Basis: p.Basis}, blocks)
	for r := 0; r < model.SubspaceSearchRounds; r++ {
		rs := s.Scope(fmt.Sprintf("round%d", r))
		terms := beam.ParDo(rs, &blockTermsFn{Lambda: p.Lambda}, margins, beam.SideInput{Input: state})
		state = beam.ParDo(rs, addRound, SumVectors(rs, terms, 0), beam.SideInput{Input: state})
	}
	return Searched{Choice: beam.ParDo(s, &subspaceChoiceFn{Lambda: p.Lambda}, state), Blocks: searched}
}

// Searched is SubspaceSearch's result: the singleton PCollection<
// model.Choice> whose Coef the row updates apply, and the blocks with
// what the gradient stage needs of them besides their postings,
// PCollection<SearchedBlock> (pipeline.IndexTrip.SubspaceGradients).
type Searched struct {
	Choice, Blocks beam.PCollection
}

// blockMarginsFn computes a block's margins along W and the basis, and
// sends them on with the labels alone to the search rounds and with its
// columns' row ids to the gradient stage. Pass 0 (no Basis) has no basis and
// starts from W; after it, the rounds check that the block kept margins
// along as many steps as the rows hold (the subspace figures' K).
type blockMarginsFn struct{ Basis bool }

func (f *blockMarginsFn) ProcessElement(b SufficientBlock, search func(MarginBlock), grad func(SearchedBlock)) error {
	var m model.SubspaceMargins
	if !f.Basis {
		m = b.Matrix().StartMargins(b.W)
	} else {
		if len(b.Kept.ZW) != len(b.Labels) {
			return fmt.Errorf("dpmr: block %d kept no margins from the pass before (snapshot out of step)", b.Block)
		}
		neg, u := model.SearchColumns(b.ParamRows)
		m = b.Matrix().SearchMargins(b.Kept, neg, u)
	}
	search(MarginBlock{Block: b.Block, Labels: b.Labels, Weights: b.Weights, Margins: m})
	grad(SearchedBlock{Block: b.Block, IDs: b.IDs, Margins: m})
	return nil
}

// figuresAcc sums model.AddSubspaceRow over the rows exactly. K is the
// number of basis vectors, learnt from the first row (all rows agree).
type figuresAcc struct {
	K    int
	Sums []model.ExactSum
}

type subspaceFiguresFn struct {
	Bias, Basis bool
}

func (f *subspaceFiguresFn) AddInput(a figuresAcc, pack RowPack) (figuresAcc, error) {
	var basis []float64
	for i, r := range pack.Rows {
		k := 0
		if f.Basis {
			k = 2 + len(r.S)
		}
		if a.Sums == nil {
			a.K, a.Sums = k, make([]model.ExactSum, model.NumSubspaceFigures(k))
		}
		if k != a.K {
			return a, fmt.Errorf("dpmr: parameter rows disagree on subspace history length: %d and %d", k-2, a.K-2)
		}
		if f.Bias && pack.Names[i] == model.BiasName {
			continue
		}
		if k > 0 {
			basis = model.SubspaceBasis(basis, r)
		}
		model.AddSubspaceRow(basis[:k], r.W, func(i int, v float64) { a.Sums[i].Add(v) })
	}
	return a, nil
}

func (f *subspaceFiguresFn) MergeAccumulators(a, b figuresAcc) (figuresAcc, error) {
	if a.Sums == nil {
		return b, nil
	}
	if b.Sums == nil {
		return a, nil
	}
	if a.K != b.K {
		return a, fmt.Errorf("dpmr: parameter rows disagree on subspace history length: %d and %d", a.K-2, b.K-2)
	}
	for i := range a.Sums {
		a.Sums[i].Merge(&b.Sums[i])
	}
	return a, nil
}

func (f *subspaceFiguresFn) ExtractOutput(a figuresAcc) model.SubspaceState {
	sums := make([]float64, len(a.Sums))
	for i := range a.Sums {
		sums[i] = a.Sums[i].Float64()
	}
	if a.Sums == nil {
		sums = make([]float64, model.NumSubspaceFigures(0))
	}
	return model.SubspaceState{Fig: model.NewSubspaceFigures(a.K, sums)}
}

// blockTermsFn emits a block's terms at the current round's trial points,
// or an empty vector once the search is over (so that every round's sum
// exists).
type blockTermsFn struct {
	Lambda float64
}

func (f *blockTermsFn) ProcessElement(b MarginBlock, st model.SubspaceState, emit func([]float64)) error {
	if len(b.Margins.Z) != st.Fig.K {
		return fmt.Errorf("dpmr: block %d kept margins along %d steps, the rows have %d (snapshot out of step)", b.Block, len(b.Margins.Z)-2, st.Fig.K-2)
	}
	search := st.Replay(f.Lambda)
	if search.Trials() == nil {
		emit([]float64{})
		return nil
	}
	emit(search.BlockTerms(&model.Block{Labels: b.Labels, Weights: b.Weights}, &b.Margins))
	return nil
}

func addRound(sums []float64, st model.SubspaceState) model.SubspaceState { return st.Add(sums) }

type subspaceChoiceFn struct {
	Lambda float64
}

func (f *subspaceChoiceFn) ProcessElement(st model.SubspaceState, emit func(model.Choice)) {
	emit(st.Replay(f.Lambda).Choice())
}
