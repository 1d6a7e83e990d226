package model

import (
	"errors"
	"fmt"
	"math"
)

// EvaluatorState is all an Evaluator holds, its pending scores folded
// into its bins: what a pipeline's combiner sends between workers and a
// pass keeps in its snapshot (transforms encodes it).
type EvaluatorState struct {
	Threshold   float64
	AUCBins     int
	Confusion   Confusion
	CellWeights [4]ExactSum // TP, FP, TN, FN
	Loss        ExactSum
	Weighted    bool
	Pos, Neg    int64
	WPos, WNeg  ExactSum
	// The histogram's bins, by increasing score: the least and greatest
	// score of each, its count and weight of each class.
	Lo, Hi  []float64
	BinPos  []int64
	BinNeg  []int64
	BinWPos []float64
	BinWNeg []float64
}

// State returns e's state, which shares no memory with e; it folds e's
// pending scores first.
func (e *Evaluator) State() EvaluatorState {
	h := e.hist
	h.fold()
	st := EvaluatorState{Threshold: e.threshold, AUCBins: h.maxBins, Confusion: e.c, Loss: e.loss.clone(),
		Weighted: h.weighted, Pos: h.pos, Neg: h.neg, WPos: h.wpos.clone(), WNeg: h.wneg.clone()}
	for i, w := range e.w {
		st.CellWeights[i] = w.clone()
	}
	for _, b := range h.bins {
		st.Lo, st.Hi = append(st.Lo, b.lo), append(st.Hi, b.hi)
		st.BinPos, st.BinNeg = append(st.BinPos, b.pos), append(st.BinNeg, b.neg)
		st.BinWPos, st.BinWNeg = append(st.BinWPos, b.wpos), append(st.BinWNeg, b.wneg)
	}
	return st
}

// EvaluatorFromState is the Evaluator whose State is st. A state that no
// Evaluator could have (bins out of order or of unequal lengths, more
// bins than its AUCBins, counts that do not add up) is an error.
func EvaluatorFromState(st EvaluatorState) (*Evaluator, error) {
	e, err := NewEvaluator(st.Threshold, st.AUCBins)
	if err != nil {
		return nil, err
	}
	n := len(st.Lo)
	if len(st.Hi) != n || len(st.BinPos) != n || len(st.BinNeg) != n || len(st.BinWPos) != n || len(st.BinWNeg) != n {
		return nil, errors.New("evaluator state: bin fields of unequal lengths")
	}
	if n > st.AUCBins {
		return nil, fmt.Errorf("evaluator state: %d bins, more than its %d", n, st.AUCBins)
	}
	for _, s := range append([]ExactSum{st.Loss, st.WPos, st.WNeg}, st.CellWeights[:]...) {
		// Add and Merge rely on Pending bounding the chunks' growth.
		if s.Pending < 0 || s.Pending > maxPending {
			return nil, fmt.Errorf("evaluator state: an exact sum of %d pending adds", s.Pending)
		}
	}
	c := st.Confusion
	if st.Pos < 0 || st.Neg < 0 || c.TP+c.FN != st.Pos || c.TN+c.FP != st.Neg {
		return nil, fmt.Errorf("evaluator state: %d positives and %d negatives, confusion %+v", st.Pos, st.Neg, c)
	}
	h := e.hist
	var pos, neg int64
	for i := range n {
		b := scoreBin{lo: st.Lo[i], hi: st.Hi[i], pos: st.BinPos[i], neg: st.BinNeg[i], wpos: st.BinWPos[i], wneg: st.BinWNeg[i]}
		if math.IsNaN(b.lo) || math.IsNaN(b.hi) || b.lo > b.hi || i > 0 && !(st.Hi[i-1] < b.lo) || b.pos < 0 || b.neg < 0 {
			return nil, fmt.Errorf("evaluator state: bin %d [%v, %v] out of order", i, b.lo, b.hi)
		}
		pos, neg = pos+b.pos, neg+b.neg
		h.bins = append(h.bins, b)
	}
	if pos != st.Pos || neg != st.Neg {
		return nil, fmt.Errorf("evaluator state: bins count %d and %d, not %d and %d", pos, neg, st.Pos, st.Neg)
	}
	e.c, e.w, e.loss = st.Confusion, st.CellWeights, st.Loss
	h.weighted, h.pos, h.neg, h.wpos, h.wneg = st.Weighted, st.Pos, st.Neg, st.WPos, st.WNeg
	return e, nil
}

func (s ExactSum) clone() ExactSum {
	s.Chunks = append([]int64(nil), s.Chunks...)
	return s
}
