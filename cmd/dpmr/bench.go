package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/internal/benchlimit"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register(command{name: "bench", summary: "measure setup and one iteration, per stage, on synthetic data against the reference trainer", setup: benchSetup})
}

// benchChildFlag is how dpmr bench runs one measurement in a process of
// its own: it re-executes this binary as "dpmr bench --bench-child=SPEC".
// It is registered before main takes its snapshot of Beam's flags, so no
// command's help lists it.
var benchChildFlag = flag.String("bench-child", "", "internal to dpmr bench: run the measurement described in `FILE`")

// benchSizes are the data set sizes of the issue, in nonzeros.
const benchDefaultSizes = "1M,10M,30M"

func benchSetup(fs *flag.FlagSet) func() error {
	sizes := fs.String("sizes", benchDefaultSizes, "data set sizes in nonzeros, comma-separated (k, M, G suffixes)")
	runnerList := fs.String("runners", "direct,prism", "runners to measure, comma-separated: direct, prism")
	dir := fs.String("dir", filepath.Join(os.TempDir(), "dpmr-bench"), "`DIR` for the data sets (kept and reused when their parameters match) and the work dirs")
	perSample := fs.Float64("per-sample", 20, "mean nonzeros per sample (the intercept not counted)")
	features := fs.Int64("features", 1_000_000, "feature vocabulary size")
	zipf := fs.Float64("zipf", 1.1, "Zipf exponent of feature frequencies")
	seed := fs.Uint64("seed", 1, "data set seed")
	bias := fs.Bool("bias", true, "fit an intercept")
	blockSize := fs.Int("block-size", 16384, "input lines per sample block")
	optimizer := fs.String("optimizer", model.Subspace, "optimizer of the measured pass: subspace, lbfgs, gd or averaging")
	shardThreshold := fs.Int64("shard-threshold", -1, "postings above which a feature is sharded (0: never; -1: derived)")
	shards := fs.Int("shards", 8, "files per snapshot dataset")
	partitions := fs.Int("partitions", 0, "parameter partitions (0: derived from the input's size, as train does)")
	stages := fs.Bool("stages", true, "time each stage of the iteration with prefix pipelines")
	meter := fs.String("meter", "first", "count what each stage moves with a metered pass on: first (the first runner\nof each size; the counts do not depend on the runner), all, or none")
	repeat := fs.Int("repeat", 1, "runs of each prefix pipeline, the fastest kept")
	reference := fs.Bool("reference", true, "run the in-memory reference trainer's pass on each data set")
	limit := fs.Bool("limit", true, "time the limit pass on each data set: the gradient over the data as one\nin-memory CSR matrix, dense weights, one thread")
	jsonOut := fs.String("json", "", "also write every figure as JSON to `FILE`")
	profile := fs.String("profile", "", "write a CPU profile of each setup, measured iteration and reference pass into `DIR`")
	pass := fs.Int("pass", 1, "the pass to measure, `N` >= 1: pass 1 is the first iteration, where subspace's and lbfgs's\nrows hold no history yet; a later pass carries it (--memory steps or pairs per row)")
	keep := fs.Bool("keep", false, "keep the snapshots of each configuration")
	planWorkers := fs.String("plan-workers", "", "worker counts, comma-separated: time every key of the keyed stages in the\nmeasured iteration and compare dpmr plan's predicted balance on that many workers\nwith the balance of the measured key times")
	return func() error {
		if *benchChildFlag != "" {
			return runBenchChild(*benchChildFlag)
		}
		cfg := benchConfig{
			Dir: *dir, PerSample: *perSample, Features: *features, Zipf: *zipf, Seed: *seed,
			Bias: *bias, BlockSize: *blockSize, Optimizer: *optimizer, ShardThreshold: *shardThreshold, Shards: *shards, Partitions: int32(*partitions),
			Stages: *stages, Meter: *meter, Repeat: *repeat, Reference: *reference, Limit: *limit, Profile: *profile, Keep: *keep, Pass: *pass,
		}
		for _, part := range splitList(*planWorkers) {
			w, err := strconv.Atoi(part)
			if err != nil || w < 1 {
				return usageError("--plan-workers: %q is not a worker count", part)
			}
			cfg.PlanWorkers = append(cfg.PlanWorkers, w)
		}
		if err := cfg.train().Validate(); err != nil {
			return usageError("%v", err)
		}
		if *meter != "first" && *meter != "all" && *meter != "none" {
			return usageError("--meter must be first, all or none")
		}
		var err error
		if cfg.Sizes, err = parseBenchSizes(*sizes); err != nil {
			return usageError("--sizes: %v", err)
		}
		for _, r := range splitList(*runnerList) {
			if r != "direct" && r != "prism" {
				return usageError("--runners: %q is not direct or prism (peak RSS is only meaningful for in-process runners)", r)
			}
			cfg.Runners = append(cfg.Runners, r)
		}
		if len(cfg.Runners) == 0 {
			return usageError("--runners is empty")
		}
		for _, r := range cfg.Runners {
			if r == "prism" {
				fmt.Fprintln(os.Stderr, runners.PrismWarning)
			}
		}
		synth := cfg.synth(1)
		if err := synth.Validate(); err != nil {
			return usageError("%v", err)
		}
		if *shards < 1 || *repeat < 1 || *blockSize < 1 || *pass < 1 {
			return usageError("--shards, --repeat, --block-size and --pass must be >= 1")
		}
		if *partitions < 0 {
			return usageError("--partitions must be >= 0")
		}
		cfg.Command = benchCommandLine(fs)
		rep, err := runBench(context.Background(), cfg, os.Stderr)
		if err != nil {
			return err
		}
		writeBenchReport(os.Stdout, rep)
		if *jsonOut != "" {
			data, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}

// benchCommandLine is the command as given, for the record.
func benchCommandLine(fs *flag.FlagSet) string {
	parts := []string{"dpmr bench"}
	fs.Visit(func(f *flag.Flag) { parts = append(parts, "--"+f.Name+"="+f.Value.String()) })
	return strings.Join(parts, " ")
}

// benchSize is a data set size: its label as given and its nonzeros.
type benchSize struct {
	Label    string `json:"label"`
	Nonzeros int64  `json:"nonzeros"`
}

// parseBenchSizes parses "1M,10M,30M", "200k", "1.5M" or plain counts.
func parseBenchSizes(s string) ([]benchSize, error) {
	var out []benchSize
	for _, p := range splitList(s) {
		mult := 1.0
		num := p
		switch strings.ToUpper(p[len(p)-1:]) {
		case "K":
			mult, num = 1e3, p[:len(p)-1]
		case "M":
			mult, num = 1e6, p[:len(p)-1]
		case "G":
			mult, num = 1e9, p[:len(p)-1]
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%q is not a positive count such as 1M or 200k", p)
		}
		n := int64(math.Round(v * mult))
		if n < 100 {
			return nil, fmt.Errorf("%q: at least 100 nonzeros", p)
		}
		out = append(out, benchSize{Label: p, Nonzeros: n})
	}
	if len(out) == 0 {
		return nil, errors.New("no sizes")
	}
	return out, nil
}

// benchConfig is what dpmr bench was asked to measure.
type benchConfig struct {
	Command        string      `json:"command"`
	Sizes          []benchSize `json:"sizes"`
	Runners        []string    `json:"runners"`
	Dir            string      `json:"dir"`
	PerSample      float64     `json:"per_sample"`
	Features       int64       `json:"features"`
	Zipf           float64     `json:"zipf"`
	Seed           uint64      `json:"seed"`
	Bias           bool        `json:"bias"`
	BlockSize      int         `json:"block_size"`
	Optimizer      string      `json:"optimizer"`
	ShardThreshold int64       `json:"shard_threshold"`
	Shards         int         `json:"shards"`
	Partitions     int32       `json:"partitions"`
	Stages         bool        `json:"stages"`
	Meter          string      `json:"meter"`
	Repeat         int         `json:"repeat"`
	Reference      bool        `json:"reference"`
	Limit          bool        `json:"limit"`
	Profile        string      `json:"profile,omitempty"`
	PlanWorkers    []int       `json:"plan_workers,omitempty"`
	Pass           int         `json:"pass"` // the pass measured
	Keep           bool        `json:"-"`
}

// benchNoise is the label noise of the bench's data sets, dpmr gen's
// default.
const benchNoise = 0.05

func (c benchConfig) synth(samples int64) model.SynthParams {
	return model.SynthParams{Samples: samples, Features: c.Features, PerSample: c.PerSample, Zipf: c.Zipf,
		Noise: benchNoise, Seed: c.Seed}
}

func (c benchConfig) train() model.TrainParams {
	return model.TrainParams{Lambda: 1, Bias: c.Bias, BlockSize: c.BlockSize, Optimizer: c.Optimizer}.WithDefaults()
}

// benchData is one generated data set.
type benchData struct {
	Size   benchSize         `json:"size"`
	Path   string            `json:"path"`
	Params model.SynthParams `json:"params"`
	Stats  model.SynthStats  `json:"stats"`
}

// ensureBenchData writes the data set of a size, or reuses the file a
// previous run wrote with the same parameters.
func ensureBenchData(ctx context.Context, c benchConfig, size benchSize, log io.Writer) (benchData, error) {
	samples := max(1, int64(math.Round(float64(size.Nonzeros)/c.PerSample)))
	p := c.synth(samples)
	name := fmt.Sprintf("synth-n%d-f%d-k%g-z%g-noise%g-s%d", p.Samples, p.Features, p.PerSample, p.Zipf, p.Noise, p.Seed)
	d := benchData{Size: size, Path: filepath.Join(c.Dir, name+".txt"), Params: p}
	side := filepath.Join(c.Dir, name+".json")
	if data, err := os.ReadFile(side); err == nil {
		var prev benchData
		fi, serr := os.Stat(d.Path)
		if json.Unmarshal(data, &prev) == nil && serr == nil && prev.Params == p && fi.Size() == prev.Stats.Bytes {
			d.Stats = prev.Stats
			fmt.Fprintf(log, "bench: %s: reusing %s\n", size.Label, d.Path)
			return d, nil
		}
	}
	fmt.Fprintf(log, "bench: %s: writing %s (%d samples)\n", size.Label, d.Path, p.Samples)
	s, err := model.NewSynth(p)
	if err != nil {
		return d, err
	}
	if d.Stats, err = writeShards(ctx, s, d.Path, 1); err != nil {
		return d, err
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return d, err
	}
	return d, os.WriteFile(side, append(data, '\n'), 0o644)
}

// benchChildSpec is one measurement run in a child process.
type benchChildSpec struct {
	Phase          string            `json:"phase"` // "setup", "pass", "reference" or "limit"
	Runner         string            `json:"runner,omitempty"`
	Inputs         []string          `json:"inputs"`
	WorkDir        string            `json:"workdir,omitempty"`
	Train          model.TrainParams `json:"train"`
	ShardThreshold int64             `json:"shard_threshold"`
	Shards         int               `json:"shards"`
	Partitions     int32             `json:"partitions"`
	Stages         bool              `json:"stages"`
	Meter          bool              `json:"meter"`
	Repeat         int               `json:"repeat"`
	Profile        string            `json:"profile,omitempty"` // CPU profile of the measured iteration
	PlanWorkers    []int             `json:"plan_workers,omitempty"`
	Pass           int               `json:"pass"`   // the pass measured, after passes 0..Pass-1
	Result         string            `json:"result"` // where the child writes its benchChildResult
}

// benchChildResult is what a child measured. Pass 0 evaluates the
// starting point; pass 1 is the first iteration; the last pass run is the
// one measured (benchChildSpec.Pass).
type benchChildResult struct {
	Meta     *pipeline.IndexMeta   `json:"index,omitempty"`
	Setup    *pipeline.Timing      `json:"setup,omitempty"`
	Load     *pipeline.Timing      `json:"load,omitempty"` // reference and limit: reading the data
	Limit    *benchLimitPass       `json:"limit,omitempty"`
	Passes   []pipeline.Timing     `json:"passes,omitempty"`
	J        []float64             `json:"objective,omitempty"`
	Stages   *pipeline.PrefixTimes `json:"stages,omitempty"`
	Flows    []pipeline.Flow       `json:"flows,omitempty"`
	Metered  *pipeline.Timing      `json:"metered_pass,omitempty"`
	Plan     []pipeline.PlanCheck  `json:"plan_check,omitempty"`     // the measured iteration's
	PeakRSS  int64                 `json:"peak_rss_after_iteration"` // bytes, up to the end of the measured pass
	LoadAvg  float64               `json:"load_avg_1m"`              // the machine's, when the child started
	Profile  string                `json:"profile,omitempty"`
	ExitRSS  int64                 `json:"peak_rss"`     // bytes, the child's whole life (from its rusage)
	ExitCPU  float64               `json:"cpu_total_s"`  // the child's whole life
	WallLife float64               `json:"wall_total_s"` // the child's whole life
}

// runBenchChild runs one measurement and writes its result file.
func runBenchChild(specPath string) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var spec benchChildSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("%s: %v", specPath, err)
	}
	res := benchChildResult{LoadAvg: loadAvg()}
	ctx := context.Background()
	profiled := func(f func() error) error {
		if spec.Profile == "" {
			return f()
		}
		pf, err := os.Create(spec.Profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return err
		}
		err = f()
		pprof.StopCPUProfile()
		if cerr := pf.Close(); err == nil {
			err = cerr
		}
		res.Profile = spec.Profile
		return err
	}
	switch spec.Phase {
	case "reference":
		ref, err := pipeline.LoadReference(spec.Inputs, spec.Train)
		if err != nil {
			return err
		}
		res.Load = &ref.Load
		for range spec.Pass {
			f, t := ref.Pass()
			res.Passes, res.J = append(res.Passes, t), append(res.J, f.J)
		}
		var f model.Figures
		var t pipeline.Timing
		if err := profiled(func() error {
			f, t = ref.Pass()
			return nil
		}); err != nil {
			return err
		}
		res.Passes, res.J = append(res.Passes, t), append(res.J, f.J)
		res.PeakRSS = pipeline.PeakRSS()
	case "limit":
		var m *benchlimit.CSR
		t, err := pipeline.Measure(func() error {
			var err error
			m, err = benchlimit.Load(spec.Inputs, spec.Train.Bias)
			return err
		})
		if err != nil {
			return err
		}
		res.Load = &t
		if err := profiled(func() error {
			res.Limit = timeLimitPass(m, benchLimitRepeat)
			return nil
		}); err != nil {
			return err
		}
		res.PeakRSS = pipeline.PeakRSS()
	case "setup", "pass":
		run := func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
			return beam.Run(ctx, spec.Runner, p)
		}
		b, err := pipeline.NewBench(pipeline.BenchConfig{Inputs: spec.Inputs, WorkDir: spec.WorkDir, Train: spec.Train,
			Sharding: transforms.ShardingParams{Threshold: spec.ShardThreshold}, Shards: spec.Shards, Partitions: spec.Partitions, Run: run,
			KeyLoads: len(spec.PlanWorkers) > 0})
		if err != nil {
			return err
		}
		if spec.Phase == "setup" {
			if err := os.RemoveAll(spec.WorkDir); err != nil {
				return err
			}
			var t pipeline.Timing
			if err := profiled(func() error {
				var err error
				t, err = b.Setup(ctx)
				return err
			}); err != nil {
				return err
			}
			meta := b.Meta()
			res.Setup, res.Meta = &t, &meta
			break
		}
		if err := b.Open(ctx); err != nil {
			return err
		}
		meta := b.Meta()
		res.Meta = &meta
		for range spec.Pass {
			f, t, err := b.Step(ctx)
			if err != nil {
				return err
			}
			res.Passes, res.J = append(res.Passes, t), append(res.J, f.J)
		}
		var f model.Figures
		var t pipeline.Timing
		if err := profiled(func() error {
			f, t, err = b.Step(ctx)
			return err
		}); err != nil {
			return err
		}
		res.Passes, res.J = append(res.Passes, t), append(res.J, f.J)
		res.PeakRSS = pipeline.PeakRSS()
		if len(spec.PlanWorkers) > 0 {
			if res.Plan, err = b.CheckPlan(ctx, spec.PlanWorkers); err != nil {
				return err
			}
		}
		// The stages and the metered pass run the measured pass again,
		// from the rows of the pass before.
		if err := b.Rewind(spec.Pass); err != nil {
			return err
		}
		if spec.Stages {
			if res.Stages, err = b.Stages(ctx, filepath.Join(spec.WorkDir, "stages"), spec.Repeat); err != nil {
				return err
			}
		}
		if spec.Meter {
			flows, t, err := b.Meter(ctx, filepath.Join(spec.WorkDir, "metered"))
			if err != nil {
				return err
			}
			res.Flows, res.Metered = flows, &t
		}
	default:
		return fmt.Errorf("bench child: unknown phase %q", spec.Phase)
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return os.WriteFile(spec.Result, out, 0o644)
}

