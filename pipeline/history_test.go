package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dpmr/dpmr/internal/chart"
	"github.com/dpmr/dpmr/internal/chart/charttest"
	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

// TestTrainWritesHistoryChart: Train draws history.svg in a local model
// dir with package chart, dpmr plot's producer: J by pass on a labelled
// log axis, and the test metrics below, each series visible.
func TestTrainWritesHistoryChart(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 300, Features: 40, PerSample: 5, Seed: 8})
	out := filepath.Join(dir, "model")
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, Tests: []string{data},
		WorkDir: filepath.Join(dir, "work"), Output: out,
		Train: model.TrainParams{Lambda: 1, Bias: true, BlockSize: 100, Iterations: 3}, Run: runnerFor("direct")})
	require.NoError(t, err)

	got, err := os.ReadFile(filepath.Join(out, HistoryChartName))
	require.NoError(t, err)
	var want bytes.Buffer
	require.NoError(t, chart.Write(&want, historyChart(res.History, nil)))
	require.Equal(t, want.String(), string(got))

	doc := charttest.Parse(t, got)
	require.Equal(t, []string{"J (objective)", "test macro F1", "test AUC", "test accuracy"}, doc.Series)
	for _, label := range []string{"J (log scale)", "test metric", "iteration (one pass over the data each)"} {
		require.True(t, slices.Contains(doc.Texts, label), "no text %q among %q", label, doc.Texts)
	}
	// The three test metrics share a panel and often a value: each is
	// drawn in a dash pattern of its own.
	dashes := map[string]bool{}
	for _, s := range doc.Strokes[1:] {
		dashes[s[2]] = true
	}
	require.Len(t, dashes, 3, "strokes %q", doc.Strokes)
}
