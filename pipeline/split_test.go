package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

// splitFixture writes a file that reads differently wherever a split
// reader could go wrong: a byte order mark, CRLF line ends, blank and
// comment lines, sample weights, lines longer than a split (so some
// splits start no line), a malformed line past the first split when bad
// is set, and no newline at the end.
func splitFixture(t *testing.T, path string, bad bool) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBF# a comment on line 1\n")
	rng := rand.New(rand.NewSource(3))
	for i := 2; i <= 700; i++ {
		label := rng.Intn(2)
		switch {
		case i%97 == 0:
			b.WriteString("\n")
			continue
		case i%89 == 0:
			b.WriteString("# comment\r\n")
			continue
		case bad && i == 431:
			b.WriteString("1 f1:x\n")
			continue
		}
		if i%13 == 0 {
			fmt.Fprintf(&b, "%d:%.1f", label, 0.5+rng.Float64()*3)
		} else {
			fmt.Fprintf(&b, "%d", label)
		}
		n := 3 + rng.Intn(6)
		if i%150 == 0 {
			n = 300 // about 3 KB: longer than a split
		}
		for k := 0; k < n; k++ {
			f := rng.Intn(60)
			if k%2 == 0 && label == 1 {
				f = rng.Intn(10)
			}
			fmt.Fprintf(&b, " f%d:%.3g", f*1000+k, rng.Float64())
		}
		if i%7 == 0 {
			b.WriteString("\r")
		}
		if i < 700 {
			b.WriteString("\n")
		}
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

// TestSplitInputReadsAsWhole cuts a file into 512-byte splits, read by
// workers of their own, and requires training (on direct and prism) and
// prediction to see exactly what reading it whole sees: the same model
// bit for bit, the same rejected line by number, the same prediction rows
// by file and line.
func TestSplitInputReadsAsWhole(t *testing.T) {
	dir := t.TempDir()
	data, clean := filepath.Join(dir, "data.txt"), filepath.Join(dir, "clean.txt")
	splitFixture(t, data, true)
	splitFixture(t, clean, false)
	files, err := ExpandInputs(context.Background(), []string{data})
	require.NoError(t, err)
	splits := splitInputs(files, 512)
	require.Greater(t, len(splits), 40, "the test wants the file cut")
	require.Len(t, splitInputs(files, 0), 1, "a small file is read whole by default")

	tp := model.TrainParams{Lambda: 0.5, Bias: true, BlockSize: 37, Iterations: 4, Tol: -1, GTol: -1, GapTol: -1}
	train := func(name, runner string, split int64) *TrainResult {
		out := filepath.Join(dir, name)
		res, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, WorkDir: out + ".work", Output: out,
			Train: tp, Shards: 2, MaxBadLines: 1, SplitBytes: split, Run: runnerFor(runner)})
		require.NoError(t, err)
		return res
	}
	whole := train("whole", "direct", 0)
	require.EqualValues(t, 1, whole.Model.BadLines)
	rejects, err := os.ReadFile(filepath.Join(dir, "whole.work", RejectsName))
	require.NoError(t, err)
	require.Contains(t, string(rejects), "data.txt:431:")
	for _, runner := range []string{"direct", "prism"} {
		cut := train("cut-"+runner, runner, 512)
		for i := range cut.History {
			// The key statistics are of the job's shuffles, which the
			// split reading adds to; the model is what must not change.
			whole.History[i].Keys, cut.History[i].Keys = nil, nil
		}
		requireSameModel(t, whole, cut)
		got, err := os.ReadFile(filepath.Join(dir, "cut-"+runner+".work", RejectsName))
		require.NoError(t, err)
		require.Equal(t, string(rejects), string(got))
	}

	// The reference trainer reads the clean file whole, and so does the
	// pipeline's prediction with splits of its own.
	ref, refStop := reference(t, []string{clean}, tp)
	res, err := Train(context.Background(), TrainConfig{Inputs: []string{clean}, WorkDir: filepath.Join(dir, "clean.work"),
		Output: filepath.Join(dir, "clean-model"), Train: tp, Shards: 2, SplitBytes: 512, Run: runnerFor("direct")})
	require.NoError(t, err)
	requireReferenceRun(t, ref, refStop, res)
	var rows [2]map[predKey]predRow
	for i, split := range []int64{0, 512} {
		out := filepath.Join(dir, fmt.Sprint("pred", i))
		info, err := RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "clean-model"), Inputs: []string{clean},
			Output: out, WorkDir: out + ".work", Shards: 2, SplitBytes: split, Run: runnerFor("direct")})
		require.NoError(t, err)
		rows[i] = readPredictionRows(t, info)
	}
	require.Equal(t, rows[0], rows[1])
	requireReferencePredictions(t, rows[1], clean, model.LabelOptional, readModelWeights(t, res.Model), tp.BlockSize)
	require.Len(t, rows[1], 700-1-7-7, "samples: the 700 lines less the comments and blank lines")
}
