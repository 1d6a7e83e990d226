package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/transforms"
)

// Runner runs a pipeline to completion. runners.Run is the real one, and
// the one a nil Runner stands for; tests pass a fixed runner.
type Runner func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error)

// TrainConfig is everything a training run needs.
type TrainConfig struct {
	Inputs   []string // file globs on any Beam file system
	Tests    []string // optional test set globs, evaluated after every pass
	WorkDir  string   // snapshots: the index, starting rows, one per pass
	Output   string   // the model directory
	Train    model.TrainParams
	Sharding transforms.ShardingParams
	Shards   int // files per snapshot dataset; default 8
	// Partitions is the number of parameter partitions; 0 derives it from
	// the input's size (PartitionsFor).
	Partitions int32
	// SplitBytes is the size of the pieces a large local input file is
	// read in by several workers (0: DefaultSplitBytes; negative: every
	// file by one worker; see ReadBlocks).
	SplitBytes int64
	Resume     bool // continue from the last complete snapshot in WorkDir
	// MaxBadLines is how many malformed input lines may be skipped; past
	// it training stops before the first pass. Skipped lines are listed in
	// WorkDir/rejects.txt with their reasons and counted in model.json.
	MaxBadLines int64
	// Warm names a model directory to start from.
	Warm string
	// Retries is how many times a pass (or the export) whose job failed
	// is rerun from its snapshot before training gives up; RetryDelay is
	// the wait before the first rerun (default 2s), doubled for each next.
	// Failures a rerun would only repeat are not retried (see retryable).
	Retries    int
	RetryDelay time.Duration
	// PassTimeout, if positive, fails (and so retries) a pass or export
	// whose job has not finished after it: prism 2.77 waits forever for a
	// PROCESS worker that was killed.
	PassTimeout time.Duration
	// EarlyStop, with a test set, exports the pass whose weights score
	// best on it rather than the last, and may end training early.
	EarlyStop model.EarlyStop
	// Lambdas, if it lists more than one L2 strength, trains one model per
	// value (Train.Lambda is then unused) in the same jobs: each pass's job
	// holds every unstopped model's pass side by side, over the one index.
	// Model i goes to Output/LambdaDir(Lambdas[i]) with its snapshots in
	// WorkDir/LambdaDir(Lambdas[i]); each stops by its own rules and is the
	// very model a run with Train.Lambda = Lambdas[i] makes.
	Lambdas []float64
	// Flags are the command line, kept in the model for the record.
	Flags map[string]string
	// Run runs each pipeline; nil is runners.Run, the runner --runner
	// names, in-process direct by default.
	Run Runner
	Log io.Writer // progress lines; nil discards
	// Recorder, if set, also sees each pass's figures, as the reference
	// trainer's does; with Lambdas, each model's in Lambdas' order.
	Recorder model.Recorder
}

// TrainResult sums up a finished run. With TrainConfig.Lambdas, Model and
// History are nil and Lambdas holds each model's, in the config's order.
type TrainResult struct {
	Model   *ModelInfo
	Index   IndexMeta
	History []model.Figures
	Lambdas []LambdaResult
}

// PartitionsFor is the default number of parameter partitions for an
// input of size bytes: at least MinPartitions, so a cluster's workers all
// get keys, and one more per PartitionBytes of input, so that a partition's
// rows stay a modest element as the data (and with it the feature count)
// grows. A pass moves about partitions x blocks elements.
func PartitionsFor(size int64) int32 {
	return int32(max(MinPartitions, min(1<<20, (size+PartitionBytes-1)/PartitionBytes)))
}

// Defaults of PartitionsFor.
const (
	MinPartitions  = 256
	PartitionBytes = 64 << 20
)

// BlockShardsFor is the number of files of an index's blocks for an input
// of size bytes: shards (the --shards of every dataset), and one more per
// BlockShardBytes of input. Each trip of a pass restores the blocks one
// index shard per key (RestoreFromIndex), holding that shard's weights, so
// the shards must grow with the data for the work to spread over workers
// and each key's memory to stay bounded.
func BlockShardsFor(size int64, shards int) int {
	return int(max(int64(shards), min(1<<20, (size+BlockShardBytes-1)/BlockShardBytes)))
}

// BlockShardBytes is the input BlockShardsFor gives one index shard.
const BlockShardBytes = 16 << 20

