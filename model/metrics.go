package model

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Confusion counts predictions at a threshold, class 1 being the positive
// class.
type Confusion struct{ TP, FP, TN, FN int64 }

// ClassMetrics are precision, recall and F1 of one class taken as the
// positive one. A ratio with a zero denominator is 0 (a class never
// predicted has precision 0, a class never seen has recall 0), the
// convention of scikit-learn's zero_division=0, so no field is ever NaN.
type ClassMetrics struct {
	Precision, Recall, F1 float64
	Support               int64 // samples labelled with this class
}

// Metrics evaluate a binary classifier on labelled samples.
type Metrics struct {
	N         int64
	Threshold float64 // a sample is predicted 1 when its probability is >= Threshold
	Accuracy  float64
	LogLoss   float64 // mean negative log-likelihood per sample
	// Weight is the samples' summed weight when some weighs other than 1
	// (Evaluator.AddWeighted), and 0 otherwise. Every metric is then
	// weighted: accuracy, log-loss, precision, recall and F1 count each
	// sample's weight, the AUC each pair's product of weights. N, the
	// supports and the confusion matrix still count samples.
	Weight float64 `json:",omitempty"`

	// AUC is the probability that a random positive sample scores above a
	// random negative one, ties counting 1/2. It is undefined when only one
	// class occurs; AUCDefined is then false and AUC is 0, a value no one
	// mistakes for a result, where NaN would poison sums and JSON.
	AUC        float64
	AUCDefined bool
	// AUCBound bounds |AUC - exact AUC|: 0 when AUC is exact, as Evaluate
	// and EvaluateMargins always compute it; an Evaluator's may be more
	// (see Evaluator).
	AUCBound float64

	Positive, Negative ClassMetrics // class 1 and class 0

	// Unweighted averages over the two classes, as the DPMR paper reports
	// beside the per-class figures.
	MacroPrecision, MacroRecall, MacroF1 float64

	Confusion Confusion
}

// ProbEpsilon is the least probability Evaluate grants the true class: a
// sample's log-loss is capped at -ln(ProbEpsilon), about 34.54, so that one
// confident mistake does not make the mean infinite. EvaluateMargins needs
// no cap.
const ProbEpsilon = 1e-15

var maxLoss = -math.Log(ProbEpsilon)

// Evaluate computes the metrics for labels in {0, 1} and probs, the
// predicted probabilities of class 1, predicting 1 when p >= threshold.
// Probabilities near 0 or 1 lose the precision a log-loss needs; prefer
// EvaluateMargins when the margins are at hand.
func Evaluate(labels, probs []float64, threshold float64) (Metrics, error) {
	if err := checkInputs(labels, probs, threshold, "probabilities"); err != nil {
		return Metrics{}, err
	}
	var c Confusion
	var loss float64
	for i, p := range probs {
		if !(0 <= p && p <= 1) {
			return Metrics{}, fmt.Errorf("probability %v at index %d is not in [0, 1]", p, i)
		}
		c.add(labels[i], p >= threshold)
		l := -math.Log1p(-p) // -ln(1-p) without cancellation for small p
		if labels[i] == 1 {
			l = -math.Log(p)
		}
		loss += min(l, maxLoss)
	}
	m := summarize(int64(len(labels)), threshold, c, c.tally(), loss)
	m.AUC, m.AUCDefined = auc(labels, probs)
	return m, nil
}

// EvaluateMargins computes the metrics from margins z = w·x, the model's
// log-odds. It agrees with Evaluate(labels, Sigmoid(z), threshold) but for
// two gains in exactness: the log-loss is Loss(z, y), with no clipping
// (summed exactly, so the order of the samples does not matter), and
// AUC ranks the margins themselves, which stay distinct where their
// probabilities round to the same float64 (all z above about 37 give 1).
func EvaluateMargins(labels, margins []float64, threshold float64) (Metrics, error) {
	if err := checkInputs(labels, margins, threshold, "margins"); err != nil {
		return Metrics{}, err
	}
	var c Confusion
	var loss ExactSum
	for i, z := range margins {
		if math.IsNaN(z) || math.IsInf(z, 0) {
			return Metrics{}, fmt.Errorf("margin %v at index %d is not finite", z, i)
		}
		c.add(labels[i], Sigmoid(z) >= threshold)
		loss.Add(Loss(z, labels[i]))
	}
	m := summarize(int64(len(labels)), threshold, c, c.tally(), loss.Float64())
	m.AUC, m.AUCDefined = auc(labels, margins)
	return m, nil
}

