package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/stretchr/testify/require"
)

// Tests of what dpmr does with the user's files: models and work dirs that
// move, output dirs with other files in them, work dirs two runs want,
// inputs that change or are spelled twice.

var smallSynth = model.SynthParams{Samples: 300, Features: 40, PerSample: 4, Seed: 17}

func trainSmall(t *testing.T, data, out, work string, iterations int, resume bool) (*TrainResult, error) {
	t.Helper()
	return Train(context.Background(), TrainConfig{Inputs: []string{data}, WorkDir: work, Output: out,
		Train: model.TrainParams{Lambda: 1, Bias: true, Iterations: iterations}, Shards: 2, Resume: resume,
		Run: runnerFor("direct")})
}

func predictSmall(model, data, out string) (*PredictionsInfo, error) {
	return RunPredict(context.Background(), PredictConfig{Model: model, Inputs: []string{data}, Output: out,
		WorkDir: out + ".work", Shards: 2, Run: runnerFor("direct")})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(to, 0o755))
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() {
			copyDir(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, e.Name()), b, 0o644))
	}
}

// listedPaths returns the "path" of every file a listing records.
func listedPaths(t *testing.T, listing string) []string {
	t.Helper()
	var l struct {
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	b, err := os.ReadFile(listing)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &l))
	var out []string
	for _, f := range l.Files {
		out = append(out, f.Path)
	}
	return out
}

// TestCopiedModelReadsItsOwnFiles trains with a relative --output, then
// copies the model elsewhere and predicts from another directory: the copy
// predicts what the original does, reads and checks its own weights (a
// weight edited in the copy is caught, not ignored), and model.json names
// files only relative to itself. A model written by the previous format,
// with full paths, is read by its own files too.
func TestCopiedModelReadsItsOwnFiles(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, smallSynth)
	t.Chdir(dir)
	_, err := trainSmall(t, data, "m", "m.work", 2, false)
	require.NoError(t, err)
	for _, p := range listedPaths(t, filepath.Join(dir, "m", ModelFileName)) {
		require.True(t, validName(p), "model.json lists %q", p)
	}
	other := t.TempDir()
	copyDir(t, filepath.Join(dir, "m"), filepath.Join(other, "copy"))
	t.Chdir(other)

	orig, err := predictSmall(filepath.Join(dir, "m"), data, filepath.Join(other, "p-orig"))
	require.NoError(t, err)
	cp, err := predictSmall("copy", data, filepath.Join(other, "p-copy"))
	require.NoError(t, err)
	require.Equal(t, readPredictions(t, orig), readPredictions(t, cp))
	for _, p := range listedPaths(t, filepath.Join(other, "p-copy", PredictionsName)) {
		require.True(t, validName(p), "predictions.json lists %q", p)
	}

	// Edit a weight in the copy: the copy's own file is checked.
	info, err := ReadModel(context.Background(), "copy")
	require.NoError(t, err)
	path := info.Files[0].Path
	require.True(t, strings.HasPrefix(path, "copy/"), "the copy reads %s", path)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	bad := append([]byte(nil), good...)
	bad[len(bad)-2] ^= 1
	require.NoError(t, os.WriteFile(path, bad, 0o644))
	_, err = predictSmall("copy", data, filepath.Join(other, "p-bad"))
	require.ErrorContains(t, err, "checksum differs from model.json")
	require.NoError(t, os.WriteFile(path, good, 0o644))

	// The previous format recorded paths as typed, here the original's.
	mj := filepath.Join(other, "copy", ModelFileName)
	var raw map[string]any
	b, err := os.ReadFile(mj)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &raw))
	raw["version"] = 1
	for _, f := range raw["files"].([]any) {
		f := f.(map[string]any)
		f["path"] = filepath.Join(dir, "m", f["path"].(string))
	}
	b, err = json.Marshal(raw)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(mj, b, 0o644))
	info, err = ReadModel(context.Background(), "copy")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(info.Files[0].Path, "copy/"), "a version 1 copy reads %s", info.Files[0].Path)

	// A version 2 model.json that names a file elsewhere is refused.
	raw["version"] = 2
	raw["files"].([]any)[0].(map[string]any)["path"] = filepath.Join(dir, "m", "weights-00000-of-00002")
	b, err = json.Marshal(raw)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(mj, b, 0o644))
	_, err = ReadModel(context.Background(), "copy")
	require.ErrorContains(t, err, "not the name of a file in its directory")
}

