package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/internal/chart"
	"github.com/dpmr/dpmr/internal/chart/charttest"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
	"github.com/dpmr/dpmr/transforms"
)

// runPlotCommand runs dpmr plot with args the way main does: setup, then
// parsing the arguments; the model directories follow the flags.
func runPlotCommand(t *testing.T, args ...string) error {
	t.Helper()
	fs := flag.NewFlagSet("dpmr plot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := plotSetup(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return run()
}

// pathVertices counts the points a path's d attribute draws.
func pathVertices(d string) int { return strings.Count(d, "M") + strings.Count(d, "L") }

// TestPlotTrainedModels trains three small models, one per optimizer, and
// plots them: one series per model, named by optimizer, each drawing
// every pass above the lowest J of all (the gap of the pass that reaches
// it is 0, which a log axis cannot show).
func TestPlotTrainedModels(t *testing.T) {
	dir := t.TempDir()
	data, err := filepath.Abs("../../testdata/synth/train.txt")
	if err != nil {
		t.Fatal(err)
	}
	direct := func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		return beam.Run(ctx, "direct", p)
	}
	var dirs []string
	var histories [][]model.Figures
	for _, tc := range []struct {
		name string
		p    model.TrainParams
	}{
		{"m-lbfgs", model.TrainParams{Optimizer: model.LBFGS, Iterations: 4}},
		{"m-gd", model.TrainParams{Optimizer: model.GD, Iterations: 3}},
		{"m-avg", model.TrainParams{Optimizer: model.Averaging, Iterations: 3}},
	} {
		tc.p.Lambda, tc.p.Bias, tc.p.BlockSize, tc.p.Tol, tc.p.GTol = 1, true, 1000, -1, -1
		out := filepath.Join(dir, tc.name)
		res, err := pipeline.Train(context.Background(), pipeline.TrainConfig{
			Inputs: []string{data}, WorkDir: out + ".work", Output: out, Train: tc.p,
			Sharding: transforms.ShardingParams{Threshold: 0}, Shards: 2, Partitions: 4, Run: direct,
		})
		if err != nil {
			t.Fatalf("training %s: %v", tc.name, err)
		}
		dirs = append(dirs, out)
		histories = append(histories, res.History)
	}
	jstar := math.Inf(1)
	for _, h := range histories {
		for _, f := range h {
			jstar = min(jstar, f.J)
		}
	}

	svg := filepath.Join(dir, "convergence.svg")
	// Model directories before and after the flags, as a user may type them.
	if err := runPlotCommand(t, "--output", svg, dirs[0], dirs[1], dirs[2]); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	doc := charttest.Parse(t, raw)
	names := []string{"lbfgs", "gd", "averaging (lr 0.1)"}
	if !slices.Equal(doc.Series, names) {
		t.Fatalf("series %q, want %q", doc.Series, names)
	}
	if len(doc.Paths) != len(names) {
		t.Fatalf("%d paths, want one per series", len(doc.Paths))
	}
	for i, h := range histories {
		above := 0
		for _, f := range h {
			if f.J > jstar {
				above++
			}
		}
		if above == len(h) && i == 0 {
			t.Errorf("lbfgs, the best optimizer, does not reach the lowest J")
		}
		if got := pathVertices(doc.Paths[i]); got != above {
			t.Errorf("%s: path draws %d points, want the %d passes above J* = %v", names[i], got, above, jstar)
		}
	}
	for _, want := range append(names, "(J - J*) / J* (log scale)", fmt.Sprintf("relative gap to the optimum J* = %.10g, by pass", jstar)) {
		if !slices.Contains(doc.Texts, want) {
			t.Errorf("no text %q among %q", want, doc.Texts)
		}
	}

	// J itself, on a linear axis: every pass is drawn.
	if err := runPlotCommand(t, "--relative=false", "--output", svg, dirs[1], dirs[2]); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	doc = charttest.Parse(t, raw)
	if !slices.Equal(doc.Series, names[1:]) || len(doc.Paths) != 2 {
		t.Fatalf("series %q paths %d, want gd and averaging", doc.Series, len(doc.Paths))
	}
	for i, h := range histories[1:] {
		if got := pathVertices(doc.Paths[i]); got != len(h) {
			t.Errorf("%s: J path draws %d points, want all %d passes", names[i+1], got, len(h))
		}
	}
}

