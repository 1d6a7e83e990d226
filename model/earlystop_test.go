package model

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func testedHistory(aucs, losses []float64) []Figures {
	h := make([]Figures, len(aucs))
	for i := range aucs {
		h[i] = Figures{Pass: i, Test: &Metrics{AUC: aucs[i], AUCDefined: aucs[i] > 0, LogLoss: losses[i]}}
	}
	return h
}

func TestEarlyStopChoosesTheBestPassAndTheEarliestOfEqualOnes(t *testing.T) {
	h := testedHistory([]float64{0, 0.80, 0.85, 0.85, 0.83, 0.82}, []float64{0.69, 0.50, 0.45, 0.44, 0.47, 0.49})

	c, ok := EarlyStop{Metric: "auc"}.Best(h)
	require.True(t, ok)
	require.Equal(t, EarlyChoice{Metric: "auc", Pass: 2, Value: 0.85}, c, "pass 0's undefined AUC is skipped; of equal AUCs the earlier wins")

	c, ok = EarlyStop{Metric: "logloss", Patience: 2}.Best(h)
	require.True(t, ok)
	require.Equal(t, EarlyChoice{Metric: "logloss", Pass: 3, Value: 0.44, Patience: 2}, c, "log-loss is minimized and reported as itself")

	_, ok = EarlyStop{Metric: "auc"}.Best(testedHistory([]float64{0, 0}, []float64{1, 1}))
	require.False(t, ok, "no pass with a defined AUC")
	_, ok = EarlyStop{Metric: "auc"}.Best([]Figures{{Pass: 0}})
	require.False(t, ok, "no test set")
}

func TestEarlyStopPatienceCountsPassesSinceTheBest(t *testing.T) {
	aucs := []float64{0, 0.80, 0.85, 0.84, 0.83, 0.86, 0.82}
	losses := make([]float64, len(aucs))
	stopsAt := func(e EarlyStop) int {
		for n := 1; n <= len(aucs); n++ {
			if e.Stop(testedHistory(aucs[:n], losses[:n])) {
				return n - 1
			}
		}
		return -1
	}
	require.Equal(t, 4, stopsAt(EarlyStop{Metric: "auc", Patience: 2}), "passes 3 and 4 do not better pass 2")
	require.Equal(t, -1, stopsAt(EarlyStop{Metric: "auc", Patience: 3}), "pass 5 betters pass 2 before three passes went by")
	require.Equal(t, -1, stopsAt(EarlyStop{Metric: "auc"}), "patience 0 never stops")
	require.Equal(t, -1, stopsAt(EarlyStop{Patience: 1}), "no metric never stops")
}

func TestEarlyStopValidates(t *testing.T) {
	require.NoError(t, EarlyStop{}.Validate())
	for _, m := range EarlyStopMetrics {
		require.NoError(t, EarlyStop{Metric: m.Name, Patience: 3}.Validate())
	}
	require.ErrorContains(t, EarlyStop{Metric: "accuracy"}.Validate(), `unknown early-stop metric "accuracy" (want one of auc, logloss, f1, macro-f1)`)
	require.ErrorContains(t, EarlyStop{Metric: "auc", Patience: -1}.Validate(), "patience -1 must be >= 0")
}
