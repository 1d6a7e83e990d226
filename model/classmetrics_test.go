package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClassMetricsHandCounted: three classes, six samples, counted by
// hand.
func TestClassMetricsHandCounted(t *testing.T) {
	e, err := NewClassEvaluator(3)
	require.NoError(t, err)
	for _, s := range []struct {
		y, pred int
		py      float64
	}{{0, 0, 0.8}, {0, 1, 0.3}, {1, 1, 0.6}, {1, 1, 0.9}, {2, 0, 0.1}, {2, 2, 0.5}} {
		require.NoError(t, e.Add(s.y, s.pred, s.py, 1))
	}
	m := e.Metrics()
	require.Equal(t, int64(6), m.N)
	require.Zero(t, m.Weight)
	require.Equal(t, [][]int64{{1, 1, 0}, {0, 2, 0}, {1, 0, 1}}, m.Confusion)
	require.InDelta(t, 4.0/6, m.Accuracy, 1e-15)
	// precision: class 0 1/2, class 1 2/3, class 2 1; recall 1/2, 1, 1/2.
	want := []ClassMetrics{{0.5, 0.5, 0.5, 2}, {2.0 / 3, 1, 0.8, 2}, {1, 0.5, 2.0 / 3, 2}}
	for c, w := range want {
		require.InDelta(t, w.Precision, m.Classes[c].Precision, 1e-15, "class %d", c)
		require.InDelta(t, w.Recall, m.Classes[c].Recall, 1e-15, "class %d", c)
		require.InDelta(t, w.F1, m.Classes[c].F1, 1e-15, "class %d", c)
		require.Equal(t, w.Support, m.Classes[c].Support)
	}
	require.InDelta(t, (0.5+2.0/3+1)/3, m.MacroPrecision, 1e-15)
	require.InDelta(t, (0.5+0.8+2.0/3)/3, m.MacroF1, 1e-15)
	require.Equal(t, m.Accuracy, m.MicroF1)
	ll := -(math.Log(0.8) + math.Log(0.3) + math.Log(0.6) + math.Log(0.9) + math.Log(0.1) + math.Log(0.5)) / 6
	require.InDelta(t, ll, m.LogLoss, 1e-15)

	_, err = NewClassEvaluator(1)
	require.Error(t, err)
	require.Error(t, e.Add(3, 0, 0.5, 1))
	require.Error(t, e.Add(0, 0, 1.5, 1))
	require.Error(t, e.Add(0, 0, 0.5, 0))
}

// TestClassMetricsWeightIsRepetition: a sample of weight 3 counts as the
// sample three times in every weighted metric; a probability of 0 costs
// -log(LogLossFloor).
func TestClassMetricsWeightIsRepetition(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	weighted, repeated := must(NewClassEvaluator(4)), must(NewClassEvaluator(4))
	for range 500 {
		y, pred, py := rng.IntN(4), rng.IntN(4), rng.Float64()
		if rng.IntN(50) == 0 {
			py = 0
		}
		w := float64(1 + rng.IntN(3))
		require.NoError(t, weighted.Add(y, pred, py, w))
		for range int(w) {
			require.NoError(t, repeated.Add(y, pred, py, 1))
		}
	}
	a, b := weighted.Metrics(), repeated.Metrics()
	require.Positive(t, a.Weight)
	require.Equal(t, float64(b.N), a.Weight)
	for _, p := range [][2]float64{{a.Accuracy, b.Accuracy}, {a.LogLoss, b.LogLoss}, {a.MacroF1, b.MacroF1}, {a.MacroPrecision, b.MacroPrecision}, {a.MacroRecall, b.MacroRecall}} {
		require.InDelta(t, p[1], p[0], 1e-12)
	}
	require.Less(t, a.LogLoss, -math.Log(LogLossFloor))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