// benchLimitRepeat is how many times the limit pass runs; the fastest
// counts, as for the prefix pipelines.
const benchLimitRepeat = 5

// benchLimitPass is the limit pass on one data set. It is timed at
// weights whose margins differ from row to row, as a real pass's do
// (math.Exp takes a shortcut at 0), and checked at w = 0, where the loss
// is N log 2.
type benchLimitPass struct {
	Rows     int               `json:"rows"`
	Features int               `json:"features"`
	Nonzeros int64             `json:"nonzeros"` // the intercept's included
	Pass     pipeline.Timing   `json:"pass"`     // the fastest of Runs, by wall time
	Runs     []pipeline.Timing `json:"runs"`
	Loss     float64           `json:"loss_at_0"`
	GradNorm float64           `json:"grad_norm_at_0"`
}

// timeLimitPass runs the limit pass repeat times and keeps the fastest,
// then once more at w = 0.
func timeLimitPass(m *benchlimit.CSR, repeat int) *benchLimitPass {
	w, grad := make([]float64, m.NumFeatures()), make([]float64, m.NumFeatures())
	for j := range w {
		w[j] = 0.01 * math.Sin(float64(j))
	}
	out := &benchLimitPass{Rows: m.NumRows(), Features: m.NumFeatures(), Nonzeros: m.Nonzeros()}
	for i := range max(repeat, 1) {
		t, _ := pipeline.Measure(func() error {
			m.Pass(w, grad)
			return nil
		})
		out.Runs = append(out.Runs, t)
		if i == 0 || t.Wall < out.Pass.Wall {
			out.Pass = t
		}
	}
	clear(w)
	out.Loss = m.Pass(w, grad)
	sq := 0.0
	for _, g := range grad {
		sq += g * g
	}
	out.GradNorm = math.Sqrt(sq)
	return out
}

