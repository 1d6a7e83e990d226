package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

func writeLines(t *testing.T, path string, lines ...string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return path
}

func TestBadInputStopsBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	data := writeLines(t, filepath.Join(dir, "train.txt"),
		"1 a:1 b:2",
		"0 a:1 c:x", // line 2: bad value, its token at column 7
		"1 b:1",
		"yes a:1", // line 4: bad label
		"0 c:1",
	)
	cfg := TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "work"), Output: filepath.Join(dir, "model"),
		Train: model.TrainParams{Lambda: 1, Bias: true, Iterations: 2}, Shards: 2, Run: runnerFor("direct")}
	_, err := Train(context.Background(), cfg)
	var bad *BadInputError
	require.True(t, errors.As(err, &bad), "got %v", err)
	require.EqualValues(t, 2, bad.Count)
	require.Contains(t, err.Error(), data+`:2:7: value "x" of feature "c" is not a number`)
	_, statErr := os.Stat(filepath.Join(dir, "model", ModelFileName))
	require.True(t, os.IsNotExist(statErr), "no model may be written")
	list, err := os.ReadFile(filepath.Join(dir, "work", RejectsName))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(list)), "\n")
	require.Len(t, lines, 2)
	require.True(t, strings.HasPrefix(lines[0], data+":2:7: "), lines[0])
	require.True(t, strings.HasPrefix(lines[1], data+":4:1: "), lines[1])
	require.Contains(t, lines[1], `"yes a:1"`)

	// Allowed to skip them, training runs on the three good lines and
	// records the count.
	cfg.MaxBadLines = 2
	res, err := Train(context.Background(), cfg)
	require.NoError(t, err)
	require.EqualValues(t, 3, res.Model.Samples)
	require.EqualValues(t, 2, res.Model.BadLines)

	cfg.MaxBadLines = 1
	_, err = Train(context.Background(), cfg)
	require.True(t, errors.As(err, &bad), "got %v", err)
	require.Contains(t, err.Error(), "--max-bad-lines allows 1")
}

func TestInputErrorsAreClear(t *testing.T) {
	dir := t.TempDir()
	run := func(inputs ...string) error {
		_, err := Train(context.Background(), TrainConfig{Inputs: inputs, WorkDir: filepath.Join(dir, "work"),
			Output: filepath.Join(dir, "model"), Train: model.TrainParams{Lambda: 1, Iterations: 1}, Run: runnerFor("direct")})
		return err
	}
	require.ErrorContains(t, run(filepath.Join(dir, "nothing-*.txt")), "matches no files")
	empty := writeLines(t, filepath.Join(dir, "empty.txt"), "# only a comment", "")
	require.ErrorContains(t, run(empty), "no samples")
	locked := writeLines(t, filepath.Join(dir, "locked.txt"), "1 a")
	require.NoError(t, os.Chmod(locked, 0))
	if f, err := os.Open(locked); err == nil {
		f.Close() // root reads anything; the case cannot arise here
	} else {
		require.ErrorContains(t, run(locked), "cannot be read")
	}
	require.ErrorContains(t, run(dir), "is a directory")
	_, err := RunPredict(context.Background(), PredictConfig{Model: filepath.Join(dir, "no-model"), Inputs: []string{empty},
		Output: filepath.Join(dir, "pred"), WorkDir: filepath.Join(dir, "pw"), Run: runnerFor("direct")})
	require.ErrorContains(t, err, "is not a dpmr model")
}

// TestCorruptSnapshotIsNeverUsed damages one byte of the last snapshot's
// rows, keeping its size: resuming must fail on the checksum rather than
// train on it, and a truncated file must be caught before any pipeline.
func TestCorruptSnapshotIsNeverUsed(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 500, Features: 50, PerSample: 5, Seed: 71})
	cfg := TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "work"), Output: filepath.Join(dir, "model"),
		Train: model.TrainParams{Lambda: 1, Bias: true, Iterations: 2, Tol: -1, GTol: -1, GapTol: -1}, Shards: 2, Run: runnerFor("direct")}
	_, err := Train(context.Background(), cfg)
	require.NoError(t, err)

	rows, err := filepath.Glob(filepath.Join(dir, "work", "pass-00002", "rows-*"))
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	b, err := os.ReadFile(rows[0])
	require.NoError(t, err)
	b[len(b)/2] ^= 0x40
	require.NoError(t, os.WriteFile(rows[0], b, 0o644))

	cfg.Resume = true
	cfg.Train.Iterations = 4
	_, err = Train(context.Background(), cfg)
	require.ErrorContains(t, err, "snapshot file is corrupt")

	require.NoError(t, os.WriteFile(rows[0], b[:len(b)-3], 0o644))
	_, err = Train(context.Background(), cfg)
	require.ErrorContains(t, err, "bytes, the file has")
}