// inputStamp tells cheaply whether an input file changed: its size and,
// where the file system keeps one, its modification time.
type inputStamp struct {
	Path     string `json:"path"`
	Bytes    int64  `json:"bytes"`
	Modified string `json:"modified,omitempty"`
}

// stampInputs stamps each file.
func stampInputs(ctx context.Context, files []InputFile) ([]inputStamp, error) {
	stamps := make([]inputStamp, len(files))
	for i, f := range files {
		fs, err := filesystem.New(ctx, f.Path)
		if err != nil {
			return nil, err
		}
		n, err := fs.Size(ctx, f.Path)
		var mod time.Time
		if lm, ok := fs.(filesystem.LastModifiedGetter); ok && err == nil {
			mod, err = lm.LastModified(ctx, f.Path)
		}
		fs.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.Path, err)
		}
		stamps[i] = inputStamp{Path: f.Path, Bytes: n}
		if !mod.IsZero() {
			stamps[i].Modified = mod.UTC().Format(time.RFC3339Nano)
		}
	}
	return stamps, nil
}

// totalBytes is the stamped files' total size.
func totalBytes(stamps []inputStamp) int64 {
	var n int64
	for _, s := range stamps {
		n += s.Bytes
	}
	return n
}

// ExpandInputs lists the files matching the globs, sorted, each once
// however it is spelled (x.txt and ./x.txt, a symbolic link and its
// target). A glob matching nothing is an error, not an empty input, and so
// is a local input that is not a regular file (a directory, or a named
// pipe that would hang the reader).
func ExpandInputs(ctx context.Context, globs []string) ([]InputFile, error) {
	seen := map[string]bool{}
	var paths []string
	for _, g := range globs {
		fs, err := filesystem.New(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("input %q: %v", g, err)
		}
		matched, err := fs.List(ctx, g)
		fs.Close()
		if err != nil {
			return nil, fmt.Errorf("input %q: %v", g, err)
		}
		if len(matched) == 0 {
			return nil, fmt.Errorf("input %q matches no files", g)
		}
		for _, m := range matched {
			key, err := fileIdentity(m)
			if err != nil {
				return nil, err
			}
			if !seen[key] {
				seen[key] = true
				paths = append(paths, m)
			}
		}
	}
	sort.Strings(paths)
	files := make([]InputFile, len(paths))
	for i, p := range paths {
		files[i] = InputFile{Index: int32(i), Path: p}
		if !strings.Contains(p, "://") {
			if fi, err := os.Stat(p); err == nil {
				files[i].Size = fi.Size()
			}
		}
	}
	return files, nil
}

// fileIdentity checks a matched input and returns what identifies it: a
// local file's absolute path with symbolic links resolved, or the path.
func fileIdentity(p string) (string, error) {
	if err := model.UnsupportedCompression(p); err != nil {
		return "", err
	}
	if strings.Contains(p, "://") {
		return p, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("input %s cannot be read: %v", p, err)
	}
	switch {
	case fi.IsDir():
		return "", fmt.Errorf("input %s is a directory; give a glob such as %s/*", p, p)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("input %s is not a regular file (%s); dpmr reads inputs it can size and read again, so copy it to a file first", p, fi.Mode().Type())
	}
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("input %s cannot be read: %v", p, err)
	}
	f.Close()
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("input %s: %v", p, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs, nil
}

// runState is work-dir/run.json: what a resumed run must agree with.
type runState struct {
	Inputs     []inputStamp      `json:"inputs"`
	Tests      []inputStamp      `json:"tests,omitempty"`
	Train      model.TrainParams `json:"train"`
	Sharding   int64             `json:"shard_threshold"`
	Shards     int               `json:"shards"`
	Partitions int32             `json:"partitions"`
	Lambdas    []float64         `json:"lambdas,omitempty"`
	Warm       string            `json:"warm,omitempty"`
	StartedAt  string            `json:"started_at"`
}

func (c *TrainConfig) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

func passDir(work string, pass int) string { return joinPath(work, fmt.Sprintf("pass-%05d", pass)) }