// loadAvg is the machine's 1-minute load average, where /proc says it.
func loadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// runBenchChildProcess re-executes this binary to run spec, and adds the
// child's own rusage to its result.
func runBenchChildProcess(spec benchChildSpec, log io.Writer) (*benchChildResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	specPath := strings.TrimSuffix(spec.Result, ".result.json") + ".spec.json"
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specPath, data, 0o644); err != nil {
		return nil, err
	}
	os.Remove(spec.Result)
	cmd := exec.Command(exe, "bench", "--bench-child="+specPath)
	cmd.Stdout, cmd.Stderr = log, log
	t0 := time.Now()
	err = cmd.Run()
	wall := time.Since(t0).Seconds()
	if err != nil {
		return nil, fmt.Errorf("%s child (%s): %v", spec.Phase, specPath, err)
	}
	out, err := os.ReadFile(spec.Result)
	if err != nil {
		return nil, err
	}
	var res benchChildResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("%s: %v", spec.Result, err)
	}
	rss, cpu := pipeline.ExitedUsage(cmd.ProcessState)
	res.ExitRSS, res.ExitCPU, res.WallLife = rss, cpu.Seconds(), wall
	return &res, nil
}

// benchRun is one configuration's figures: a data set on a runner.
type benchRun struct {
	Size     string `json:"size"`
	Runner   string `json:"runner"`
	Nonzeros int64  `json:"nonzeros"` // the data's, the intercept not counted
	// IndexNonzeros counts postings, the intercept's included.
	IndexNonzeros int64             `json:"index_nonzeros"`
	Setup         *benchChildResult `json:"setup_child"`
	Pass          *benchChildResult `json:"pass_child"`
	// Iteration is the measured pass (--pass; 1, the first iteration
	// after setup and the evaluation of the starting point, pass 0, by
	// default).
	Iteration pipeline.Timing `json:"iteration"`
	// Throughputs in data nonzeros per second of wall and of CPU time.
	SetupRate     float64 `json:"setup_nnz_per_s"`
	IterationRate float64 `json:"iteration_nnz_per_s"`
	IterationCPU  float64 `json:"iteration_nnz_per_cpu_s"`
	RatioWall     float64 `json:"ratio_to_reference_wall,omitempty"`
	RatioCPU      float64 `json:"ratio_to_reference_cpu,omitempty"`
	JRelDiff      float64 `json:"objective_rel_diff_to_reference"`
	// The iteration's times over the limit pass's.
	LimitRatioWall float64 `json:"ratio_to_limit_wall,omitempty"`
	LimitRatioCPU  float64 `json:"ratio_to_limit_cpu,omitempty"`
	// PeakRSS is the larger of the setup and pass children's peaks; the
	// pass child's includes the prefix and metered runs after the
	// measured pass.
	PeakRSS        int64 `json:"peak_rss"`
	RSSAfterIter   int64 `json:"peak_rss_through_iteration"` // setup and passes 0 to the measured one only
	ReferenceIndex int   `json:"-"`
	LimitIndex     int   `json:"-"`
}

