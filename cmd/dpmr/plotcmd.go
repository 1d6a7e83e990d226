package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/dpmr/dpmr/internal/chart"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
)

func init() {
	register(command{name: "plot", summary: "draw J against passes for several trained models on one chart (SVG)", setup: plotSetup, args: "MODEL_DIR..."})
}

// plotOptions are dpmr plot's settings.
type plotOptions struct {
	Dirs []string // model directories, one series each
	// Optimum is J*; 0 takes the lowest J of all the histories.
	Optimum float64
	// Relative plots (J - J*)/J* on a log axis; otherwise J itself.
	Relative bool
	Title    string // "" for the default
}

// plotModel is one model directory's history, as drawn.
type plotModel struct {
	Dir  string
	Info *pipeline.ModelInfo
	Name string // the series' name
}

func plotSetup(fs *flag.FlagSet) func() error {
	output := fs.String("output", "", "SVG `FILE` to write (required)")
	optimum := fs.Float64("optimum", 0, "the optimum `J` the relative gap is measured from, e.g. the final J of a longer lbfgs run\n(default: the lowest J of all the histories)")
	relative := fs.Bool("relative", true, "plot (J - J*)/J* on a log axis; false plots J itself on a linear one")
	title := fs.String("title", "", "chart title (default: what is plotted, with J*)")
	fs.Usage = plotUsage(fs, fs.Usage)
	return func() error {
		o := plotOptions{Dirs: fs.Args(), Relative: *relative, Title: *title}
		if *output == "" {
			return usageError("--output FILE.svg is required")
		}
		if strings.Contains(*output, "://") {
			return usageError("--output must be a local file, not %s", *output)
		}
		if len(o.Dirs) == 0 {
			return usageError("name one or more model directories: dpmr plot --output FILE.svg MODEL_DIR...")
		}
		if flagSet(fs, "optimum") {
			if !o.Relative {
				return usageError("--optimum is the J* of --relative; with --relative=false J is plotted as it is")
			}
			if !(*optimum > 0) || math.IsInf(*optimum, 0) {
				return usageError("--optimum must be a finite J > 0, got %v", *optimum)
			}
			o.Optimum = *optimum
		}
		return runPlot(context.Background(), o, *output, os.Stdout, os.Stderr)
	}
}

// plotUsage adds the positional arguments to the command's help.
func plotUsage(fs *flag.FlagSet, base func()) func() {
	return func() {
		if base != nil {
			base()
		}
		fmt.Fprintf(fs.Output(), "\narguments:\n  MODEL_DIR...\n    \tthe trained models to draw, one series each, after the flags:\n"+
			"    \tdpmr plot --output FILE.svg [--optimum J] [--relative=true] MODEL_DIR...\n")
	}
}

// runPlot reads the models, draws the chart to output and prints a summary
// of each history: passes to reach relative gaps, and J at a few passes.
func runPlot(ctx context.Context, o plotOptions, output string, stdout, stderr io.Writer) error {
	models, err := readPlotModels(ctx, o.Dirs)
	if err != nil {
		return err
	}
	jstar, fromFlag := o.Optimum, o.Optimum > 0
	if !fromFlag {
		jstar = lowestJ(models)
	}
	if o.Relative && !(jstar > 0) {
		return fmt.Errorf("the lowest J of the histories is %v; the relative gap needs J* > 0 (give --optimum or --relative=false)", jstar)
	}
	if fromFlag {
		for _, m := range models {
			if low := lowestJ([]*plotModel{m}); low < jstar {
				fmt.Fprintf(stderr, "dpmr plot: note: %s reaches J %.10g, below --optimum %.10g; those passes are not drawn\n", m.Dir, low, jstar)
			}
		}
	}
	c := plotChart(models, o, jstar)
	var b bytes.Buffer
	if err := chart.Write(&b, c); err != nil {
		return err
	}
	if err := os.WriteFile(output, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the chart: %w", err)
	}
	writePlotSummary(stdout, models, jstar, fromFlag)
	fmt.Fprintf(stdout, "chart: %s\n", output)
	return nil
}

// readPlotModels reads each directory's model.json and names the series.
func readPlotModels(ctx context.Context, dirs []string) ([]*plotModel, error) {
	seen := map[string]bool{}
	var models []*plotModel
	for _, d := range dirs {
		key := strings.TrimRight(d, "/")
		if seen[key] {
			return nil, usageError("model directory %s is named twice", d)
		}
		seen[key] = true
		info, err := pipeline.ReadModel(ctx, d)
		if err != nil {
			return nil, err
		}
		if len(info.History) == 0 {
			return nil, fmt.Errorf("%s: model.json has no training history", d)
		}
		models = append(models, &plotModel{Dir: d, Info: info})
	}
	nameSeries(models)
	return models, nil
}

