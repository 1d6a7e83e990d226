package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/pipeline"
)

func TestParseBenchSizes(t *testing.T) {
	cases := []struct {
		in   string
		want []int64
		bad  bool
	}{
		{in: "1M,10M,30M", want: []int64{1_000_000, 10_000_000, 30_000_000}},
		{in: "200k, 1.5M", want: []int64{200_000, 1_500_000}},
		{in: "5000", want: []int64{5000}},
		{in: "2g", want: []int64{2_000_000_000}},
		{in: "", bad: true},
		{in: "M", bad: true},
		{in: "-1M", bad: true},
		{in: "10", bad: true},
		{in: "1X", bad: true},
	}
	for _, tc := range cases {
		got, err := parseBenchSizes(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseBenchSizes(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseBenchSizes(%q): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Fatalf("parseBenchSizes(%q) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range got {
			if got[i].Nonzeros != tc.want[i] {
				t.Errorf("parseBenchSizes(%q)[%d] = %d, want %d", tc.in, i, got[i].Nonzeros, tc.want[i])
			}
		}
	}
}

// benchRunFor makes a run whose iteration takes wall seconds (CPU the
// same) on nnz nonzeros.
func benchRunFor(size, runner string, nnz int64, wall, setup float64, rss int64) benchRun {
	timing := pipeline.Timing{Wall: wall, CPU: wall}
	st := &pipeline.PrefixTimes{Overhead: pipeline.Timing{Wall: 0.1, CPU: 0.1}}
	for _, name := range pipeline.BenchStages {
		st.Stages = append(st.Stages, pipeline.StageTiming{Stage: name, Timing: pipeline.Timing{Wall: wall / 6, CPU: wall / 6}})
	}
	var flows []pipeline.Flow
	for _, name := range pipeline.BenchStages {
		flows = append(flows, pipeline.Flow{Stage: name, What: "x", Elements: nnz / 4, Bytes: nnz * 3})
	}
	return benchRun{
		Size: size, Runner: runner, Nonzeros: nnz, Iteration: timing,
		Setup:         &benchChildResult{Setup: &pipeline.Timing{Wall: setup, CPU: setup}, ExitRSS: rss},
		Pass:          &benchChildResult{Passes: []pipeline.Timing{timing, timing}, Stages: st, Flows: flows, Metered: &timing, PeakRSS: rss, ExitRSS: rss},
		SetupRate:     float64(nnz) / setup,
		IterationRate: float64(nnz) / wall, IterationCPU: float64(nnz) / wall,
		RSSAfterIter: rss, PeakRSS: rss,
	}
}

func TestBenchTargetsAndReport(t *testing.T) {
	sizes, err := parseBenchSizes("1M,10M,30M")
	if err != nil {
		t.Fatal(err)
	}
	c := benchConfig{Sizes: sizes, Runners: []string{"direct", "prism"}, Stages: true, Meter: "first",
		Zipf: 1.1, Features: 1_000_000, PerSample: 20, Bias: true, BlockSize: 16384}
	rep := &benchReport{Config: c, Runs: []benchRun{
		benchRunFor("1M", "direct", 1_000_000, 0.1, 0.4, 1e9),
		benchRunFor("1M", "prism", 1_000_000, 0.4, 0.4, 1e9),
		benchRunFor("10M", "direct", 10_000_000, 1, 4, 1.5e9),   // 10M nnz/s; setup 2.5M nnz/s
		benchRunFor("10M", "prism", 10_000_000, 10, 4, 3.5e9),   // 1M nnz/s; over 3 GB
		benchRunFor("30M", "direct", 30_000_000, 3.3, 12, 2e9),  // 1.1x of 1M per nonzero
		benchRunFor("30M", "prism", 30_000_000, 18, 12, 2.5e9)}} // 1.5x
	rep.Linearity = benchLinearities(c, rep.Runs)
	rep.Targets = benchTargets(c, rep)
	want := []string{"PASS", "MISS", "PASS", "MISS", "PASS", "MISS", "PASS"}
	if len(rep.Targets) != len(want) {
		t.Fatalf("got %d targets, want %d", len(rep.Targets), len(want))
	}
	for i, tg := range rep.Targets {
		if tg.Status != want[i] {
			t.Errorf("target %q: %s (%s), want %s", tg.Name, tg.Status, tg.Measured, want[i])
		}
	}
	if len(rep.Linearity) != 2 || rep.Linearity[0].From != "1M" || rep.Linearity[0].To != "30M" {
		t.Errorf("linearity %+v, want direct and prism, 30M over 1M", rep.Linearity)
	}

	var out bytes.Buffer
	writeBenchReport(&out, rep)
	for _, s := range append([]string{"iteration (Pass pipeline)", "30M prism", "Moved per iteration", "PASS", "MISS"},
		pipeline.BenchStages...) {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}