// benchReference is the reference trainer on one data set.
type benchReference struct {
	Size      string            `json:"size"`
	Child     *benchChildResult `json:"child"`
	Iteration pipeline.Timing   `json:"iteration"`
	Rate      float64           `json:"iteration_nnz_per_s"`
	// The pass's times over the limit pass's.
	LimitRatioWall float64 `json:"ratio_to_limit_wall,omitempty"`
	LimitRatioCPU  float64 `json:"ratio_to_limit_cpu,omitempty"`
}

// benchLimit is the limit pass on one data set.
type benchLimit struct {
	Size  string            `json:"size"`
	Child *benchChildResult `json:"child"`
	Pass  pipeline.Timing   `json:"pass"`
	Rate  float64           `json:"nnz_per_s"` // the data's nonzeros, as the runs' rates
	// LossRelDiff checks the pass: at w = 0 every margin is 0, so the loss
	// is N log 2.
	LossRelDiff float64 `json:"loss_rel_diff_to_n_log2"`
}

// benchLinearity compares time per nonzero at the largest and smallest
// sizes.
type benchLinearity struct {
	Runner    string  `json:"runner"`
	From      string  `json:"from"`
	To        string  `json:"to"`
	RatioWall float64 `json:"ratio_wall"`
	RatioCPU  float64 `json:"ratio_cpu"`
}

// benchTarget is one of the targets and how the run fared.
type benchTarget struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Status   string `json:"status"` // PASS, MISS or n/a
}

// benchReport is everything dpmr bench measured.
type benchReport struct {
	Config     benchConfig      `json:"config"`
	Machine    benchMachine     `json:"machine"`
	Data       []benchData      `json:"data"`
	Runs       []benchRun       `json:"runs"`
	References []benchReference `json:"references,omitempty"`
	Limits     []benchLimit     `json:"limits,omitempty"`
	Linearity  []benchLinearity `json:"linearity,omitempty"`
	Targets    []benchTarget    `json:"targets"`
}

