package model

import (
	"cmp"
	"container/heap"
	"slices"
)

// ScoreHistogram counts labelled scores in at most a fixed number of
// disjoint score intervals (bins), so that ROC and precision-recall curves
// of any number of predictions come from bounded memory. The counts above
// each bin's least score are exact: every Cut is a point of the exact
// curve, and only between cuts is a curve drawn straight. That is exact
// where the scores between two cuts are equal (the diagonal a tie makes,
// counted 1/2 as AUC counts it) or of one class; elsewhere the straight
// segment's area differs from the exact curve's by at most half the
// product of its two sides.
type ScoreHistogram struct {
	maxBins  int
	bins     []scoreBin // disjoint, by increasing score
	spare    []scoreBin // fold's output, swapped with bins
	pending  []labelledScore
	pos, neg int64
	// weighted is set once a score weighs other than 1; the AUC is then
	// the weighted one, from the bins' weights.
	weighted   bool
	wpos, wneg ExactSum
}

type scoreBin struct {
	lo, hi     float64 // the least and greatest score in the bin
	pos, neg   int64
	wpos, wneg float64 // the weights of the bin's positives and negatives
}

type labelledScore struct {
	score    float64
	weight   float64
	positive bool
}

// histogramPending is the least number of scores Add buffers before it
// sorts them into the bins at once; it buffers as many as there are bins
// if more, so that a fold, whose cost grows with the bins, comes at most
// once per as many scores.
const histogramPending = 1 << 14

// NewScoreHistogram returns a histogram of at most maxBins bins (at least
// 2): 48 bytes each, plus a buffer of 24 bytes for each of up to
// max(maxBins, histogramPending) scores.
func NewScoreHistogram(maxBins int) *ScoreHistogram {
	if maxBins < 2 {
		panic("model: NewScoreHistogram needs at least 2 bins")
	}
	return &ScoreHistogram{maxBins: maxBins}
}

// Add counts one score of a sample of class 1 (positive) or 0. The score
// must not be NaN.
func (h *ScoreHistogram) Add(positive bool, score float64) { h.AddWeighted(positive, score, 1) }

// AddWeighted counts one score of a sample of weight w (> 0, finite): the
// AUC counts each pair of samples with the product of their weights.
func (h *ScoreHistogram) AddWeighted(positive bool, score, w float64) {
	if score != score {
		panic("model: ScoreHistogram.Add of NaN")
	}
	h.weighted = h.weighted || w != 1
	if positive {
		h.pos++
		h.wpos.Add(w)
	} else {
		h.neg++
		h.wneg.Add(w)
	}
	h.pending = append(h.pending, labelledScore{score, w, positive})
	if len(h.pending) >= max(histogramPending, h.maxBins) {
		h.fold()
	}
}

// Positives and Negatives count the samples added of each class.
func (h *ScoreHistogram) Positives() int64 { return h.pos }
func (h *ScoreHistogram) Negatives() int64 { return h.neg }

// fold sorts the pending scores into the bins: a score within a bin's
// range joins it, any other starts a bin of its own; then bins merge
// until at most maxBins remain.
func (h *ScoreHistogram) fold() {
	if len(h.pending) == 0 {
		return
	}
	slices.SortFunc(h.pending, func(a, b labelledScore) int { return cmp.Compare(a.score, b.score) })
	out := h.spare[:0]
	i := 0
	for _, s := range h.pending {
		for i < len(h.bins) && h.bins[i].hi < s.score {
			out = append(out, h.bins[i])
			i++
		}
		var b *scoreBin
		switch {
		case i < len(h.bins) && h.bins[i].lo <= s.score:
			b = &h.bins[i]
		case len(out) > 0 && out[len(out)-1].hi == s.score:
			// A bin started by an equal pending score: the old bins
			// already in out all end below s.
			b = &out[len(out)-1]
		default:
			out = append(out, scoreBin{lo: s.score, hi: s.score})
			b = &out[len(out)-1]
		}
		if s.positive {
			b.pos++
			b.wpos += s.weight
		} else {
			b.neg++
			b.wneg += s.weight
		}
	}
	out = append(out, h.bins[i:]...)
	h.spare, h.bins = h.bins, mergeBins(out, h.maxBins)
	h.pending = h.pending[:0]
}

