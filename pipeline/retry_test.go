package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/runners"
	"github.com/stretchr/testify/require"
)

// jobRunner runs pipelines on the direct runner and reports a failed job
// as runners.Run does, as a *runners.JobError.
func jobRunner(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	res, err := runnerFor("direct")(ctx, p)
	if err != nil {
		return nil, &runners.JobError{Runner: "direct", Err: err}
	}
	return res, err
}

// obstructing runs pipelines with jobRunner, but during the first `times`
// jobs of pass `pass` a directory stands where the pass writes one of its
// row files: a real file-system error inside the job, after other files of
// the pass may have been written. It counts those jobs in obstructed.
func obstructing(work string, pass, times int, obstructed *int) Runner {
	calls := 0
	return func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		calls++
		// The setup is job 1 and pass k job k+2; each failed job of
		// pass `pass` is rerun at once.
		if calls < pass+2 || calls >= pass+2+times {
			return jobRunner(ctx, p)
		}
		*obstructed++
		block := filepath.Join(passDir(work, pass), ShardName("rows", 1, 3))
		if err := os.MkdirAll(block, 0o755); err != nil {
			return nil, err
		}
		defer os.RemoveAll(block)
		return jobRunner(ctx, p)
	}
}

// TestFailedPassIsRerun makes pass 2's job fail on a file-system error and
// requires the driver to rerun it from its snapshot into the very model an
// undisturbed run trains, with the retry counted in model.json; a failure
// that outlasts the retries, or that a rerun would repeat, fails training.
func TestFailedPassIsRerun(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 1500, Features: 200, PerSample: 8, Seed: 5, Noise: 0.05})
	cfg := TrainConfig{
		Inputs: []string{data},
		Train:  model.TrainParams{Lambda: 1, Bias: true, BlockSize: 100, Iterations: 4, Tol: -1, GTol: -1, GapTol: -1},
		Shards: 3, Retries: 2, RetryDelay: time.Millisecond,
	}
	train := func(name string, run Runner) (*TrainResult, error) {
		c := cfg
		c.WorkDir, c.Output, c.Run = filepath.Join(dir, name, "work"), filepath.Join(dir, name, "model"), run
		return Train(context.Background(), c)
	}
	whole, err := train("whole", jobRunner)
	require.NoError(t, err)
	require.Zero(t, whole.Model.Retries)

	attempts := 0
	rerun, err := train("rerun", obstructing(filepath.Join(dir, "rerun", "work"), 2, 1, &attempts))
	require.NoError(t, err)
	require.Equal(t, 1, attempts, "failed jobs of pass 2")
	requireSameModel(t, whole, rerun)
	require.Equal(t, 1, rerun.Model.Retries)
	require.Len(t, rerun.Model.RetryLog, 1)
	require.Equal(t, "pass 2", rerun.Model.RetryLog[0].Stage)
	require.Contains(t, rerun.Model.RetryLog[0].Error, "is a directory")
	stored, err := ReadModel(context.Background(), filepath.Join(dir, "rerun", "model"))
	require.NoError(t, err)
	require.Equal(t, 1, stored.Retries, "retries in model.json")

	attempts = 0
	_, err = train("outlasting", obstructing(filepath.Join(dir, "outlasting", "work"), 1, 10, &attempts))
	require.ErrorContains(t, err, "pass 1: ")
	require.ErrorContains(t, err, "is a directory")
	require.Equal(t, 1+cfg.Retries, attempts, "failed jobs of pass 1")

	calls := 0
	damaged := func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		if calls++; calls == 3 {
			return nil, &runners.JobError{Runner: "direct", Err: fmt.Errorf("reading rows: %w: rows-00000-of-00003: CRC-32C mismatch", ErrCorrupt)}
		}
		return jobRunner(ctx, p)
	}
	_, err = train("damaged", damaged)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Equal(t, 3, calls, "a damaged snapshot is not read again")
}

func TestRetryable(t *testing.T) {
	job := func(msg string) error { return &runners.JobError{Runner: "prism", Err: errors.New(msg)} }
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{job("worker exited: signal: killed"), true},
		{fmt.Errorf("pass 3: %w", job("writing pass-00003/rows-00001-of-00008: input/output error")), true},
		{job("snapshot file is corrupt: rows-00002-of-00008: size 10, want 12"), false},
		{job("training diverged at pass 2 (J = +Inf, |g| = NaN): the step is too large; lower --learning-rate, or leave it 0 for a safe one"), false},
		{errors.New("--runner=universal needs --endpoint=HOST:PORT"), false},
		{context.Canceled, false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%q) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
