package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
	"github.com/dpmr/dpmr/transforms"
)

// weightsOutput runs dpmr weights on dir and returns what it prints.
func weightsOutput(t *testing.T, dir string, n int, lookup ...string) string {
	t.Helper()
	var b bytes.Buffer
	if err := runWeights(context.Background(), dir, n, lookup, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// writeWeightsModel writes a model directory of the given weights files,
// listed in model.json by name with their sizes and checksums as dpmr
// train lists them.
func writeWeightsModel(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	info := pipeline.ModelInfo{Format: pipeline.ModelFormat, Version: 2, Bias: true}
	for i, content := range files {
		name := pipeline.ShardName("weights", i, len(files))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		info.Files = append(info.Files, pipeline.ShardFile{Dataset: "weights", Path: name,
			Records: int64(strings.Count(content, "\n")), Bytes: int64(len(content)),
			CRC32C: crc32.Checksum([]byte(content), crc32.MakeTable(crc32.Castagnoli))})
	}
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pipeline.ModelFileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestWeightsTopIsFullSort trains a model in three weights files and
// requires dpmr weights --top N to print the first N of all its weights
// sorted whole, read here from the files directly, for N below, at and
// above the model's size; and --feature to find weights by name, equal to
// the files' and to the reference trainer's.
func TestWeightsTopIsFullSort(t *testing.T) {
	data, err := filepath.Abs("../../testdata/synth/train.txt")
	if err != nil {
		t.Fatal(err)
	}
	p := model.TrainParams{Lambda: 1, Bias: true, BlockSize: 1000, Iterations: 3, Tol: -1, GTol: -1, GapTol: -1}.WithDefaults()
	out := filepath.Join(t.TempDir(), "m")
	direct := func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		return beam.Run(ctx, "direct", p)
	}
	if _, err := pipeline.Train(context.Background(), pipeline.TrainConfig{
		Inputs: []string{data}, WorkDir: out + ".work", Output: out, Train: p,
		Sharding: transforms.ShardingParams{Threshold: 0}, Shards: 3, Partitions: 4, Run: direct,
	}); err != nil {
		t.Fatal(err)
	}

	var all []weight
	files, err := filepath.Glob(filepath.Join(out, "weights-*-of-00003"))
	if err != nil || len(files) != 3 {
		t.Fatalf("weights files %v, %v", files, err)
	}
	for _, f := range files {
		for _, line := range strings.Split(strings.TrimSuffix(string(mustRead(t, f)), "\n"), "\n") {
			name, val, _ := strings.Cut(line, "\t")
			w, err := strconv.ParseFloat(val, 64)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, weight{name, w})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := math.Abs(all[i].W), math.Abs(all[j].W)
		return a > b || a == b && all[i].Name < all[j].Name
	})
	for _, n := range []int{1, 10, len(all), len(all) + 5} {
		var want strings.Builder
		want.WriteString("rank\tfeature\tweight\n")
		for i, r := range all[:min(n, len(all))] {
			name := r.Name
			if name == "" {
				name = "(intercept)"
			}
			fmt.Fprintf(&want, "%d\t%s\t%s\n", i+1, name, strconv.FormatFloat(r.W, 'g', -1, 64))
		}
		if got := weightsOutput(t, out, n); got != want.String() {
			t.Errorf("--top %d printed\n%s\nwant\n%s", n, got, want.String())
		}
	}

	d, err := model.ReadDataset([]string{data}, p.Bias, p.BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := model.NewTrainer(d, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref.Train(nil)
	refW := ref.Weights()
	names := []string{all[0].Name, all[len(all)/2].Name, all[len(all)-1].Name, "(intercept)"}
	got := strings.Split(strings.TrimSuffix(weightsOutput(t, out, 0, names...), "\n"), "\n")
	if len(got) != len(names)+1 || got[0] != "feature\tweight\tnote" {
		t.Fatalf("--feature printed %q", got)
	}
	byName := map[string]float64{}
	for _, r := range all {
		byName[r.Name] = r.W
	}
	for i, name := range names {
		stored := name
		if name == "(intercept)" {
			stored = model.BiasName
		}
		want := fmt.Sprintf("%s\t%s\t", displayName(name), strconv.FormatFloat(byName[stored], 'g', -1, 64))
		if got[i+1] != want {
			t.Errorf("--feature %q printed %q, want %q", name, got[i+1], want)
		}
		if w := byName[stored]; math.Abs(w-refW[stored]) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%q weighs %v, the reference trainer %v", name, w, refW[stored])
		}
	}
}

// TestWeightsTiesAndIntercept: equal |w| rank by name, the intercept
// (empty name, first) shown as (intercept), whatever the files' order.
func TestWeightsTiesAndIntercept(t *testing.T) {
	a := "\t-2\na\t1\nb\t-1\n"
	b := "c\t1\nd\t0.5\ne\t2\n"
	want := "rank\tfeature\tweight\n1\t(intercept)\t-2\n2\te\t2\n3\ta\t1\n4\tb\t-1\n5\tc\t1\n"
	for _, dir := range []string{writeWeightsModel(t, a, b), writeWeightsModel(t, b, a)} {
		if got := weightsOutput(t, dir, 5); got != want {
			t.Errorf("printed\n%s\nwant\n%s", got, want)
		}
	}
}

// TestWeightsFeature looks features up by name: one the model lacks
// weighs 0 and says so; the intercept answers to "" and to (intercept),
// unless the data had a feature of that name; with --top too, both
// tables print.
func TestWeightsFeature(t *testing.T) {
	dir := writeWeightsModel(t, "\t0.25\nb\t-1.5\n", "a:x\t3e-07\n")
	got := weightsOutput(t, dir, 0, "a:x", "nope", "", "(intercept)", "b")
	want := "feature\tweight\tnote\na:x\t3e-07\t\nnope\t0\tnot in model\n(intercept)\t0.25\t\n(intercept)\t0.25\t\nb\t-1.5\t\n"
	if got != want {
		t.Errorf("printed\n%q\nwant\n%q", got, want)
	}
	got = weightsOutput(t, dir, 1, "nope")
	want = "rank\tfeature\tweight\n1\tb\t-1.5\n\nfeature\tweight\tnote\nnope\t0\tnot in model\n"
	if got != want {
		t.Errorf("--top 1 --feature nope printed\n%q\nwant\n%q", got, want)
	}
	// A real feature named (intercept) is found by that name; the
	// intercept by its own.
	dir = writeWeightsModel(t, "\t0.25\n(intercept)\t7\n")
	got = weightsOutput(t, dir, 0, "(intercept)", "")
	if want := "feature\tweight\tnote\n(intercept)\t7\t\n(intercept)\t0.25\t\n"; got != want {
		t.Errorf("printed\n%q\nwant\n%q", got, want)
	}
	// A model without an intercept has none to find.
	dir = writeWeightsModel(t, "a\t1\n")
	got = weightsOutput(t, dir, 0, "(intercept)")
	if want := "feature\tweight\tnote\n(intercept)\t0\tnot in model\n"; got != want {
		t.Errorf("printed\n%q\nwant\n%q", got, want)
	}
}

// TestWeightsLongName reads a feature name longer than the reader's
// buffer.
func TestWeightsLongName(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	dir := writeWeightsModel(t, "a\t1\n"+long+"\t-4\n")
	if got, want := weightsOutput(t, dir, 1), "rank\tfeature\tweight\n1\t"+long+"\t-4\n"; got != want {
		t.Errorf("printed %.40q..., want %.40q...", got, want)
	}
}

// TestWeightsDamaged: a model whose files do not match model.json, or
// whose lines are not weights, is refused with the file named, and
// nothing is printed.
func TestWeightsDamaged(t *testing.T) {
	content := "\t0.5\na\t1.25\nb\t-3\n"
	name := pipeline.ShardName("weights", 1, 2)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"one digit changed", func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, name), strings.Replace(content, "1.25", "1.35", 1))
		}, name + ": size or checksum differs from model.json"},
		{"cut short", func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, name), content[:len(content)-3])
		}, "the model is damaged"},
		{"missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}, "the model is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeWeightsModel(t, "c\t2\n", content)
			tc.damage(t, dir)
			var out bytes.Buffer
			err := runWeights(context.Background(), dir, 3, nil, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Join(dir, name)) {
				t.Errorf("got %v, want an error naming %s with %q", err, name, tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("printed %q", out.String())
			}
		})
	}
	// A line that is not feature<TAB>weight, in a file model.json
	// describes as it is.
	dir := writeWeightsModel(t, "a\t1\nb 2\n")
	err := runWeights(context.Background(), dir, 3, nil, io.Discard)
	want := filepath.Join(dir, pipeline.ShardName("weights", 0, 1)) + ":2: want feature<TAB>weight, a finite number"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if !errors.Is(func() error {
		dir := writeWeightsModel(t, content)
		rewrite(t, filepath.Join(dir, pipeline.ShardName("weights", 0, 1)), strings.Replace(content, "-3", "-4", 1))
		return runWeights(context.Background(), dir, 3, nil, io.Discard)
	}(), pipeline.ErrCorrupt) {
		t.Error("a changed weight is not reported as corrupt")
	}
}

func rewrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWeightsCopiedModel reads a copy of a model from its own files: the
// original, damaged after the copy, is not read.
func TestWeightsCopiedModel(t *testing.T) {
	orig := writeWeightsModel(t, "\t0.5\na\t1.25\n")
	cp := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(cp, os.DirFS(orig)); err != nil {
		t.Fatal(err)
	}
	rewrite(t, filepath.Join(orig, pipeline.ShardName("weights", 0, 1)), "garbage")
	if got, want := weightsOutput(t, cp, 2), "rank\tfeature\tweight\n1\ta\t1.25\n2\t(intercept)\t0.5\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}

func TestWeightsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--model is required"},
		{[]string{"--model", "m", "--top", "0"}, "--top must be >= 1, got 0"},
		{[]string{"--model", "m", "--top", "-3", "--feature", "a"}, "--top must be >= 1, got -3"},
	} {
		fs := flag.NewFlagSet("weights", flag.ContinueOnError)
		run := weightsSetup(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := run(); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want usage error %q", tc.args, err, tc.want)
		}
	}
	fs := flag.NewFlagSet("weights", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	weightsSetup(fs)
	if err := fs.Parse([]string{"--top", "x"}); err == nil {
		t.Error("--top x parsed")
	}
}