func checkInputs(labels, scores []float64, threshold float64, what string) error {
	if len(labels) != len(scores) {
		return fmt.Errorf("%d labels but %d %s", len(labels), len(scores), what)
	}
	if len(labels) == 0 {
		return errors.New("no samples to evaluate")
	}
	if math.IsNaN(threshold) {
		return errors.New("threshold is NaN")
	}
	for i, y := range labels {
		if y != 0 && y != 1 {
			return fmt.Errorf("label %v at index %d is not 0 or 1", y, i)
		}
	}
	return nil
}

// Confusion cells, as add returns them.
const (
	cellTP = iota
	cellFP
	cellTN
	cellFN
)

// add counts a sample and returns its cell.
func (c *Confusion) add(label float64, predicted bool) int {
	switch {
	case label == 1 && predicted:
		c.TP++
		return cellTP
	case label == 1:
		c.FN++
		return cellFN
	case predicted:
		c.FP++
		return cellFP
	default:
		c.TN++
		return cellTN
	}
}

// tally is a confusion matrix's cells as weights: its counts, or the
// samples' summed weights (Evaluator.AddWeighted).
type tally struct{ tp, fp, tn, fn float64 }

func (c Confusion) tally() tally {
	return tally{float64(c.TP), float64(c.FP), float64(c.TN), float64(c.FN)}
}

// summarize derives every metric but the AUC from the confusion counts of
// n samples, the cells' weights t (their counts when unweighted) and the
// samples' summed (weighted) log-loss.
func summarize(n int64, threshold float64, c Confusion, t tally, loss float64) Metrics {
	total := t.tp + t.tn + t.fp + t.fn
	m := Metrics{
		N:         n,
		Threshold: threshold,
		Accuracy:  (t.tp + t.tn) / total,
		LogLoss:   loss / total,
		Positive:  classMetrics(t.tp, t.fp, t.fn, c.TP+c.FN),
		Negative:  classMetrics(t.tn, t.fn, t.fp, c.TN+c.FP),
		Confusion: c,
	}
	if total != float64(n) {
		m.Weight = total
	}
	m.MacroPrecision = (m.Positive.Precision + m.Negative.Precision) / 2
	m.MacroRecall = (m.Positive.Recall + m.Negative.Recall) / 2
	m.MacroF1 = (m.Positive.F1 + m.Negative.F1) / 2
	return m
}

