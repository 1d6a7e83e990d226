package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// curveTol absorbs the rounding of summing areas in float64.
const curveTol = 1e-12

// rocArea is the trapezoid area under the ROC curve through (0, 0) and
// the cuts, and the most it may differ from the exact curve's: half the
// box each segment spans.
func rocArea(cuts []Cut, pos, neg int64) (area, bound float64) {
	x0, y0 := 0.0, 0.0
	for _, c := range cuts {
		x, y := float64(c.FP)/float64(neg), float64(c.TP)/float64(pos)
		area += (x - x0) * (y + y0) / 2
		bound += (x - x0) * (y - y0) / 2
		x0, y0 = x, y
	}
	return area, bound
}

// checkCuts requires cuts by strictly decreasing threshold, each with the
// counts of the scores at least its threshold, counted here directly,
// the last one predicting every sample 1.
func checkCuts(t *testing.T, cuts []Cut, labels, scores []float64) {
	t.Helper()
	var pos, neg int64
	for _, y := range labels {
		if y == 1 {
			pos++
		} else {
			neg++
		}
	}
	if len(cuts) == 0 {
		t.Fatal("no cuts")
	}
	for k, c := range cuts {
		if k > 0 && !(c.Threshold < cuts[k-1].Threshold) {
			t.Fatalf("cut %d threshold %v after %v", k, c.Threshold, cuts[k-1].Threshold)
		}
		var tp, fp int64
		for i, s := range scores {
			if s >= c.Threshold {
				if labels[i] == 1 {
					tp++
				} else {
					fp++
				}
			}
		}
		if c.TP != tp || c.FP != fp {
			t.Fatalf("cut %d at %v: TP %d FP %d, counted %d and %d", k, c.Threshold, c.TP, c.FP, tp, fp)
		}
	}
	if last := cuts[len(cuts)-1]; last.TP != pos || last.FP != neg {
		t.Fatalf("last cut TP %d FP %d, want all %d and %d", last.TP, last.FP, pos, neg)
	}
}

func histogramOf(maxBins int, labels, scores []float64) *ScoreHistogram {
	h := NewScoreHistogram(maxBins)
	for i, s := range scores {
		h.Add(labels[i] == 1, s)
	}
	return h
}

// TestScoreHistogramHandCase: scores .9 (1), .8 (0), .8 (1), .3 (0).
// Cuts: at .9 TP 1 FP 0; at .8 TP 2 FP 1; at .3 TP 2 FP 2. ROC area:
// (0,0)-(0,1/2): 0; (0,1/2)-(1/2,1), the tie's diagonal: 1/2 * 3/4 = 3/8;
// (1/2,1)-(1,1): 1/2. Total 7/8: .9 beats both negatives, .8 beats .3
// and ties .8, (1 + 1 + 1 + 1/2)/4.
func TestScoreHistogramHandCase(t *testing.T) {
	labels, scores := []float64{1, 0, 1, 0}, []float64{.9, .8, .8, .3}
	cuts := histogramOf(4, labels, scores).Cuts(10)
	want := []Cut{{.9, 1, 0}, {.8, 2, 1}, {.3, 2, 2}}
	if !slices.Equal(cuts, want) {
		t.Fatalf("cuts %v, want %v", cuts, want)
	}
	if area, _ := rocArea(cuts, 2, 2); math.Abs(area-7.0/8) > curveTol {
		t.Errorf("area %v, want 7/8", area)
	}
}

// TestScoreHistogramExactOnDistinctScores: with fewer distinct scores
// than cuts, there is a cut at each and the area is the exact AUC, ties
// included, over enough samples for several folds of the buffer.
func TestScoreHistogramExactOnDistinctScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 3*histogramPending + 77
	labels, scores := make([]float64, n), make([]float64, n)
	distinct := map[float64]bool{}
	for i := range n {
		scores[i] = float64(rng.IntN(41)) / 40
		if rng.Float64() < scores[i] {
			labels[i] = 1
		}
		distinct[scores[i]] = true
	}
	h := histogramOf(64, labels, scores)
	cuts := h.Cuts(100)
	if len(cuts) != len(distinct) {
		t.Fatalf("%d cuts for %d distinct scores", len(cuts), len(distinct))
	}
	checkCuts(t, cuts, labels, scores)
	want, ok := auc(labels, scores)
	if !ok {
		t.Fatal("AUC undefined")
	}
	if area, _ := rocArea(cuts, h.Positives(), h.Negatives()); math.Abs(area-want) > curveTol {
		t.Errorf("area %.17g, AUC %.17g", area, want)
	}
}

// TestScoreHistogramMerged feeds distinct scores far beyond the bins, in
// random order and sorted by class (every negative first, the order that
// most tempts merging), and requires bounded bins and cuts, exact counts
// at every cut, and the area within the segments' boxes of the AUC.
func TestScoreHistogramMerged(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, maxBins, maxCuts = 60000, 4096, 200
	labels, scores := make([]float64, n), make([]float64, n)
	for i := range n {
		z := rng.NormFloat64()
		if rng.Float64() < Sigmoid(2*z) {
			labels[i] = 1
		}
		scores[i] = Sigmoid(z)
	}
	byClass := make([]int, n)
	for i := range byClass {
		byClass[i] = i
	}
	slices.SortStableFunc(byClass, func(a, b int) int { return int(labels[a] - labels[b]) })
	want, _ := auc(labels, scores)
	for _, order := range []struct {
		name string
		idx  []int
	}{{"random", rng.Perm(n)}, {"negatives first", byClass}} {
		t.Run(order.name, func(t *testing.T) {
			h := NewScoreHistogram(maxBins)
			for _, i := range order.idx {
				h.Add(labels[i] == 1, scores[i])
				if len(h.bins) > maxBins {
					t.Fatalf("%d bins, more than %d", len(h.bins), maxBins)
				}
			}
			cuts := h.Cuts(maxCuts)
			if len(cuts) > maxCuts {
				t.Fatalf("%d cuts, want at most %d", len(cuts), maxCuts)
			}
			checkCuts(t, cuts, labels, scores)
			area, bound := rocArea(cuts, h.Positives(), h.Negatives())
			t.Logf("area %.10f AUC %.10f bound %.3g", area, want, bound)
			if math.Abs(area-want) > bound+curveTol {
				t.Errorf("area %.17g differs from AUC %.17g by more than the bound %.3g", area, want, bound)
			}
			// Cutting where positives and negatives mix the least does no
			// worse than cutting both classes into maxCuts equal parts,
			// whose boxes sum to 1/maxCuts.
			if bound > 1.0/maxCuts/2 {
				t.Errorf("bound %.3g, want at most %.3g", bound, 1.0/maxCuts/2)
			}
		})
	}
}

// TestMergeBinsOneClassRunsFirst: runs of one class merge at no cost
// before any mixed pair, so the curve keeps its corners.
func TestMergeBinsOneClassRunsFirst(t *testing.T) {
	bins := []scoreBin{
		{0, 0, 0, 1, 0, 1}, {1, 1, 0, 1, 0, 1}, {2, 2, 1, 0, 1, 0}, {3, 3, 1, 0, 1, 0}, {4, 4, 0, 1, 0, 1}, {5, 5, 1, 0, 1, 0},
	}
	got := mergeBins(slices.Clone(bins), 4)
	want := []scoreBin{{0, 1, 0, 2, 0, 2}, {2, 3, 2, 0, 2, 0}, {4, 4, 0, 1, 0, 1}, {5, 5, 1, 0, 1, 0}}
	if !slices.Equal(got, want) {
		t.Errorf("merged %v, want %v", got, want)
	}
}
