package model

import (
	"fmt"
	"math"
)

// ClassEvaluator counts a multiclass model's predictions in memory
// bounded by K x K, whatever their number: the confusion matrix in rows
// and in weights, and the log-loss's exact sum.
type ClassEvaluator struct {
	k         int
	confusion []int64    // [true*k + predicted], rows
	weights   []ExactSum // the same, summed sample weights
	loss      ExactSum   // weight * -log max(p_y, LogLossFloor)
	weight    ExactSum
	n         int64
	weighted  bool // some sample weighs other than 1
}

// LogLossFloor is the least probability the log-loss counts, as
// scikit-learn's log_loss clips (eps 1e-15): a probability written as 0
// costs -log(1e-15) = 34.5, not infinity.
const LogLossFloor = 1e-15

// NewClassEvaluator starts counting predictions over k classes.
func NewClassEvaluator(k int) (*ClassEvaluator, error) {
	if k < 2 || k > MaxClasses {
		return nil, fmt.Errorf("model: %d classes: want 2 to %d", k, MaxClasses)
	}
	return &ClassEvaluator{k: k, confusion: make([]int64, k*k), weights: make([]ExactSum, k*k)}, nil
}

// Add counts a sample of class y, predicted as class pred, to which the
// model gave its class probability py, with weight w > 0.
func (e *ClassEvaluator) Add(y, pred int, py, w float64) error {
	if y < 0 || y >= e.k || pred < 0 || pred >= e.k {
		return fmt.Errorf("class %d or prediction %d is not one of the %d classes", y, pred, e.k)
	}
	if !(py >= 0 && py <= 1) || !(w > 0) || math.IsInf(w, 0) {
		return fmt.Errorf("probability %v or weight %v out of range", py, w)
	}
	e.confusion[y*e.k+pred]++
	e.weights[y*e.k+pred].Add(w)
	e.loss.Add(-w * math.Log(max(py, LogLossFloor)))
	e.weight.Add(w)
	e.n++
	e.weighted = e.weighted || w != 1
	return nil
}

// N is the number of samples counted.
func (e *ClassEvaluator) N() int64 { return e.n }

// MulticlassMetrics are a multiclass model's metrics, a class's
// ClassMetrics each (0 where undefined). Precision, recall, F1,
// accuracy and log-loss count each sample's weight; N, the supports and
// Confusion count samples. Weight is the summed weight when some sample
// weighs other than 1, else 0.
type MulticlassMetrics struct {
	N                           int64
	Weight                      float64
	Accuracy, LogLoss           float64
	Classes                     []ClassMetrics
	MacroPrecision, MacroRecall float64
	MacroF1                     float64
	MicroPrecision, MicroRecall float64
	MicroF1                     float64
	Confusion                   [][]int64 // [true][predicted]
	WeightedConfusion           [][]float64
}

// Metrics computes the metrics of what was counted.
func (e *ClassEvaluator) Metrics() MulticlassMetrics {
	k := e.k
	m := MulticlassMetrics{N: e.n, Classes: make([]ClassMetrics, k), Confusion: make([][]int64, k), WeightedConfusion: make([][]float64, k)}
	total := e.weight.Float64()
	if e.weighted {
		m.Weight = total
	}
	var right ExactSum
	rowSum, colSum := make([]ExactSum, k), make([]ExactSum, k)
	for t := range k {
		m.Confusion[t] = append([]int64(nil), e.confusion[t*k:(t+1)*k]...)
		m.WeightedConfusion[t] = make([]float64, k)
		for p := range k {
			w := e.weights[t*k+p].Float64()
			m.WeightedConfusion[t][p] = w
			rowSum[t].Add(w)
			colSum[p].Add(w)
			m.Classes[t].Support += e.confusion[t*k+p]
		}
		right.Add(m.WeightedConfusion[t][t])
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	for c := range k {
		s := &m.Classes[c]
		s.Precision = ratio(m.WeightedConfusion[c][c], colSum[c].Float64())
		s.Recall = ratio(m.WeightedConfusion[c][c], rowSum[c].Float64())
		s.F1 = ratio(2*s.Precision*s.Recall, s.Precision+s.Recall)
		m.MacroPrecision += s.Precision / float64(k)
		m.MacroRecall += s.Recall / float64(k)
		m.MacroF1 += s.F1 / float64(k)
	}
	m.Accuracy = ratio(right.Float64(), total)
	// With one label per sample every wrong prediction is one false
	// positive and one false negative: micro precision, recall and F1
	// are all the accuracy.
	m.MicroPrecision, m.MicroRecall, m.MicroF1 = m.Accuracy, m.Accuracy, m.Accuracy
	m.LogLoss = ratio(e.loss.Float64(), total)
	return m
}