// TestMovedWorkDirResumes stops a run after 2 iterations, moves its work
// dir and model dir, and resumes from the new place: the snapshots name
// their files relative to themselves, so the model equals one trained
// without a break.
func TestMovedWorkDirResumes(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, smallSynth)
	want, err := trainSmall(t, data, filepath.Join(dir, "straight"), filepath.Join(dir, "straight.work"), 4, false)
	require.NoError(t, err)
	_, err = trainSmall(t, data, filepath.Join(dir, "a"), filepath.Join(dir, "a.work"), 2, false)
	require.NoError(t, err)
	require.NoError(t, os.Rename(filepath.Join(dir, "a.work"), filepath.Join(dir, "b.work")))
	got, err := trainSmall(t, data, filepath.Join(dir, "b"), filepath.Join(dir, "b.work"), 4, true)
	require.NoError(t, err)
	require.Equal(t, want.History[len(want.History)-1].J, got.History[len(got.History)-1].J)
	require.Equal(t, readModelWeights(t, want.Model), readModelWeights(t, got.Model))
}

// TestOutputKeepsUsersFiles trains and predicts into directories holding
// files of the user's, some named like dpmr's: they are left as they were,
// while an earlier run's shard files of another count are replaced.
func TestOutputKeepsUsersFiles(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, smallSynth)
	out, preds := filepath.Join(dir, "m"), filepath.Join(dir, "p")
	users := map[string]string{
		filepath.Join(out, "weights-notes.txt"):        "my notes",
		filepath.Join(out, "README.md"):                "about this model",
		filepath.Join(out, "weights-1-of-2"):           "not a dpmr name",
		filepath.Join(preds, "predictions-notes.md"):   "my notes",
		filepath.Join(preds, "predictions-00001-of-x"): "not a dpmr name",
	}
	stale := []string{filepath.Join(out, "weights-00007-of-00008"), filepath.Join(preds, "predictions-00007-of-00008")}
	for path, text := range users {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	}
	for _, path := range stale {
		require.NoError(t, os.WriteFile(path, []byte("a\t1\n"), 0o644))
	}
	_, err := trainSmall(t, data, out, out+".work", 1, false)
	require.NoError(t, err)
	_, err = predictSmall(out, data, preds)
	require.NoError(t, err)
	for path, text := range users {
		b, err := os.ReadFile(path)
		require.NoError(t, err, "dpmr removed the user's %s", path)
		require.Equal(t, text, string(b))
	}
	for _, path := range stale {
		require.NoFileExists(t, path)
	}
}

// TestUnwritableOutputFailsBeforeWork gives an output or work dir that is
// a file: training fails at once, before the setup pipeline writes
// anything.
func TestUnwritableOutputFailsBeforeWork(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, smallSynth)
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	_, err := trainSmall(t, data, file, filepath.Join(dir, "w1"), 1, false)
	require.ErrorContains(t, err, "--output "+file+" is a file, not a directory")
	require.NoDirExists(t, filepath.Join(dir, "w1", "index"))
	_, err = trainSmall(t, data, filepath.Join(dir, "m"), filepath.Join(file, "work"), 1, false)
	require.ErrorContains(t, err, "--workdir "+filepath.Join(file, "work")+" cannot be created")
	_, err = predictSmall(filepath.Join(dir, "m"), data, file)
	require.Error(t, err)
}

// trainedOnce trains smallSynth for one iteration and returns its input,
// model and work dir, for a test of what --resume then does.
func trainedOnce(t *testing.T) (data, out, work string) {
	t.Helper()
	dir := t.TempDir()
	data = writeSynth(t, dir, smallSynth)
	out, work = filepath.Join(dir, "m"), filepath.Join(dir, "m.work")
	_, err := trainSmall(t, data, out, work, 1, false)
	require.NoError(t, err)
	return data, out, work
}