// nameSeries names each model's series by its optimizer and the settings
// that tell it apart from the others': within one optimizer, those that
// differ (learning rate, block size B, memory); across all, lambda and the
// bias when they differ; averaging always shows its learning rate, which
// its result depends on. Models the settings cannot tell apart are named
// by their directory.
func nameSeries(models []*plotModel) {
	differs := func(same func(a, b model.TrainParams) bool, filter func(*plotModel) bool) bool {
		var first *model.TrainParams
		for _, m := range models {
			if !filter(m) {
				continue
			}
			if first == nil {
				first = &m.Info.Train
			} else if !same(*first, m.Info.Train) {
				return true
			}
		}
		return false
	}
	all := func(*plotModel) bool { return true }
	for _, m := range models {
		p := m.Info.Train
		sameOpt := func(o *plotModel) bool { return o.Info.Train.Optimizer == p.Optimizer }
		var parts []string
		if differs(func(a, b model.TrainParams) bool { return a.Lambda == b.Lambda }, all) {
			parts = append(parts, "lambda "+fmtFloat(p.Lambda))
		}
		if differs(func(a, b model.TrainParams) bool { return a.Bias == b.Bias }, all) && !p.Bias {
			parts = append(parts, "no bias")
		}
		// The settings that change this method's path, where they
		// differ between its runs; a local SGD step always, since it
		// moves the method's fixed point. Defaults filled in: a model
		// written before averaging's default step was recorded has 0.
		needs := model.Needs{}
		if method, err := model.MethodNamed(p.Optimizer); err == nil {
			needs = method.Needs()
			p = p.WithDefaults()
		}
		if needs.UsesLearningRate && (needs.LocalSGD || differs(func(a, b model.TrainParams) bool { return a.LearningRate == b.LearningRate }, sameOpt)) {
			if p.LearningRate > 0 {
				parts = append(parts, "lr "+fmtFloat(p.LearningRate))
			} else {
				parts = append(parts, "lr 1/L")
			}
		}
		if needs.UsesMemory && differs(func(a, b model.TrainParams) bool { return a.Memory == b.Memory }, sameOpt) {
			parts = append(parts, "memory "+strconv.Itoa(p.Memory))
		}
		if needs.UsesBlockSize && differs(func(a, b model.TrainParams) bool { return a.BlockSize == b.BlockSize }, sameOpt) {
			parts = append(parts, "B "+strconv.Itoa(p.BlockSize))
		}
		m.Name = p.Optimizer
		if len(parts) > 0 {
			m.Name += " (" + strings.Join(parts, ", ") + ")"
		}
	}
	// Same names: the directory's base name, or the path as given when
	// those agree too.
	byName := map[string][]*plotModel{}
	for _, m := range models {
		byName[m.Name] = append(byName[m.Name], m)
	}
	bases := map[string]int{}
	for _, m := range models {
		bases[path.Base(strings.TrimRight(m.Dir, "/"))]++
	}
	for _, group := range byName {
		if len(group) < 2 {
			continue
		}
		for _, m := range group {
			base := path.Base(strings.TrimRight(m.Dir, "/"))
			if bases[base] > 1 {
				base = m.Dir
			}
			m.Name = base
		}
	}
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// lowestJ is the lowest finite J of the models' histories, or +Inf.
func lowestJ(models []*plotModel) float64 {
	low := math.Inf(1)
	for _, m := range models {
		for _, f := range m.Info.History {
			if !math.IsNaN(f.J) && !math.IsInf(f.J, 0) {
				low = min(low, f.J)
			}
		}
	}
	return low
}

// plotChart is the chart of the models' histories: the relative gap to
// jstar (log axis; passes at or below J* are not drawn) or J by pass.
func plotChart(models []*plotModel, o plotOptions, jstar float64) chart.Chart {
	var series []chart.Series
	for _, m := range models {
		s := chart.Series{Name: m.Name}
		for _, f := range m.Info.History {
			y := f.J
			if o.Relative {
				y = (f.J - jstar) / jstar
			}
			s.Points = append(s.Points, chart.Point{X: float64(f.Pass), Y: y})
		}
		series = append(series, s)
	}
	c := chart.Chart{XLabel: "pass (iteration: one pass over the data each)"}
	panel := chart.Panel{Series: series}
	if o.Relative {
		panel.YLabel, panel.LogY = "(J - J*) / J*", true
		c.Title = fmt.Sprintf("relative gap to the optimum J* = %.10g, by pass", jstar)
	} else {
		panel.YLabel = "J"
		c.Title = "objective J by pass"
	}
	if o.Title != "" {
		c.Title = o.Title
	}
	c.Panels = []chart.Panel{panel}
	return c
}

// plotGaps are the relative gaps the summary reports the first pass to reach.
var plotGaps = []float64{1e-2, 1e-4, 1e-6}

// plotPasses are the passes the summary reports J at.
var plotPasses = []int{20, 100}

// writePlotSummary prints, per model, the first pass whose gap to jstar is
// at most each of plotGaps ("-" if none) and J after plotPasses.
func writePlotSummary(w io.Writer, models []*plotModel, jstar float64, fromFlag bool) {
	src := "lowest J of the histories"
	if fromFlag {
		src = "--optimum"
	}
	fmt.Fprintf(w, "J* = %.10g (%s)\n", jstar, src)
	width := len("series")
	for _, m := range models {
		width = max(width, len(m.Name))
	}
	fmt.Fprintf(w, "%-*s  %6s", width, "series", "passes")
	for _, g := range plotGaps {
		fmt.Fprintf(w, "  %9s", "gap<="+chart.ShortExp(strconv.FormatFloat(g, 'e', 0, 64)))
	}
	for _, p := range plotPasses {
		fmt.Fprintf(w, "  %16s", "J@"+strconv.Itoa(p))
	}
	fmt.Fprintf(w, "  %16s  %9s\n", "final J", "final gap")
	for _, m := range models {
		h := m.Info.History
		last := h[len(h)-1]
		fmt.Fprintf(w, "%-*s  %6d", width, m.Name, last.Pass)
		for _, g := range plotGaps {
			at := "-"
			for _, f := range h {
				if jstar > 0 && (f.J-jstar)/jstar <= g {
					at = strconv.Itoa(f.Pass)
					break
				}
			}
			fmt.Fprintf(w, "  %9s", at)
		}
		for _, p := range plotPasses {
			at := "-"
			for _, f := range h {
				if f.Pass == p {
					at = strconv.FormatFloat(f.J, 'f', 5, 64)
				}
			}
			fmt.Fprintf(w, "  %16s", at)
		}
		fmt.Fprintf(w, "  %16.5f  %9.2e\n", last.J, (last.J-jstar)/jstar)
	}
}