// Train runs the whole training: the setup pipeline once, then one
// pipeline per pass until a stop rule fires, then the model export. Only
// complete snapshots are ever read, so a run stopped at any point can be
// resumed and loses at most the pass in flight.
func Train(ctx context.Context, c TrainConfig) (*TrainResult, error) {
	c.Run = runner(c.Run)
	c.Train = c.Train.WithDefaults()
	if err := c.Train.Validate(); err != nil {
		return nil, err
	}
	if c.MaxBadLines < 0 {
		return nil, fmt.Errorf("--max-bad-lines %d must be >= 0", c.MaxBadLines)
	}
	if c.Shards == 0 {
		c.Shards = 8
	}
	if err := checkLambdas(c.Lambdas, c.Train); err != nil {
		return nil, err
	}
	if c.Retries < 0 || c.RetryDelay < 0 || c.PassTimeout < 0 {
		return nil, fmt.Errorf("--retries %d and --pass-timeout %v must be >= 0", c.Retries, c.PassTimeout)
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if err := c.EarlyStop.Validate(); err != nil {
		return nil, err
	}
	if c.Train.Multiclass && (len(c.Tests) > 0 || c.Warm != "") {
		return nil, fmt.Errorf("multiclass training takes no --test or --init yet: evaluate a multiclass model with dpmr predict on the test set")
	}
	if c.EarlyStop.Enabled() && len(c.Tests) == 0 {
		return nil, fmt.Errorf("--early-stop %s chooses a pass by its test metric: give a test set (--test)", c.EarlyStop.Metric)
	}
	files, err := ExpandInputs(ctx, c.Inputs)
	if err != nil {
		return nil, err
	}
	var testFiles []InputFile
	if len(c.Tests) > 0 {
		if testFiles, err = ExpandInputs(ctx, c.Tests); err != nil {
			return nil, fmt.Errorf("test set: %w", err)
		}
	}
	state := runState{Train: c.Train, Sharding: c.Sharding.Threshold, Shards: c.Shards, Warm: c.Warm, Lambdas: c.Lambdas,
		StartedAt: time.Now().UTC().Format(time.RFC3339)}
	if state.Inputs, err = stampInputs(ctx, files); err != nil {
		return nil, err
	}
	if state.Tests, err = stampInputs(ctx, testFiles); err != nil {
		return nil, err
	}
	if c.Partitions == 0 {
		c.Partitions = PartitionsFor(totalBytes(state.Inputs))
	}
	state.Partitions = c.Partitions
	runs := c.lambdaRuns()
	lock, err := claimDirs(ctx, c.Output, c.WorkDir)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if len(runs) > 1 {
		for _, r := range runs {
			if err := checkWritableDir(ctx, "--output", r.c.Output); err != nil {
				return nil, err
			}
		}
	}
	if err := c.prepareWorkDir(ctx, state); err != nil {
		return nil, err
	}

	indexDir, startDir := joinPath(c.WorkDir, "index"), joinPath(c.WorkDir, "start")
	testDir := joinPath(c.WorkDir, "test-index")
	index, err := ReadManifest(ctx, indexDir)
	start, serr := ReadManifest(ctx, startDir)
	var test *Manifest
	var terr error
	if len(testFiles) > 0 {
		test, terr = ReadManifest(ctx, testDir)
	}
	if err != nil || serr != nil || terr != nil {
		c.logf("setup: reading %d file(s), building the index", len(files))
		t0 := time.Now()
		sp := SetupParams{Files: files, Dir: indexDir, StartDir: startDir, Bias: c.Train.Bias, ClassWeight: c.Train.ClassWeight, Multiclass: c.Train.Multiclass,
			BlockSize: c.Train.BlockSize, Partitions: c.Partitions, Sharding: c.Sharding, Shards: c.Shards,
			BlockShards: BlockShardsFor(totalBytes(state.Inputs), c.Shards), TestFiles: testFiles, TestDir: testDir, SplitBytes: c.SplitBytes}
		if c.Warm != "" {
			wm, err := ReadModel(ctx, c.Warm)
			if err != nil {
				return nil, fmt.Errorf("warm start: %v", err)
			}
			sp.Warm = wm.Files
		}
		p, s := beam.NewPipelineWithRoot()
		Setup(s, sp)
		if _, err := c.Run(ctx, p); err != nil {
			return nil, fmt.Errorf("setup pipeline: %w", err)
		}
		if index, err = ReadManifest(ctx, indexDir); err != nil {
			return nil, err
		}
		if start, err = ReadManifest(ctx, startDir); err != nil {
			return nil, err
		}
		if len(testFiles) > 0 {
			if test, err = ReadManifest(ctx, testDir); err != nil {
				return nil, err
			}
		}
		c.logf("setup: done in %.1fs", time.Since(t0).Seconds())
	}
	for _, m := range []*Manifest{index, test} {
		if m == nil {
			continue
		}
		if m.Version < indexWithRowIDs {
			return nil, fmt.Errorf("the index in %s was written by an older dpmr (snapshot format %d); use a new work dir", c.WorkDir, m.Version)
		}
		if err := checkBlockShards(m); err != nil {
			return nil, err
		}
	}
	var meta IndexMeta
	if err := json.Unmarshal(index.Meta, &meta); err != nil || index.Meta == nil || string(index.Meta) == "null" {
		return nil, fmt.Errorf("no samples in %s", strings.Join(c.Inputs, ", "))
	}
	if meta.BadLines > 0 {
		if err := writeRejects(ctx, index.Dataset("rejects"), joinPath(c.WorkDir, RejectsName)); err != nil {
			return nil, err
		}
	}
	if err := checkIndex(meta, c); err != nil {
		return nil, err
	}
	if test != nil {
		var tm IndexMeta
		if err := json.Unmarshal(test.Meta, &tm); err != nil || tm.Samples == 0 {
			return nil, fmt.Errorf("no samples in the test set %s", strings.Join(c.Tests, ", "))
		}
		if tm.BadLines > 0 {
			list := joinPath(c.WorkDir, "test-"+RejectsName)
			if err := writeRejects(ctx, test.Dataset("rejects"), list); err != nil {
				return nil, err
			}
			return nil, &BadInputError{Count: tm.BadLines, First: tm.FirstBad.Message, List: list}
		}
		if c.EarlyStop.Metric == "auc" && (tm.Positives == 0 || tm.Positives == tm.Samples) {
			return nil, fmt.Errorf("--early-stop auc: every sample of the test set %s has the same label, so AUC is undefined", strings.Join(c.Tests, ", "))
		}
	}
	labels := fmt.Sprintf("%d positive", meta.Positives)
	if c.Train.Multiclass {
		labels = fmt.Sprintf("%d classes: %v samples", meta.Classes(), meta.ClassCounts)
	}
	c.logf("index: %d samples (%s), %d features, %d nonzeros, %d blocks",
		meta.Samples, labels, meta.Features, meta.Nonzeros, meta.Blocks)

	for _, r := range runs {
		if r.history, r.state, err = r.c.completedPasses(ctx, start, test != nil); err != nil {
			return nil, err
		}
		r.eta = r.c.Train.Eta(meta.SumSq)
		if len(r.history) > 0 {
			r.c.logf("resuming after pass %d", len(r.history)-1)
			if r.reason = r.c.stopReason(r.history); r.reason != "" {
				r.c.logf("stopped: %s", r.reason)
			}
		}
	}
	var retries []Retry
	for {
		var active []*lambdaRun
		for _, r := range runs {
			if r.reason == "" {
				active = append(active, r)
			}
		}
		if len(active) == 0 {
			break
		}
		if err := lock.Err(); err != nil {
			return nil, err
		}
		for _, r := range active {
			r.plan = model.FirstPlan()
			if len(r.history) > 0 {
				r.plan = model.NextPlan(r.c.Train, r.history[len(r.history)-1])
			}
		}
		stage := fmt.Sprintf("pass %d", active[0].plan.Pass)
		var t0 time.Time
		res, err := c.runRetried(ctx, lock, stage, &retries, func() *beam.Pipeline {
			t0 = time.Now()
			p, s := beam.NewPipelineWithRoot()
			for _, r := range active {
				Pass(r.scope(s), PassParams{Index: index, State: r.state, Dir: passDir(r.c.WorkDir, r.plan.Pass), Plan: r.plan, Train: r.c.Train, Eta: r.eta,
					Samples: meta.Samples, Shards: c.Shards, Partitions: meta.Partitions, Test: test, Classes: meta.Classes()})
			}
			return p
		})
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", stage, lambdaNote(active), err)
		}
		seconds := time.Since(t0).Seconds()
		for _, r := range active {
			if err := r.record(ctx, res, len(active), test != nil, seconds); err != nil {
				return nil, err
			}
			if c.Recorder != nil {
				c.Recorder.Record(r.history[len(r.history)-1])
			}
		}
	}
	if err := lock.Err(); err != nil {
		return nil, err
	}
	exports := make([]exportJob, len(runs))
	for i, r := range runs {
		early, err := r.c.earlyChoice(ctx, r.history, r.reason)
		if err != nil {
			return nil, err
		}
		rows := r.state.Rows
		if early != nil {
			m, err := ReadManifest(ctx, passDir(r.c.WorkDir, early.Pass))
			if err != nil {
				return nil, fmt.Errorf("early stop: pass %d: %w", early.Pass, err)
			}
			rows = m.Dataset("rows")
		}
		exports[i] = exportJob{c: &r.c, rows: rows, history: r.history, reason: r.reason, early: early}
	}
	if len(runs) > 1 {
		if err := clearOutputs(c.Output, LambdasName, ""); err != nil {
			return nil, err
		}
	}
	infos, err := c.export(ctx, lock, meta, exports, &retries)
	if err != nil {
		return nil, err
	}
	if len(runs) == 1 {
		return &TrainResult{Model: infos[0], Index: meta, History: runs[0].history}, nil
	}
	out := &TrainResult{Index: meta}
	for i, r := range runs {
		out.Lambdas = append(out.Lambdas, LambdaResult{Lambda: r.c.Train.Lambda, Dir: r.c.Output, Model: infos[i], History: r.history})
	}
	if err := writeLambdaTable(ctx, c.Output, out.Lambdas); err != nil {
		return nil, err
	}
	return out, nil
}