// TestResumeRefusesChangedInput: an input that changed since the run
// started is named, not trained on with the old index.
func TestResumeRefusesChangedInput(t *testing.T) {
	data, out, work := trainedOnce(t)
	_, err := trainSmall(t, data, out, work, 2, true)
	require.NoError(t, err, "resuming with the same input")
	f, err := os.OpenFile(data, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("1 f1:1\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = trainSmall(t, data, out, work, 3, true)
	require.ErrorContains(t, err, "--resume: input "+data+" changed")
}

// TestResumeRefusesAnOlderIndex: an index of the format before row ids
// (its block features are names) is refused with what to do, not read.
func TestResumeRefusesAnOlderIndex(t *testing.T) {
	data, out, work := trainedOnce(t)
	path := filepath.Join(work, "index", ManifestName)
	manifest, err := os.ReadFile(path)
	require.NoError(t, err)
	current := fmt.Sprintf(`"version": %d,`, manifestVersion)
	require.Contains(t, string(manifest), current)
	older := strings.Replace(string(manifest), current, fmt.Sprintf(`"version": %d,`, indexWithRowIDs-1), 1)
	require.NoError(t, os.WriteFile(path, []byte(older), 0o644))
	_, err = trainSmall(t, data, out, work, 2, true)
	require.ErrorContains(t, err, fmt.Sprintf("the index in %s was written by an older dpmr (snapshot format %d); use a new work dir", work, indexWithRowIDs-1))
}

// TestResumeRefusesPassesWithoutMargins: a subspace pass's snapshot that
// holds no block margins (an older dpmr's) is refused with what to do.
func TestResumeRefusesPassesWithoutMargins(t *testing.T) {
	data, out, work := trainedOnce(t)
	path := filepath.Join(passDir(work, 1), ManifestName)
	data1, err := os.ReadFile(path)
	require.NoError(t, err)
	var m Manifest
	require.NoError(t, json.Unmarshal(data1, &m))
	require.NotEmpty(t, m.Dataset("margins"))
	m.Files = m.Dataset("rows")
	older, err := json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, older, 0o644))
	_, err = trainSmall(t, data, out, work, 2, true)
	require.ErrorContains(t, err, fmt.Sprintf("the snapshot of pass 1 in %s holds no block margins", work))
}

// TestInputSpelledTwiceIsReadOnce: one file given as x.txt, ./x.txt and
// through a symbolic link is one input.
func TestInputSpelledTwiceIsReadOnce(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, smallSynth)
	t.Chdir(dir)
	require.NoError(t, os.Symlink("train.txt", "link.txt"))
	files, err := ExpandInputs(context.Background(), []string{"train.txt", "./train.txt", "link.txt", data})
	require.NoError(t, err)
	require.Len(t, files, 1)
}

// TestSettingsAreValidatedBeforeWork: values that would crash later are
// refused at once; a step that overflows the weights stops training with
// the pass and what to change.
func TestSettingsAreValidatedBeforeWork(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, smallSynth)
	run := func(p model.TrainParams, maxBad int64) error {
		_, err := Train(context.Background(), TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "w"),
			Output: filepath.Join(dir, "m"), Train: p, MaxBadLines: maxBad, Shards: 1, Run: runnerFor("direct")})
		return err
	}
	nan := math.NaN()
	require.ErrorContains(t, run(model.TrainParams{Lambda: 1, Tol: nan}, 0), "tol NaN must be a finite number")
	require.ErrorContains(t, run(model.TrainParams{Lambda: 1, GTol: nan}, 0), "gtol NaN must be a finite number")
	require.ErrorContains(t, run(model.TrainParams{Lambda: 1}, -1), "--max-bad-lines -1 must be >= 0")
	require.NoDirExists(t, filepath.Join(dir, "w"))
	err := run(model.TrainParams{Lambda: 1, Optimizer: model.GD, LearningRate: 1e300, Iterations: 3}, 0)
	require.ErrorContains(t, err, "the step planned after pass 0 overflows")
	require.NoFileExists(t, filepath.Join(dir, "m", ModelFileName))
}

// TestRowsDecodedInTheirFormat: rows listed by a snapshot of format 2 or
// older are read without U, those of format 3 (and rows this run wrote,
// which no manifest has listed yet) with it.
func TestRowsDecodedInTheirFormat(t *testing.T) {
	for format, noU := range map[int]bool{0: false, 1: true, 2: true, rowsWithU: false} {
		require.Equal(t, noU, rowsDecoder([]ShardFile{{Dataset: "rows", Format: format}}).NoU, "format %d", format)
	}
	m, err := parseManifest("/x/manifest.json", []byte(`{"version": 2, "files": [{"dataset": "rows", "path": "rows-00000-of-00001", "records": 1, "bytes": 1}]}`), false)
	require.NoError(t, err)
	require.True(t, rowsDecoder(m.Dataset("rows")).NoU)
}