// Merge adds o's scores to h, as if each had been added to h; o counts
// the same after. The two must have as many bins. Where a bin of one
// overlaps a bin of the other they become one bin, which AUC's bound
// counts; bins holding one score each, as both have while their distinct
// scores fit the bins, merge exactly. So a histogram of scores counted in
// parts and merged, as a Beam combiner counts them, is the one of all of
// them counted at once while the distinct scores fit its bins, and within
// AUC's bound otherwise.
func (h *ScoreHistogram) Merge(o *ScoreHistogram) {
	if h.maxBins != o.maxBins {
		panic("model: ScoreHistogram.Merge of histograms of different bins")
	}
	h.fold()
	o.fold()
	h.weighted = h.weighted || o.weighted
	h.pos, h.neg = h.pos+o.pos, h.neg+o.neg
	h.wpos.Merge(&o.wpos)
	h.wneg.Merge(&o.wneg)
	out := make([]scoreBin, 0, len(h.bins)+len(o.bins))
	a, b := h.bins, o.bins
	for len(a) > 0 || len(b) > 0 {
		var next scoreBin
		if len(b) == 0 || len(a) > 0 && a[0].lo <= b[0].lo {
			next, a = a[0], a[1:]
		} else {
			next, b = b[0], b[1:]
		}
		if n := len(out); n > 0 && next.lo <= out[n-1].hi {
			last := &out[n-1]
			last.hi = max(last.hi, next.hi)
			last.pos, last.neg = last.pos+next.pos, last.neg+next.neg
			last.wpos, last.wneg = last.wpos+next.wpos, last.wneg+next.wneg
			continue
		}
		out = append(out, next)
	}
	h.bins, h.spare = mergeBins(out, h.maxBins), nil
}

// Cut is the outcome of predicting class 1 for the scores at least
// Threshold: TP positives and FP negatives.
type Cut struct {
	Threshold float64
	TP, FP    int64
}

// Cuts returns at most max cuts (at least 1), by decreasing threshold,
// each at the least score of a bin; the last predicts every sample 1 (TP
// = Positives, FP = Negatives). With no more distinct scores than max and
// than the histogram's bins, there is a cut at every distinct score, and
// the trapezoid area under the ROC curve through them is exactly AUC,
// ties counting 1/2. Otherwise bins merge as mergeBins says.
func (h *ScoreHistogram) Cuts(max int) []Cut {
	if max < 1 {
		panic("model: ScoreHistogram.Cuts needs at least 1 cut")
	}
	h.fold()
	bins := mergeBins(slices.Clone(h.bins), max)
	cuts := make([]Cut, len(bins))
	var tp, fp int64
	for k := range bins {
		b := bins[len(bins)-1-k]
		tp, fp = tp+b.pos, fp+b.neg
		cuts[k] = Cut{Threshold: b.lo, TP: tp, FP: fp}
	}
	return cuts
}