// earlyChoice is the pass early stopping exports, or nil to export the
// last: without --early-stop, or when no pass has the metric defined.
func (c *TrainConfig) earlyChoice(ctx context.Context, history []model.Figures, reason model.Stop) (*model.EarlyChoice, error) {
	if !c.EarlyStop.Enabled() {
		return nil, nil
	}
	choice, ok := c.EarlyStop.Best(history)
	if !ok {
		c.logf("warning: no pass has a defined test %s; exporting the last", c.EarlyStop.Metric)
		return nil, nil
	}
	choice.Stopped = reason == model.StopEarly
	c.logf("early stop: exporting pass %d, whose test %s %.6g is the best of passes 0-%d", choice.Pass, choice.Metric, choice.Value, len(history)-1)
	return &choice, nil
}

// stopReason is the optimizer's stop rules, then early stopping's.
func (c *TrainConfig) stopReason(history []model.Figures) model.Stop {
	if reason := model.StopReason(c.Train, history); reason != "" {
		return reason
	}
	if c.EarlyStop.Stop(history) {
		return model.StopEarly
	}
	return ""
}

// DefaultRetryDelay is TrainConfig.RetryDelay's default.
const DefaultRetryDelay = 2 * time.Second

// Retry is one failed attempt at a pass or the export that was rerun,
// listed in model.json.
type Retry struct {
	Stage   string `json:"stage"`   // "pass N" or "export"
	Attempt int    `json:"attempt"` // 1 for the first failure
	Error   string `json:"error"`   // the failure in one line
}

