package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/internal/benchlimit"
	"github.com/dpmr/dpmr/model"
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
	for _, name := range pipeline.MeteredStages {
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
	sizes, err := parseBenchSizes("1M,10M,100M")
	if err != nil {
		t.Fatal(err)
	}
	c := benchConfig{Sizes: sizes, Runners: []string{"direct", "prism"}, Stages: true, Meter: "first",
		Reference: true, Limit: true, Zipf: 1.1, Features: 1_000_000, PerSample: 20, Bias: true, BlockSize: 16384, Pass: 1}
	rep := &benchReport{Config: c, Runs: []benchRun{
		benchRunFor("1M", "direct", 1_000_000, 0.1, 0.4, 1e9),
		benchRunFor("1M", "prism", 1_000_000, 0.4, 0.4, 1e9),
		benchRunFor("10M", "direct", 10_000_000, 1, 1.5, 0.9e9),   // 4x the limit; setup 6.7M nnz/s
		benchRunFor("10M", "prism", 10_000_000, 4, 4, 2.5e9),      // 16x the limit; over 2 GB
		benchRunFor("100M", "direct", 100_000_000, 11, 15, 3e9),   // 1.1x of 10M per nonzero
		benchRunFor("100M", "prism", 100_000_000, 60, 40, 4.5e9)}} // 1.5x; over 4 GB
	// Per size: the reference's pass is 3x the limit's.
	for k, size := range sizes {
		limit := pipeline.Timing{Wall: float64(size.Nonzeros) / 40e6, CPU: float64(size.Nonzeros) / 40e6}
		ref := pipeline.Timing{Wall: 3 * limit.Wall, CPU: 3 * limit.CPU}
		rep.Limits = append(rep.Limits, benchLimit{Size: size.Label, Pass: limit, Rate: 40e6,
			Child: &benchChildResult{Load: &limit, Limit: &benchLimitPass{Pass: limit}}, LossRelDiff: 1e-15})
		rep.References = append(rep.References, benchReference{Size: size.Label, Iteration: ref,
			Child: &benchChildResult{Load: &ref, Passes: []pipeline.Timing{ref, ref}}, LimitRatioWall: 3, LimitRatioCPU: 3})
		for i := range rep.Runs {
			if r := &rep.Runs[i]; r.Size == size.Label {
				r.ReferenceIndex, r.LimitIndex = k, k
				r.RatioWall, r.RatioCPU = r.Iteration.Wall/ref.Wall, r.Iteration.CPU/ref.CPU
				r.LimitRatioWall, r.LimitRatioCPU = r.Iteration.Wall/limit.Wall, r.Iteration.CPU/limit.CPU
			}
		}
	}
	rep.Linearity = benchLinearities(c, rep.Runs)
	rep.Targets = benchTargets(c, rep)
	want := []string{
		"PASS", "MISS", // iteration / limit: direct, prism
		"MISS",         // reference / limit
		"PASS",         // setup
		"PASS", "MISS", // 10M RSS: direct, prism
		"PASS", "PASS", // 100M direct: per nonzero, RSS
		"MISS", "MISS", // 100M prism
		"info", "info", // iteration / reference: direct, prism
	}
	if len(rep.Targets) != len(want) {
		t.Fatalf("got %d targets, want %d: %+v", len(rep.Targets), len(want), rep.Targets)
	}
	for i, tg := range rep.Targets {
		if tg.Status != want[i] {
			t.Errorf("target %q: %s (%s), want %s", tg.Name, tg.Status, tg.Measured, want[i])
		}
	}
	if len(rep.Linearity) != 2 || rep.Linearity[0].From != "1M" || rep.Linearity[0].To != "100M" {
		t.Errorf("linearity %+v, want direct and prism, 100M over 1M", rep.Linearity)
	}

	// Without the 100M runs the linearity targets cannot be judged.
	small := c
	small.Sizes = sizes[:2]
	for _, tg := range benchTargets(small, &benchReport{Config: small, Runs: rep.Runs[:4], References: rep.References[:2], Limits: rep.Limits[:2]}) {
		if strings.Contains(tg.Name, "100M") && tg.Status != "n/a" {
			t.Errorf("target %q without a 100M run: %s", tg.Name, tg.Status)
		}
	}

	rep.Config.PlanWorkers = []int{33}
	rep.Runs[0].Pass.Plan = []pipeline.PlanCheck{{TimedKeys: 256,
		Predicted: pipeline.StagePlan{Stage: "DistributeParameters", Sharded: true, Workers: 33, Keys: 256, Balance: 1.43, Speedup: 23},
		Measured:  pipeline.StagePlan{Stage: "DistributeParameters", Sharded: true, Workers: 33, Keys: 256, Balance: 1.54, Speedup: 21.5}}}
	var out bytes.Buffer
	writeBenchReport(&out, rep)
	for _, s := range append([]string{"iteration (Pass pipeline)", "100M prism", "Moved per iteration", "PASS", "MISS",
		"dpmr plan against the measured iteration", "256 (256)", "1.43 / 1.54", "23.0 / 21.5",
		"limit pass (in-memory CSR gradient)", "ratio iteration/limit", "ratio reference/limit", "4.0x / 4.0x", "16x / 16x", "3.0x / 3.0x", "loss vs N log 2 (rel.; plain sum)",
		"bytes shuffled per nonzero", "nonzeros per element shuffled", "Targets (issue 14)", pipeline.FirstTrip},
		pipeline.BenchStages...) {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
	// benchRunFor's flows: 3 bytes per nonzero in each stage but
	// ReadIndex and Write.
	perNNZ := fmt.Sprintf("%.1f", 3.0*float64(len(pipeline.MeteredStages)-2))
	if !regexp.MustCompile(`bytes shuffled per nonzero\s+` + regexp.QuoteMeta(perNNZ) + `\s`).MatchString(out.String()) {
		t.Errorf("report's bytes shuffled per nonzero is not %s:\n%s", perNNZ, out.String())
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("the report does not marshal: %v", err)
	}
}

// TestBenchLimitPass runs the limit child on a small data set, in this
// process, and checks the limit pass against model's data: at w = 0 the
// loss is N log 2, and at w = 0 and elsewhere the loss and every
// coordinate of the gradient are model.Objective's, the textbook formula
// over the reference trainer's own data.
func TestBenchLimitPass(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "train.txt")
	f, err := os.Create(data)
	if err != nil {
		t.Fatal(err)
	}
	st, err := model.Synthesize(f, model.SynthParams{Samples: 3000, Features: 2000, PerSample: 8, Zipf: 1.1, Noise: 0.05, Seed: 5})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	train := benchConfig{BlockSize: 256, Bias: true}.train()
	spec := benchChildSpec{Phase: "limit", Inputs: []string{data}, Train: train, Result: filepath.Join(dir, "limit.result.json")}
	specPath := filepath.Join(dir, "limit.spec.json")
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runBenchChild(specPath); err != nil {
		t.Fatalf("limit child: %v", err)
	}
	if js, err = os.ReadFile(spec.Result); err != nil {
		t.Fatal(err)
	}
	var res benchChildResult
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatal(err)
	}

	l := res.Limit
	if l == nil || res.Load == nil {
		t.Fatalf("the limit child reported no limit pass: %+v", res)
	}
	if !(l.Pass.Wall > 0) || l.Pass.CPU < 0 || len(l.Runs) != benchLimitRepeat {
		t.Errorf("limit pass %+v of %d runs, want a positive time of %d runs", l.Pass, len(l.Runs), benchLimitRepeat)
	}
	for _, r := range l.Runs {
		if r.Wall < l.Pass.Wall {
			t.Errorf("limit pass %v is not the fastest of %v", l.Pass, l.Runs)
		}
	}
	if l.Rows != int(st.Samples) || l.Nonzeros != st.Nonzeros+st.Samples {
		t.Errorf("limit pass over %d rows and %d nonzeros, want %d and %d (the intercept's included)",
			l.Rows, l.Nonzeros, st.Samples, st.Nonzeros+st.Samples)
	}
	if want := float64(st.Samples) * math.Ln2; relDiff(l.Loss, want) > 1e-12 {
		t.Errorf("limit loss at w = 0: %.17g, want N log 2 = %.17g", l.Loss, want)
	}

	m, err := benchlimit.Load([]string{data}, true)
	if err != nil {
		t.Fatal(err)
	}
	d, err := model.ReadDataset([]string{data}, true, train.BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Names) != m.NumFeatures() || d.Nonzeros != m.Nonzeros() {
		t.Fatalf("limit data: %d features, %d nonzeros; model's: %d, %d", m.NumFeatures(), m.Nonzeros(), len(d.Names), d.Nonzeros)
	}
	for _, scale := range []float64{0, 0.3} {
		w, dw := make([]float64, m.NumFeatures()), make([]float64, len(d.Names))
		for j, name := range m.Names {
			w[j] = scale * math.Sin(float64(j))
			k, ok := slices.BinarySearch(d.Names, name)
			if !ok {
				t.Fatalf("feature %q is not in model's data", name)
			}
			dw[k] = w[j]
		}
		grad, dgrad := make([]float64, len(w)), make([]float64, len(dw))
		loss := m.Pass(w, grad)
		if scale == 0 && relDiff(loss, l.Loss) != 0 {
			t.Errorf("loss at w = 0: %.17g here, %.17g in the child", loss, l.Loss)
		}
		// lambda 0: the data loss and its gradient.
		if want := model.Objective(d, dw, 0, true, dgrad); relDiff(loss, want) > 1e-12 {
			t.Errorf("w scale %g: loss %.17g, model.Objective's %.17g", scale, loss, want)
		}
		for j, name := range m.Names {
			k, _ := slices.BinarySearch(d.Names, name)
			if math.Abs(grad[j]-dgrad[k]) > 1e-12*math.Max(1, math.Abs(dgrad[k])) {
				t.Errorf("w scale %g: gradient of %s %.17g, model.Objective's %.17g", scale, name, grad[j], dgrad[k])
			}
		}
	}
}