// AUC is the area under the ROC curve through every bin's cut, as auc
// counts it (ties 1/2), and bound, the most by which it may differ from the
// exact AUC: a (positive, negative) pair within one bin is counted 1/2,
// which is exact where the bin holds a single score and off by at most
// 1/2 where it spans several. So bound is the sum over bins of more than
// one score of pos*neg/(2*P*N), 0 while no bins have merged. ok is false,
// and both 0, unless both classes occur. With weights (AddWeighted), a
// pair counts the product of its weights, and the sums are rounded.
func (h *ScoreHistogram) AUC() (auc, bound float64, ok bool) {
	h.fold()
	if h.pos == 0 || h.neg == 0 {
		return 0, 0, false
	}
	if h.weighted {
		var u2, within ExactSum
		negBelow := 0.0
		for _, b := range h.bins {
			u2.Add(b.wpos * (2*negBelow + b.wneg))
			negBelow += b.wneg
			if b.lo < b.hi {
				within.Add(b.wpos * b.wneg)
			}
		}
		pairs := 2 * h.wpos.Float64() * h.wneg.Float64()
		return u2.Float64() / pairs, within.Float64() / pairs, true
	}
	// Twice the pairs ordered right, and the pairs within mixed bins, in
	// integers: exact for any count.
	var u2, within, negBelow uint64
	for _, b := range h.bins {
		p, q := uint64(b.pos), uint64(b.neg)
		u2 += p * (2*negBelow + q)
		negBelow += q
		if b.lo < b.hi {
			within += p * q
		}
	}
	pairs := 2 * float64(h.pos) * float64(h.neg)
	return float64(u2) / pairs, float64(within) / pairs, true
}

// mergeBins merges adjacent bins, cheapest first, until at most target
// remain. Merging a and b costs a.pos*b.neg + a.neg*b.pos: the (positive,
// negative) pairs whose order the merged bin no longer tells, which bound
// the area a straight ROC segment may miss. So runs of one class merge
// first, at no cost; equal costs merge the pair of fewer samples first,
// then the lower one, so the result is deterministic.
func mergeBins(bins []scoreBin, target int) []scoreBin {
	n := len(bins)
	if n <= target {
		return bins
	}
	next, prev, version := make([]int, n), make([]int, n), make([]int, n)
	for i := range bins {
		next[i], prev[i] = i+1, i-1
	}
	next[n-1] = -1
	pairs := make(mergePairs, 0, n-1)
	candidate := func(i int) mergePair {
		j := next[i]
		a, b := bins[i], bins[j]
		return mergePair{
			cost: float64(a.pos)*float64(b.neg) + float64(a.neg)*float64(b.pos),
			size: a.pos + a.neg + b.pos + b.neg,
			i:    i, j: j, vi: version[i], vj: version[j],
		}
	}
	for i := range n - 1 {
		pairs = append(pairs, candidate(i))
	}
	heap.Init(&pairs)
	for left := n; left > target; {
		p := heap.Pop(&pairs).(mergePair)
		if next[p.i] != p.j || version[p.i] != p.vi || version[p.j] != p.vj {
			continue // stale: one of the two has merged since
		}
		a, b := &bins[p.i], bins[p.j]
		a.hi, a.pos, a.neg, a.wpos, a.wneg = b.hi, a.pos+b.pos, a.neg+b.neg, a.wpos+b.wpos, a.wneg+b.wneg
		version[p.i]++
		version[p.j] = -1
		next[p.i] = next[p.j]
		if next[p.i] >= 0 {
			prev[next[p.i]] = p.i
			heap.Push(&pairs, candidate(p.i))
		}
		if prev[p.i] >= 0 {
			heap.Push(&pairs, candidate(prev[p.i]))
		}
		left--
	}
	out := bins[:0]
	for i := 0; i >= 0; i = next[i] {
		out = append(out, bins[i])
	}
	return out
}

// mergePair is a candidate merge of bin i with the next, j, at the bins'
// versions vi and vj.
type mergePair struct {
	cost         float64
	size         int64
	i, j, vi, vj int
}

type mergePairs []mergePair

func (p mergePairs) Len() int { return len(p) }
func (p mergePairs) Less(a, b int) bool {
	x, y := p[a], p[b]
	if x.cost != y.cost {
		return x.cost < y.cost
	}
	if x.size != y.size {
		return x.size < y.size
	}
	return x.i < y.i
}
func (p mergePairs) Swap(a, b int) { p[a], p[b] = p[b], p[a] }
func (p *mergePairs) Push(x any)   { *p = append(*p, x.(mergePair)) }
func (p *mergePairs) Pop() any {
	old := *p
	x := old[len(old)-1]
	*p = old[:len(old)-1]
	return x
}