type benchMachine struct {
	GOOS       string  `json:"goos"`
	GOARCH     string  `json:"goarch"`
	CPUs       int     `json:"cpus"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Go         string  `json:"go"`
	LoadStart  float64 `json:"load_avg_1m_start"`
	LoadEnd    float64 `json:"load_avg_1m_end"`
	Started    string  `json:"started"`
	Seconds    float64 `json:"seconds"`
}

// runBench measures every configuration, each size's reference first.
func runBench(ctx context.Context, c benchConfig, log io.Writer) (*benchReport, error) {
	t0 := time.Now()
	rep := &benchReport{Config: c, Machine: benchMachine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), LoadStart: loadAvg(), Started: t0.UTC().Format(time.RFC3339)}}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	if c.Profile != "" {
		if err := os.MkdirAll(c.Profile, 0o755); err != nil {
			return nil, err
		}
	}
	train := c.train()
	for _, size := range c.Sizes {
		d, err := ensureBenchData(ctx, c, size, log)
		if err != nil {
			return nil, err
		}
		rep.Data = append(rep.Data, d)
		base := benchChildSpec{Inputs: []string{d.Path}, Train: train, ShardThreshold: c.ShardThreshold,
			Shards: c.Shards, Partitions: c.Partitions, Stages: c.Stages, Repeat: c.Repeat, PlanWorkers: c.PlanWorkers, Pass: c.Pass}
		refIndex := -1
		if c.Reference {
			spec := base
			spec.Phase = "reference"
			spec.Result = filepath.Join(c.Dir, fmt.Sprintf("child-%s-reference.result.json", size.Label))
			if c.Profile != "" {
				spec.Profile = filepath.Join(c.Profile, fmt.Sprintf("%s-reference.pprof", size.Label))
			}
			res, err := runBenchChildProcess(spec, log)
			if err != nil {
				return nil, err
			}
			ref := benchReference{Size: size.Label, Child: res, Iteration: res.Passes[c.Pass],
				Rate: float64(d.Stats.Nonzeros) / res.Passes[c.Pass].Wall}
			fmt.Fprintf(log, "bench: %s reference: load %s, iteration %s (%s nnz/s)\n", size.Label,
				fmtTiming(*res.Load), fmtTiming(ref.Iteration), fmtCount(ref.Rate))
			rep.References = append(rep.References, ref)
			refIndex = len(rep.References) - 1
		}
		limitIndex := -1
		if c.Limit {
			spec := base
			spec.Phase = "limit"
			spec.Result = filepath.Join(c.Dir, fmt.Sprintf("child-%s-limit.result.json", size.Label))
			if c.Profile != "" {
				spec.Profile = filepath.Join(c.Profile, fmt.Sprintf("%s-limit.pprof", size.Label))
			}
			res, err := runBenchChildProcess(spec, log)
			if err != nil {
				return nil, err
			}
			lim := benchLimit{Size: size.Label, Child: res, Pass: res.Limit.Pass,
				Rate:        float64(d.Stats.Nonzeros) / res.Limit.Pass.Wall,
				LossRelDiff: relDiff(res.Limit.Loss, float64(res.Limit.Rows)*math.Ln2)}
			if res.Limit.Rows != int(d.Stats.Samples) {
				return nil, fmt.Errorf("bench: %s: the limit pass read %d samples, the data has %d", size.Label, res.Limit.Rows, d.Stats.Samples)
			}
			if refIndex >= 0 {
				ref := &rep.References[refIndex]
				ref.LimitRatioWall = ratio(ref.Iteration.Wall, lim.Pass.Wall)
				ref.LimitRatioCPU = ratio(ref.Iteration.CPU, lim.Pass.CPU)
			}
			fmt.Fprintf(log, "bench: %s limit: load %s, pass %s (%s nnz/s)\n", size.Label,
				fmtTiming(*res.Load), fmtTiming(lim.Pass), fmtCount(lim.Rate))
			rep.Limits = append(rep.Limits, lim)
			limitIndex = len(rep.Limits) - 1
		}
		for i, runner := range c.Runners {
			work := filepath.Join(c.Dir, fmt.Sprintf("work-%s-%s", size.Label, runner))
			spec := base
			spec.Meter = c.Meter == "all" || c.Meter == "first" && i == 0
			spec.Runner, spec.WorkDir = runner, work
			spec.Phase = "setup"
			spec.Result = filepath.Join(c.Dir, fmt.Sprintf("child-%s-%s-setup.result.json", size.Label, runner))
			if c.Profile != "" {
				spec.Profile = filepath.Join(c.Profile, fmt.Sprintf("%s-%s-setup.pprof", size.Label, runner))
			}
			setup, err := runBenchChildProcess(spec, log)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "bench: %s %s: setup %s\n", size.Label, runner, fmtTiming(*setup.Setup))
			spec.Phase = "pass"
			spec.Result = filepath.Join(c.Dir, fmt.Sprintf("child-%s-%s-pass.result.json", size.Label, runner))
			if c.Profile != "" {
				spec.Profile = filepath.Join(c.Profile, fmt.Sprintf("%s-%s-iteration.pprof", size.Label, runner))
			}
			pass, err := runBenchChildProcess(spec, log)
			if err != nil {
				return nil, err
			}
			if !c.Keep {
				os.RemoveAll(work)
			}
			r := benchRun{Size: size.Label, Runner: runner, Nonzeros: d.Stats.Nonzeros, IndexNonzeros: setup.Meta.Nonzeros,
				Setup: setup, Pass: pass, Iteration: pass.Passes[c.Pass], ReferenceIndex: refIndex, LimitIndex: limitIndex,
				PeakRSS: max(setup.ExitRSS, pass.ExitRSS), RSSAfterIter: max(setup.ExitRSS, pass.PeakRSS)}
			nnz := float64(r.Nonzeros)
			r.SetupRate = nnz / setup.Setup.Wall
			r.IterationRate = nnz / r.Iteration.Wall
			r.IterationCPU = nnz / r.Iteration.CPU
			if refIndex >= 0 {
				ref := rep.References[refIndex]
				r.RatioWall = r.Iteration.Wall / ref.Iteration.Wall
				r.RatioCPU = r.Iteration.CPU / ref.Iteration.CPU
				rj := ref.Child.J[c.Pass]
				r.JRelDiff = math.Abs(pass.J[c.Pass]-rj) / math.Max(1, math.Abs(rj))
			}
			if limitIndex >= 0 {
				lim := rep.Limits[limitIndex].Pass
				r.LimitRatioWall = ratio(r.Iteration.Wall, lim.Wall)
				r.LimitRatioCPU = ratio(r.Iteration.CPU, lim.CPU)
			}
			fmt.Fprintf(log, "bench: %s %s: iteration %s (%s nnz/s), peak RSS %s\n", size.Label, runner,
				fmtTiming(r.Iteration), fmtCount(r.IterationRate), fmtBytes(r.PeakRSS))
			rep.Runs = append(rep.Runs, r)
		}
	}
	rep.Linearity = benchLinearities(c, rep.Runs)
	rep.Targets = benchTargets(c, rep)
	rep.Machine.LoadEnd = loadAvg()
	rep.Machine.Seconds = time.Since(t0).Seconds()
	return rep, nil
}

// ratio is a/b, or 0 (not measured) when b is not positive: a pass on a
// tiny data set can take less CPU time than the clock shows, and JSON has
// no infinity.
func ratio(a, b float64) float64 {
	if b > 0 {
		return a / b
	}
	return 0
}

// relDiff is |a-b|/|b|; 0 when both are 0, 1 when b alone is.
func relDiff(a, b float64) float64 {
	switch {
	case a == b:
		return 0
	case b == 0:
		return 1
	}
	return math.Abs(a-b) / math.Abs(b)
}

// benchLinearities compares, per runner, the iteration's time per nonzero
// at the largest size with that at the smallest.
func benchLinearities(c benchConfig, runs []benchRun) []benchLinearity {
	var out []benchLinearity
	for _, runner := range c.Runners {
		var lo, hi *benchRun
		for i := range runs {
			r := &runs[i]
			if r.Runner != runner {
				continue
			}
			if lo == nil || r.Nonzeros < lo.Nonzeros {
				lo = r
			}
			if hi == nil || r.Nonzeros > hi.Nonzeros {
				hi = r
			}
		}
		if lo == nil || lo == hi {
			continue
		}
		perNNZ := func(r *benchRun, t float64) float64 { return t / float64(r.Nonzeros) }
		out = append(out, benchLinearity{Runner: runner, From: lo.Size, To: hi.Size,
			RatioWall: perNNZ(hi, hi.Iteration.Wall) / perNNZ(lo, lo.Iteration.Wall),
			RatioCPU:  perNNZ(hi, hi.Iteration.CPU) / perNNZ(lo, lo.Iteration.CPU)})
	}
	return out
}

// Issue 14's targets: at 10M nonzeros a pass within a multiple of the
// limit pass on the same data, setup's rate, peak RSS; at 100M, time per
// nonzero near 10M's and RSS.
const (
	benchTargetSize  = 10_000_000
	benchLargeSize   = 100_000_000
	benchDirectLimit = 5  // direct's iteration / limit pass
	benchPrismLimit  = 12 // prism's
	benchRefLimit    = 2  // the reference trainer's pass / limit pass
	benchSetupRate   = 5e6
	benchDirectRSS   = 1e9
	benchPrismRSS    = 2e9
	benchLargeRSS    = 4e9
	benchLinearRatio = 1.3
)

func benchTargets(c benchConfig, rep *benchReport) []benchTarget {
	find := func(runner string, nnz int64) *benchRun {
		for i := range rep.Runs {
			r := &rep.Runs[i]
			for _, s := range c.Sizes {
				if s.Label == r.Size && s.Nonzeros == nnz && r.Runner == runner {
					return r
				}
			}
		}
		return nil
	}
	status := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	var out []benchTarget
	for _, g := range []struct {
		runner string
		limit  float64
	}{{"direct", benchDirectLimit}, {"prism", benchPrismLimit}} {
		t := benchTarget{Name: fmt.Sprintf("%s, 10M: iteration <= %gx the limit pass", g.runner, g.limit), Status: "n/a"}
		if r := find(g.runner, benchTargetSize); r != nil && r.LimitRatioWall > 0 {
			t.Measured = fmt.Sprintf("%s wall, %s CPU", fmtRatio(r.LimitRatioWall), fmtRatio(r.LimitRatioCPU))
			t.Status = status(r.LimitRatioWall <= g.limit)
		}
		out = append(out, t)
	}
	t := benchTarget{Name: fmt.Sprintf("reference, 10M: pass <= %gx the limit pass", float64(benchRefLimit)), Status: "n/a"}
	for _, ref := range rep.References {
		for _, s := range c.Sizes {
			if s.Label == ref.Size && s.Nonzeros == benchTargetSize && ref.LimitRatioWall > 0 {
				t.Measured = fmt.Sprintf("%s wall, %s CPU", fmtRatio(ref.LimitRatioWall), fmtRatio(ref.LimitRatioCPU))
				t.Status = status(ref.LimitRatioWall <= benchRefLimit)
			}
		}
	}
	out = append(out, t)
	t = benchTarget{Name: fmt.Sprintf("direct, 10M: setup >= %s nonzeros/s", fmtCount(benchSetupRate)), Status: "n/a"}
	if r := find("direct", benchTargetSize); r != nil {
		t.Measured = fmt.Sprintf("%s nnz/s wall (%s nnz per CPU-second)", fmtCount(r.SetupRate), fmtCount(float64(r.Nonzeros)/r.Setup.Setup.CPU))
		t.Status = status(r.SetupRate >= benchSetupRate)
	}
	out = append(out, t)
	rss := func(runner, size string, nnz, limit int64) {
		t := benchTarget{Name: fmt.Sprintf("%s, %s: peak RSS <= %s", runner, size, fmtBytes(limit)), Status: "n/a"}
		if r := find(runner, nnz); r != nil {
			t.Measured = fmt.Sprintf("%s (setup %s, passes 0-%d %s)", fmtBytes(r.RSSAfterIter), fmtBytes(r.Setup.ExitRSS), c.Pass, fmtBytes(r.Pass.PeakRSS))
			t.Status = status(r.RSSAfterIter <= limit)
		}
		out = append(out, t)
	}
	rss("direct", "10M", benchTargetSize, benchDirectRSS)
	rss("prism", "10M", benchTargetSize, benchPrismRSS)
	for _, runner := range []string{"direct", "prism"} {
		t := benchTarget{Name: fmt.Sprintf("%s: time per nonzero at 100M within %.1fx of 10M", runner, benchLinearRatio), Status: "n/a"}
		lo, hi := find(runner, benchTargetSize), find(runner, benchLargeSize)
		if lo != nil && hi != nil {
			wall := (hi.Iteration.Wall / float64(hi.Nonzeros)) / (lo.Iteration.Wall / float64(lo.Nonzeros))
			cpu := (hi.Iteration.CPU / float64(hi.Nonzeros)) / (lo.Iteration.CPU / float64(lo.Nonzeros))
			t.Measured = fmt.Sprintf("%.2fx wall, %.2fx CPU", wall, cpu)
			t.Status = status(wall <= benchLinearRatio)
		}
		out = append(out, t)
		rss(runner, "100M", benchLargeSize, benchLargeRSS)
	}
	// Not targets: subspace's pass is mostly arithmetic the reference
	// trainer does too, so the ratio to the reference says what the
	// pipeline adds to it.
	for _, runner := range []string{"direct", "prism"} {
		if r := find(runner, benchTargetSize); r != nil && r.RatioWall > 0 {
			out = append(out, benchTarget{Name: fmt.Sprintf("%s, 10M: iteration / reference pass", runner), Status: "info",
				Measured: fmt.Sprintf("%s wall, %s CPU", fmtRatio(r.RatioWall), fmtRatio(r.RatioCPU))})
		}
	}
	return out
}

// fmtRatio prints a ratio to a tenth below 10, to a unit above.
func fmtRatio(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0fx", v)
	}
	return fmt.Sprintf("%.1fx", v)
}

// writeBenchReport prints the report as tables shaped like the paper's
// Table 1: a row per stage, a column per configuration.
func writeBenchReport(w io.Writer, rep *benchReport) {
	c := rep.Config
	fmt.Fprintf(w, "dpmr bench: Zipf %g over %d features, %g nonzeros per sample", c.Zipf, c.Features, c.PerSample)
	if c.Bias {
		fmt.Fprint(w, " plus the intercept")
	}
	fmt.Fprintf(w, ", block size %d; %d CPUs, load average %.1f at start, %.1f at end\n", c.BlockSize,
		rep.Machine.CPUs, rep.Machine.LoadStart, rep.Machine.LoadEnd)
	fmt.Fprintf(w, "command: %s\n", c.Command)
	for _, d := range rep.Data {
		fmt.Fprintf(w, "data %s: %d samples, %d nonzeros, %s of text (%s)\n", d.Size.Label, d.Stats.Samples,
			d.Stats.Nonzeros, fmtBytes(d.Stats.Bytes), d.Path)
	}
	fmt.Fprintln(w, "\nSeconds, wall / CPU (CPU: user+system of the whole process, every thread). The iteration is")
	if c.Pass == 1 {
		fmt.Fprintln(w, "pass 1, after setup and the evaluation of the start (pass 0); its rows hold no history yet.")
	} else {
		fmt.Fprintf(w, "pass %d, after setup, the evaluation of the start (pass 0) and %d iterations.\n", c.Pass, c.Pass-1)
	}
	fmt.Fprintln(w, "Beam fuses stages, so a stage's time is the difference of two prefix pipelines (the pass cut")
	fmt.Fprintln(w, "after the stage, its open outputs consumed by a counting sink), each the fastest of --repeat")
	fmt.Fprintln(w, "runs; noise can make one negative.")
	if c.Limit {
		fmt.Fprintf(w, "The limit pass is the same gradient and loss over the data held as one CSR matrix (dense int32\n")
		fmt.Fprintf(w, "feature ids, dense weights), one thread, load excluded, the fastest of %d runs: no pass can do\n", benchLimitRepeat)
		fmt.Fprintln(w, "less, so the ratio to it is what the rest costs.")
	}
	cols := make([]string, len(rep.Runs))
	for i, r := range rep.Runs {
		cols[i] = r.Size + " " + r.Runner
	}
	t := newBenchTable("", cols)
	if c.Stages {
		t.row("(job overhead)", func(r benchRun) string { return fmtTiming(r.Pass.Stages.Overhead) }, rep.Runs)
		for k, name := range pipeline.BenchStages {
			t.row(name, func(r benchRun) string { return fmtTiming(r.Pass.Stages.Stages[k].Timing) }, rep.Runs)
		}
		t.rule()
	}
	t.row("iteration (Pass pipeline)", func(r benchRun) string { return fmtTiming(r.Iteration) }, rep.Runs)
	if c.Reference {
		t.row("reference pass (in memory)", func(r benchRun) string {
			return fmtTiming(rep.References[r.ReferenceIndex].Iteration)
		}, rep.Runs)
	}
	if c.Limit {
		t.row("limit pass (in-memory CSR gradient)", func(r benchRun) string {
			return fmtTiming(rep.Limits[r.LimitIndex].Pass)
		}, rep.Runs)
	}
	if c.Reference {
		t.row("ratio iteration/reference", func(r benchRun) string {
			return fmtRatio(r.RatioWall) + " / " + fmtRatio(r.RatioCPU)
		}, rep.Runs)
	}
	if c.Limit {
		t.row("ratio iteration/limit", func(r benchRun) string {
			return fmtRatio(r.LimitRatioWall) + " / " + fmtRatio(r.LimitRatioCPU)
		}, rep.Runs)
		if c.Reference {
			t.row("ratio reference/limit", func(r benchRun) string {
				ref := rep.References[r.ReferenceIndex]
				return fmtRatio(ref.LimitRatioWall) + " / " + fmtRatio(ref.LimitRatioCPU)
			}, rep.Runs)
		}
	}
	t.row("nonzeros/s, per CPU-s", func(r benchRun) string {
		return fmtCount(r.IterationRate) + " / " + fmtCount(r.IterationCPU)
	}, rep.Runs)
	t.row("evaluation (pass 0)", func(r benchRun) string { return fmtTiming(r.Pass.Passes[0]) }, rep.Runs)
	t.row("setup (parse and index)", func(r benchRun) string { return fmtTiming(*r.Setup.Setup) }, rep.Runs)
	t.row("setup nonzeros/s, per CPU-s", func(r benchRun) string {
		return fmtCount(r.SetupRate) + " / " + fmtCount(float64(r.Nonzeros)/r.Setup.Setup.CPU)
	}, rep.Runs)
	t.row(fmt.Sprintf("peak RSS setup / passes 0-%d", c.Pass), func(r benchRun) string {
		return fmtBytes(r.Setup.ExitRSS) + " / " + fmtBytes(r.Pass.PeakRSS)
	}, rep.Runs)
	if c.Reference {
		t.row("J vs reference (rel.)", func(r benchRun) string { return fmt.Sprintf("%.1e", r.JRelDiff) }, rep.Runs)
	}
	t.row("load average at start", func(r benchRun) string {
		return fmt.Sprintf("%.1f / %.1f", r.Setup.LoadAvg, r.Pass.LoadAvg)
	}, rep.Runs)
	t.write(w)

	if c.Reference {
		fmt.Fprintln(w, "\nReference trainer (model.Trainer, in memory), per data set:")
		rt := newBenchTable("", []string{"load", "pass 0", fmt.Sprintf("pass %d", c.Pass), "nonzeros/s", "peak RSS"})
		for _, r := range rep.References {
			rt.cells(r.Size, fmtTiming(*r.Child.Load), fmtTiming(r.Child.Passes[0]), fmtTiming(r.Iteration),
				fmtCount(r.Rate), fmtBytes(r.Child.ExitRSS))
		}
		rt.write(w)
	}
	if c.Limit {
		fmt.Fprintln(w, "\nLimit pass (internal/benchlimit), per data set, at w = 0, where the loss is N log 2:")
		lt := newBenchTable("", []string{"load", "pass", "nonzeros/s", "loss vs N log 2 (rel.; plain sum)", "peak RSS"})
		for _, l := range rep.Limits {
			lt.cells(l.Size, fmtTiming(*l.Child.Load), fmtTiming(l.Pass), fmtCount(l.Rate),
				fmt.Sprintf("%.1e", l.LossRelDiff), fmtBytes(l.Child.ExitRSS))
		}
		lt.write(w)
	}

	var metered []benchRun
	for _, r := range rep.Runs {
		if r.Pass.Metered != nil {
			metered = append(metered, r)
		}
	}
	if len(metered) > 0 {
		fmt.Fprintln(w, "\nMoved per iteration, elements / bytes (each element's encoding by its Beam coder, key and")
		fmt.Fprintln(w, "value): keyed shuffle inputs before combiner lifting, PCollections held for a side input, the")
		fmt.Fprintln(w, "records read (ReadIndex) and written (Write). Counted by a metered copy of the pass; the")
		fmt.Fprintln(w, "counts do not depend on the runner.")
		mcols := make([]string, len(metered))
		for i, r := range metered {
			mcols[i] = r.Size + " " + r.Runner
		}
		ft := newBenchTable("", mcols)
		for _, stage := range pipeline.MeteredStages {
			ft.row(stage, func(r benchRun) string {
				e, b := stageFlow(r.Pass.Flows, stage)
				return fmtCount(float64(e)) + " / " + fmtBytes(b)
			}, metered)
		}
		ft.rule()
		ft.row("nonzeros per element shuffled", func(r benchRun) string {
			e, _ := shuffled(r.Pass.Flows)
			return fmt.Sprintf("%.2f", float64(r.Nonzeros)/float64(e))
		}, metered)
		ft.row("bytes shuffled per nonzero", func(r benchRun) string {
			_, b := shuffled(r.Pass.Flows)
			return fmt.Sprintf("%.1f", float64(b)/float64(r.Nonzeros))
		}, metered)
		ft.row("metered pass (not the iteration)", func(r benchRun) string { return fmtTiming(*r.Pass.Metered) }, metered)
		ft.write(w)
	}

	if len(c.PlanWorkers) > 0 {
		writePlanCheck(w, rep.Runs)
	}

	if len(rep.Linearity) > 0 {
		fmt.Fprintln(w, "\nLinearity: iteration time per nonzero, largest size over smallest:")
		for _, l := range rep.Linearity {
			fmt.Fprintf(w, "  %-7s %s vs %s: %.2fx wall, %.2fx CPU\n", l.Runner, l.To, l.From, l.RatioWall, l.RatioCPU)
		}
	}
	fmt.Fprintln(w, "\nTargets (issue 14), and for information each pass's ratio to the reference trainer's: the")
	fmt.Fprintln(w, "default optimizer, subspace, spends most of a pass in arithmetic the reference does too")
	fmt.Fprintln(w, "(model.Block.LocalNewton's conjugate gradient), so that ratio is what the pipeline adds.")
	for _, t := range rep.Targets {
		m := t.Measured
		if m == "" {
			m = "not measured"
		}
		fmt.Fprintf(w, "  %-4s %-52s %s\n", t.Status, t.Name, m)
	}
}

// shuffled sums the flows of every stage between reading the index and
// writing the rows: the keyed shuffle inputs and the collections held for
// side inputs.
func shuffled(flows []pipeline.Flow) (elements, bytes int64) {
	for _, f := range flows {
		if f.Stage != "ReadIndex" && f.Stage != "Write" {
			elements, bytes = elements+f.Elements, bytes+f.Bytes
		}
	}
	return elements, bytes
}

// stageFlow sums a stage's flows.
func stageFlow(flows []pipeline.Flow, stage string) (elements, bytes int64) {
	for _, f := range flows {
		if f.Stage == stage {
			elements, bytes = elements+f.Elements, bytes+f.Bytes
		}
	}
	return elements, bytes
}

// benchTable lays out a table with a label column.
type benchTable struct {
	head []string
	rows [][]string // nil: a rule
}

func newBenchTable(corner string, cols []string) *benchTable {
	return &benchTable{head: append([]string{corner}, cols...)}
}

func (t *benchTable) row(label string, cell func(benchRun) string, runs []benchRun) {
	r := []string{label}
	for _, run := range runs {
		r = append(r, cell(run))
	}
	t.rows = append(t.rows, r)
}

func (t *benchTable) cells(cells ...string) { t.rows = append(t.rows, cells) }

func (t *benchTable) rule() { t.rows = append(t.rows, nil) }

func (t *benchTable) write(w io.Writer) {
	width := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		for i, c := range r {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "  %*s", width[i], c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	total := len(width) - 1
	for _, n := range width {
		total += n + 1
	}
	line(t.head)
	fmt.Fprintln(w, strings.Repeat("-", total))
	for _, r := range t.rows {
		if r == nil {
			fmt.Fprintln(w, strings.Repeat("-", total))
			continue
		}
		line(r)
	}
}

func fmtTiming(t pipeline.Timing) string { return fmtSeconds(t.Wall) + " / " + fmtSeconds(t.CPU) }

func fmtSeconds(s float64) string {
	switch a := math.Abs(s); {
	case a >= 100:
		return fmt.Sprintf("%.0f", s)
	case a >= 10:
		return fmt.Sprintf("%.1f", s)
	case a >= 0.1 || a == 0:
		return fmt.Sprintf("%.2f", s)
	default:
		// The limit pass on a small data set takes milliseconds.
		return fmt.Sprintf("%.2g", s)
	}
}

// fmtCount prints a count with k, M or G.
func fmtCount(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// fmtBytes prints a size in decimal units, as the targets are given.
func fmtBytes(n int64) string {
	v := float64(n)
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2f GB", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.0f MB", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0f kB", v/1e3)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// writePlanCheck prints, per run, dpmr plan's predicted balance (largest
// worker's load / mean) and speedup beside those of the measured key times.
func writePlanCheck(w io.Writer, runs []benchRun) {
	fmt.Fprintln(w, "\ndpmr plan against the measured iteration: each keyed stage's keys go to W workers by the")
	fmt.Fprintln(w, "plan's hash; predicted from the index's counts (pairs, postings), measured from each key's")
	fmt.Fprintln(w, "CPU time in the iteration (the work fused after RestoreDocuments included). Balance is the")
	fmt.Fprintln(w, "largest worker's load over the mean; speedup, the total over the largest worker's load.")
	pt := newBenchTable("run", []string{"stage", "workers", "keys (timed)", "balance predicted / measured", "speedup predicted / measured"})
	for _, r := range runs {
		for _, c := range r.Pass.Plan {
			pt.cells(r.Size+" "+r.Runner, c.Predicted.Stage, strconv.Itoa(c.Predicted.Workers),
				fmt.Sprintf("%d (%d)", c.Predicted.Keys, c.TimedKeys),
				fmt.Sprintf("%.2f / %.2f", c.Predicted.Balance, c.Measured.Balance),
				fmt.Sprintf("%.1f / %.1f", c.Predicted.Speedup, c.Measured.Speedup))
		}
	}
	pt.write(w)
}