// permanentFailures are texts of failures, from dpmr's own DoFns, that a
// rerun would only repeat: a snapshot file that fails its checksum, and a
// --learning-rate so large that the weights overflow. A job's error
// crosses a portable runner as text, so text is what can be matched.
var permanentFailures = []string{ErrCorrupt.Error(), "lower --learning-rate"}

// retryable tells whether a rerun of the job may succeed: only a job that
// the runner ran and that failed (a *runners.JobError; a refused flag or
// an unreachable endpoint is not one) for a reason other than
// permanentFailures.
func retryable(err error) bool {
	var je *runners.JobError
	if !errors.As(err, &je) {
		return false
	}
	text := err.Error()
	for _, p := range permanentFailures {
		if strings.Contains(text, p) {
			return false
		}
	}
	return true
}

// runRetried runs the pipeline build makes and, while the job fails in a
// way a rerun may cure, reruns a new one after a growing delay, up to
// c.Retries times, recording each failure in retries. A pass or the export
// only reads complete snapshots and rewrites its own files under the same
// names, so a rerun computes the very same bytes.
func (c *TrainConfig) runRetried(ctx context.Context, lock *WorkLock, stage string, retries *[]Retry, build func() *beam.Pipeline) (beam.PipelineResult, error) {
	delay := c.RetryDelay
	for attempt := 1; ; attempt++ {
		runCtx, cancel := ctx, context.CancelFunc(func() {})
		var deadline time.Time
		if c.PassTimeout > 0 {
			deadline = time.Now().Add(c.PassTimeout)
			runCtx, cancel = context.WithDeadline(ctx, deadline)
		}
		res, err := c.Run(runCtx, build())
		// The job service enforces the deadline too and may report it
		// before the context's own timer has fired on a loaded machine,
		// so the clock decides, not runCtx.Err().
		timedOut := c.PassTimeout > 0 && ctx.Err() == nil && !time.Now().Before(deadline)
		cancel()
		if err == nil {
			return res, nil
		}
		if timedOut {
			err = fmt.Errorf("no result after --pass-timeout %v: %w", c.PassTimeout, err)
		}
		if attempt > c.Retries || ctx.Err() != nil || !(timedOut || retryable(err)) {
			return nil, err
		}
		msg, _ := runners.Brief(err)
		*retries = append(*retries, Retry{Stage: stage, Attempt: attempt, Error: msg})
		c.logf("%s: the job failed (%s); rerunning it in %v (retry %d of %d)", stage, msg, delay, attempt, c.Retries)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, err
		}
		if lerr := lock.Err(); lerr != nil {
			return nil, lerr
		}
		delay *= 2
	}
}