// writeFixtureModel writes a model directory with no weights and the
// given training settings and history of J, one value per pass.
func writeFixtureModel(t *testing.T, dir string, p model.TrainParams, js ...float64) string {
	t.Helper()
	info := pipeline.ModelInfo{Format: pipeline.ModelFormat, Version: 1, Optimizer: p.Optimizer, Train: p}
	for i, j := range js {
		info.History = append(info.History, model.Figures{Pass: i, J: j})
	}
	if len(js) > 0 {
		info.J = js[len(js)-1]
	}
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pipeline.ModelFileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func lbfgsParams() model.TrainParams {
	return model.TrainParams{Lambda: 1, Bias: true, Optimizer: model.LBFGS}.WithDefaults()
}

// TestPlotOptimum checks the gaps against a given J*, the passes below it
// left out with a note, and the summary's passes to each gap.
func TestPlotOptimum(t *testing.T) {
	dir := t.TempDir()
	// Gaps 1, 0.1, 5e-3, 5e-5, 5e-7 to J* = 100.
	a := writeFixtureModel(t, filepath.Join(dir, "a"), lbfgsParams(), 200, 110, 100.5, 100.005, 100.00005)
	gd := lbfgsParams()
	gd.Optimizer = model.GD
	b := writeFixtureModel(t, filepath.Join(dir, "b"), gd, 200, 150, 120, 99)
	svg := filepath.Join(dir, "out.svg")
	var stdout, stderr bytes.Buffer
	o := plotOptions{Dirs: []string{a, b}, Optimum: 100, Relative: true}
	if err := runPlot(context.Background(), o, svg, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), b+" reaches J 99, below --optimum 100") {
		t.Errorf("no note on the pass below J*: %q", stderr.String())
	}
	if !strings.Contains(stdout.String(), "J* = 100 (--optimum)") {
		t.Errorf("summary lacks J*:\n%s", stdout.String())
	}
	// Per series: passes, the first pass to gaps 1e-2, 1e-4 and 1e-6, J
	// after 20 and 100 passes, the final J and gap.
	for _, want := range [][]string{
		{"lbfgs", "4", "2", "3", "4", "-", "-", "100.00005", "5.00e-07"},
		{"gd", "3", "3", "3", "3", "-", "-", "99.00000", "-1.00e-02"},
	} {
		found := false
		for _, line := range strings.Split(stdout.String(), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == want[0] {
				found = true
				if !slices.Equal(f, want) {
					t.Errorf("summary row %q, want %q", f, want)
				}
			}
		}
		if !found {
			t.Errorf("no summary row for %s:\n%s", want[0], stdout.String())
		}
	}
	models, err := readPlotModels(context.Background(), o.Dirs)
	if err != nil {
		t.Fatal(err)
	}
	c := plotChart(models, o, 100)
	if p := c.Panels[0]; !p.LogY || p.YLabel != "(J - J*) / J*" {
		t.Errorf("panel %q log %v, want the relative gap on a log axis", p.YLabel, p.LogY)
	}
	wantA := []chart.Point{{X: 0, Y: 1}, {X: 1, Y: 0.1}, {X: 2, Y: 5e-3}, {X: 3, Y: 5e-5}, {X: 4, Y: 5e-7}}
	if got := c.Panels[0].Series[0].Points; len(got) != len(wantA) {
		t.Fatalf("a: points %v, want %v", got, wantA)
	}
	for i, pt := range c.Panels[0].Series[0].Points {
		if pt.X != wantA[i].X || math.Abs(pt.Y-wantA[i].Y) > 1e-6*wantA[i].Y {
			t.Errorf("a: point %d is %v, want %v", i, pt, wantA[i])
		}
	}
	doc := charttest.Parse(t, mustRead(t, svg))
	if got := []int{pathVertices(doc.Paths[0]), pathVertices(doc.Paths[1])}; !slices.Equal(got, []int{5, 3}) {
		t.Errorf("paths draw %v points, want 5 and 3 (b's last pass is below J*)", got)
	}

	// Without --optimum, J* is the lowest J of all the histories: b's last.
	stdout.Reset()
	o.Optimum = 0
	if err := runPlot(context.Background(), o, svg, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "J* = 99 (lowest J of the histories)") {
		t.Errorf("summary lacks J* = 99:\n%s", stdout.String())
	}
	doc = charttest.Parse(t, mustRead(t, svg))
	if got := []int{pathVertices(doc.Paths[0]), pathVertices(doc.Paths[1])}; !slices.Equal(got, []int{5, 3}) {
		t.Errorf("paths draw %v points, want 5 and 3 (b's last pass is J*)", got)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPlotSeriesNames(t *testing.T) {
	with := func(f func(*model.TrainParams)) model.TrainParams {
		p := lbfgsParams()
		f(&p)
		return p
	}
	gd := with(func(p *model.TrainParams) { p.Optimizer = model.GD })
	avg := with(func(p *model.TrainParams) { p.Optimizer = model.Averaging })
	for _, tc := range []struct {
		name   string
		params []model.TrainParams
		dirs   []string
		want   []string
	}{
		{"three optimizers", []model.TrainParams{lbfgsParams(), gd, avg}, nil,
			[]string{"lbfgs", "gd", "averaging (lr 0.1)"}},
		{"learning rates", []model.TrainParams{avg, with(func(p *model.TrainParams) { p.Optimizer, p.LearningRate = model.Averaging, 0.01 }),
			gd, with(func(p *model.TrainParams) { p.Optimizer, p.LearningRate = model.GD, 0.5 })}, nil,
			[]string{"averaging (lr 0.1)", "averaging (lr 0.01)", "gd (lr 1/L)", "gd (lr 0.5)"}},
		{"block sizes", []model.TrainParams{avg, with(func(p *model.TrainParams) { p.Optimizer, p.BlockSize = model.Averaging, 1000 })}, nil,
			[]string{"averaging (lr 0.1, B 16384)", "averaging (lr 0.1, B 1000)"}},
		{"lambda and memory", []model.TrainParams{lbfgsParams(), with(func(p *model.TrainParams) { p.Lambda, p.Memory = 0.5, 5 }), gd}, nil,
			[]string{"lbfgs (lambda 1, memory 10)", "lbfgs (lambda 0.5, memory 5)", "gd (lambda 1)"}},
		{"bias", []model.TrainParams{lbfgsParams(), with(func(p *model.TrainParams) { p.Bias = false })}, nil,
			[]string{"lbfgs", "lbfgs (no bias)"}},
		{"same settings", []model.TrainParams{lbfgsParams(), lbfgsParams(), gd}, []string{"/runs/small", "/runs/big/", "/runs/gd"},
			[]string{"small", "big", "gd"}},
		{"same base names", []model.TrainParams{lbfgsParams(), lbfgsParams()}, []string{"/a/model", "/b/model"},
			[]string{"/a/model", "/b/model"}},
	} {
		var models []*plotModel
		for i, p := range tc.params {
			d := fmt.Sprintf("/m%d", i)
			if tc.dirs != nil {
				d = tc.dirs[i]
			}
			models = append(models, &plotModel{Dir: d, Info: &pipeline.ModelInfo{Optimizer: p.Optimizer, Train: p}})
		}
		nameSeries(models)
		var got []string
		for _, m := range models {
			got = append(got, m.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: names %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPlotErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFixtureModel(t, filepath.Join(dir, "good"), lbfgsParams(), 10, 5, 4)
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	noHistory := writeFixtureModel(t, filepath.Join(dir, "nohistory"), lbfgsParams())
	svg := filepath.Join(dir, "out.svg")
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no model dirs", []string{"--output", svg}, true, "name one or more model directories"},
		{"no output", []string{good}, true, "--output FILE.svg is required"},
		{"remote output", []string{"--output", "gs://bucket/x.svg", good}, true, "local file"},
		{"dir without a model", []string{"--output", svg, good, empty}, false, empty + " is not a dpmr model"},
		{"missing dir", []string{"--output", svg, filepath.Join(dir, "nope")}, false, "nope is not a dpmr model"},
		{"no history", []string{"--output", svg, noHistory}, false, "no training history"},
		{"dir twice", []string{"--output", svg, good, good + "/"}, true, "named twice"},
		{"unwritable output", []string{"--output", filepath.Join(dir, "no", "such", "dir", "x.svg"), good}, false, "writing the chart"},
		{"output is a directory", []string{"--output", empty, good}, false, "writing the chart"},
		{"bad optimum", []string{"--output", svg, "--optimum", "-3", good}, true, "--optimum must be a finite J > 0"},
		{"optimum without relative", []string{"--output", svg, "--optimum", "3", "--relative=false", good}, true, "--optimum is the J* of --relative"},
	} {
		err := runPlotCommand(t, tc.args...)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want it to say %q", tc.name, err, tc.want)
		}
		if errors.Is(err, errUsage) != tc.usage {
			t.Errorf("%s: error %q is a usage error: %v, want %v", tc.name, err, !tc.usage, tc.usage)
		}
	}
	if _, err := os.Stat(svg); !os.IsNotExist(err) {
		t.Errorf("a failed plot left %s behind", svg)
	}
}