// classMetrics takes the cells' weights with the class as the positive
// one, and its count of samples.
func classMetrics(tp, fp, fn float64, support int64) ClassMetrics {
	m := ClassMetrics{
		Precision: ratio(tp, tp+fp),
		Recall:    ratio(tp, tp+fn),
		Support:   support,
	}
	if m.Precision+m.Recall > 0 {
		m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
	}
	return m
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// auc is the Mann-Whitney U statistic over P*N, equal to the rank-sum
// formula with average ranks for ties. It counts in integers, twice U so
// that ties' halves stay whole, which keeps it exact for any size that fits
// in memory.
func auc(labels, scores []float64) (float64, bool) {
	type scored struct {
		score    float64
		positive bool
	}
	s := make([]scored, len(labels))
	for i, y := range labels {
		s[i] = scored{scores[i], y == 1}
	}
	slices.SortFunc(s, func(a, b scored) int { return cmp.Compare(a.score, b.score) })

	var u2, negBelow, pos, neg uint64
	for i := 0; i < len(s); {
		// One group of equal scores: each positive in it beats every
		// negative below and ties with the negatives beside it.
		var p, q uint64
		j := i
		for ; j < len(s) && s[j].score == s[i].score; j++ {
			if s[j].positive {
				p++
			} else {
				q++
			}
		}
		u2 += p * (2*negBelow + q)
		negBelow += q
		pos += p
		neg += q
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0, false
	}
	return float64(u2) / (2 * float64(pos) * float64(neg)), true
}

// Evaluator computes the Metrics of labelled margins given one at a time,
// in memory bounded whatever their number, for evaluations too large to
// hold (EvaluateMargins keeps every sample). Every metric but the AUC is
// what EvaluateMargins computes from the same margins in the same order,
// bit for bit. The AUC comes from a ScoreHistogram of the margins: exact
// while the distinct margins fit in its bins, and otherwise within
// Metrics.AUCBound of the exact value (see ScoreHistogram.AUC). Every
// metric is the same whatever the order of the samples.
type Evaluator struct {
	threshold float64
	c         Confusion
	w         [4]ExactSum // the weights of each cell (cellTP, ...)
	loss      ExactSum    // in any order the same, as a test set's scores arrive
	hist      *ScoreHistogram
}

// EvalAUCBins are the AUC bins of dpmr's own evaluations (dpmr eval, a
// training run's test set): 3 MiB of bins, about 11 MiB held with the
// fold's buffer and the pending scores (a heap profile of a training
// run's driver showed 11-17 MB in use), for an AUCBound near 1e-5 where
// the classes' margins overlap, and 0 up to this many distinct margins.
const EvalAUCBins = 1 << 16

// NewEvaluator returns an Evaluator predicting 1 when a sample's
// probability is >= threshold, counting the margins in at most aucBins bins
// (at least 2) of 48 bytes each; AUCBound is then about 1/(2*aucBins) or
// less when the classes overlap evenly.
func NewEvaluator(threshold float64, aucBins int) (*Evaluator, error) {
	if math.IsNaN(threshold) {
		return nil, errors.New("threshold is NaN")
	}
	if aucBins < 2 {
		return nil, fmt.Errorf("an Evaluator needs at least 2 AUC bins, got %d", aucBins)
	}
	return &Evaluator{threshold: threshold, hist: NewScoreHistogram(aucBins)}, nil
}

// Add counts one sample of label 0 or 1 and margin z = w·x, finite.
func (e *Evaluator) Add(label, z float64) error { return e.AddWeighted(label, z, 1) }

// AddWeighted counts one sample of weight w (a finite number > 0) as Add
// does: the metrics are then the weighted ones, each sample counting w
// times in every cell, sum and pair (Metrics.Weight).
func (e *Evaluator) AddWeighted(label, z, w float64) error {
	if label != 0 && label != 1 {
		return fmt.Errorf("label %v is not 0 or 1", label)
	}
	if math.IsNaN(z) || math.IsInf(z, 0) {
		return fmt.Errorf("margin %v is not finite", z)
	}
	if !(w > 0) || math.IsInf(w, 0) {
		return fmt.Errorf("sample weight %v is not a finite number > 0", w)
	}
	e.w[e.c.add(label, Sigmoid(z) >= e.threshold)].Add(w)
	e.loss.Add(w * Loss(z, label))
	e.hist.AddWeighted(label == 1, z, w)
	return nil
}

// Merge adds the samples o counted to e, as if each had been added to e;
// o counts the same after. Both must have the same threshold and AUC bins.
// Every metric is then the one of all the samples added at once, the AUC
// as ScoreHistogram.Merge says.
func (e *Evaluator) Merge(o *Evaluator) error {
	if e.threshold != o.threshold || e.hist.maxBins != o.hist.maxBins {
		return fmt.Errorf("cannot merge an Evaluator of threshold %v and %d AUC bins into one of %v and %d",
			o.threshold, o.hist.maxBins, e.threshold, e.hist.maxBins)
	}
	e.c.TP, e.c.FP, e.c.TN, e.c.FN = e.c.TP+o.c.TP, e.c.FP+o.c.FP, e.c.TN+o.c.TN, e.c.FN+o.c.FN
	for i := range e.w {
		e.w[i].Merge(&o.w[i])
	}
	e.loss.Merge(&o.loss)
	e.hist.Merge(o.hist)
	return nil
}

// N is the number of samples added.
func (e *Evaluator) N() int64 { return e.hist.Positives() + e.hist.Negatives() }

// Metrics are the metrics of the samples added so far; more may be added
// after.
func (e *Evaluator) Metrics() (Metrics, error) {
	n := e.N()
	if n == 0 {
		return Metrics{}, errors.New("no samples to evaluate")
	}
	t := tally{e.w[cellTP].Float64(), e.w[cellFP].Float64(), e.w[cellTN].Float64(), e.w[cellFN].Float64()}
	m := summarize(n, e.threshold, e.c, t, e.loss.Float64())
	m.AUC, m.AUCBound, m.AUCDefined = e.hist.AUC()
	return m, nil
}