// checkIndex refuses to train on input with too many bad lines or no
// samples, and warns of skipped lines and of a single class.
func checkIndex(m IndexMeta, c TrainConfig) error {
	if m.Partitions < 1 {
		return fmt.Errorf("the index in %s has no parameter partitions (written by an older dpmr); use a new work dir", c.WorkDir)
	}
	if m.BadLines > c.MaxBadLines {
		first := ""
		if m.FirstBad != nil {
			first = m.FirstBad.Message
		}
		return &BadInputError{Count: m.BadLines, Max: c.MaxBadLines, First: first, List: joinPath(c.WorkDir, RejectsName)}
	}
	if m.BadLines > 0 {
		c.logf("warning: skipped %d malformed line(s), listed in %s", m.BadLines, joinPath(c.WorkDir, RejectsName))
	}
	if m.Samples == 0 {
		return fmt.Errorf("no samples in %s (only blank or comment lines)", strings.Join(c.Inputs, ", "))
	}
	if c.Train.Multiclass {
		if err := model.CheckClasses(m.ClassCounts); err != nil {
			return fmt.Errorf("%s: %v", strings.Join(c.Inputs, ", "), err)
		}
	} else if m.Positives == 0 || m.Positives == m.Samples {
		c.logf("warning: every sample has label %d; the model will only learn the prior", map[bool]int{true: 1, false: 0}[m.Positives > 0])
	}
	return nil
}

// BadInputError reports malformed input lines found by the setup pipeline.
type BadInputError struct {
	Count int64  // bad lines found
	Max   int64  // bad lines allowed
	First string // the first bad line's file:line:column message
	List  string // the file listing them all
}

func (e *BadInputError) Error() string {
	msg := fmt.Sprintf("%s (%d bad line(s), listed in %s", e.First, e.Count, e.List)
	if e.Max > 0 {
		msg += fmt.Sprintf("; --max-bad-lines allows %d", e.Max)
	}
	return msg + ")"
}

// RejectsName is the readable list of rejected input lines in a work dir.
const RejectsName = "rejects.txt"

// prepareWorkDir checks a resumed run matches the work dir's, or records
// a new run, clearing the snapshots of an earlier one.
func (c *TrainConfig) prepareWorkDir(ctx context.Context, state runState) error {
	path := joinPath(c.WorkDir, "run.json")
	old, err := readFile(ctx, path)
	if c.Resume {
		if err != nil {
			return fmt.Errorf("--resume: %s has no run to resume (%v)", c.WorkDir, err)
		}
		var prev runState
		if err := json.Unmarshal(old, &prev); err != nil {
			return fmt.Errorf("--resume: %s: %v", path, err)
		}
		if err := sameInputs(prev.Inputs, state.Inputs); err != nil {
			return fmt.Errorf("--resume: %v since the run in %s started; start a new work dir", err, c.WorkDir)
		}
		if err := sameInputs(prev.Tests, state.Tests); err != nil {
			return fmt.Errorf("--resume: test set: %v since the run in %s started; start a new work dir", err, c.WorkDir)
		}
		if !sameRun(prev, state) {
			return fmt.Errorf("--resume: the run in %s used other inputs or flags; start a new work dir", c.WorkDir)
		}
		return nil
	}
	if err == nil {
		if err := clearWorkDir(c.WorkDir); err != nil {
			return err
		}
	}
	data, _ := json.MarshalIndent(state, "", "  ")
	return writeFile(ctx, path, append(data, '\n'))
}

// sameInputs reports an input file that both runs read and that changed
// in between.
func sameInputs(before, now []inputStamp) error {
	was := map[string]inputStamp{}
	for _, s := range before {
		was[s.Path] = s
	}
	for _, s := range now {
		if w, ok := was[s.Path]; ok && w != s {
			return fmt.Errorf("input %s changed (%d bytes, modified %s; now %d bytes, modified %s)", s.Path, w.Bytes, w.Modified, s.Bytes, s.Modified)
		}
	}
	return nil
}

// sameRun tells whether two runs compute the same iterates; the stopping
// rules may differ, so a run can be resumed with more iterations.
func sameRun(a, b runState) bool {
	a.StartedAt, b.StartedAt = "", ""
	for _, r := range []*runState{&a, &b} {
		r.Train.Iterations, r.Train.Tol, r.Train.GTol, r.Train.GapTol = 0, 0, 0, 0
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// clearWorkDir removes the snapshots of an earlier run (local work dirs;
// on object stores new snapshots simply overwrite the old names).
func clearWorkDir(dir string) error {
	if strings.Contains(dir, "://") {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		n := e.Name()
		if n == "index" || n == "test-index" || n == "start" || n == "export" || strings.HasPrefix(n, "pass-") || strings.HasPrefix(n, "lambda=") {
			if err := os.RemoveAll(joinPath(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// completedPasses reads the figures of the complete passes in order and
// returns them with the rows to continue from. A pass is complete when its
// manifest is; the first incomplete one ends the list.
func (c *TrainConfig) completedPasses(ctx context.Context, start *Manifest, withTest bool) ([]model.Figures, State, error) {
	state := State{Rows: start.Dataset("rows")}
	var history []model.Figures
	for pass := 0; ; pass++ {
		f, m, err := c.readPass(ctx, pass, withTest)
		if errors.Is(err, ErrIncomplete) {
			return history, state, nil
		}
		if err != nil {
			return nil, State{}, err
		}
		history = append(history, f)
		state = stateAfter(m)
		if c.Train.Method().Needs().Subspace && len(state.Margins) == 0 {
			return nil, State{}, fmt.Errorf("--resume: the snapshot of pass %d in %s holds no block margins, which subspace passes now keep: an older dpmr wrote it; start a new work dir", pass, c.WorkDir)
		}
	}
}

// readPass reads a pass's snapshot: its manifest, and the figures it
// holds with the test set's metrics when there is one.
func (c *TrainConfig) readPass(ctx context.Context, pass int, withTest bool) (model.Figures, *Manifest, error) {
	var f model.Figures
	m, err := ReadManifest(ctx, passDir(c.WorkDir, pass))
	if err != nil {
		return f, nil, fmt.Errorf("pass %d: %w", pass, err)
	}
	if err := json.Unmarshal(m.Meta, &f); err != nil {
		return f, nil, fmt.Errorf("pass %d: figures: %v", pass, err)
	}
	if withTest {
		if f.Test, err = testMetrics(ctx, m); err != nil {
			return f, nil, fmt.Errorf("pass %d: test set: %w", pass, err)
		}
	}
	return f, m, nil
}

// keyStats reads the keyed stages' key-size distributions from a pass's
// metrics (those of the test set's scoring excluded), merged over the
// steps that report them. Runners that report no metrics give none.
func keyStats(res beam.PipelineResult) []model.KeyStats {
	if res == nil {
		return nil
	}
	merged := map[string]*model.KeyStats{}
	sums := map[string]int64{}
	var order []string
	for _, d := range res.Metrics().AllMetrics().Distributions() {
		if d.Key.Namespace != transforms.MetricsNamespace || strings.Contains(d.Key.Step, "test") {
			continue
		}
		v := d.Result()
		if v.Count == 0 {
			continue
		}
		k, ok := merged[d.Key.Name]
		if !ok {
			k = &model.KeyStats{Stage: d.Key.Name}
			merged[d.Key.Name] = k
			order = append(order, d.Key.Name)
		}
		k.Keys += v.Count
		k.Max = max(k.Max, v.Max)
		sums[d.Key.Name] += v.Sum
	}
	sort.Strings(order)
	out := make([]model.KeyStats, 0, len(order))
	for _, name := range order {
		k := merged[name]
		k.Mean = float64(sums[name]) / float64(k.Keys)
		out = append(out, *k)
	}
	return out
}
