package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

// This file holds what `dpmr bench` and the package's benchmarks measure
// with: a Bench that runs the setup pipeline and then one pass at a time as
// the driver does, the prefix pipelines that time the stages of a pass,
// and a metered pass that counts what each stage shuffles.
//
// Beam fuses consecutive stages into one, so a stage has no time of its
// own to read. PassPrefix(k) is the pass cut after its k-th stage, every
// output left open consumed by a counting sink; the time of stage k is
// T(prefix k) - T(prefix k-1), and prefix 0 is an empty job, the runner's
// fixed cost per pipeline. The last stage, Write, is the full pass minus
// prefix 5.

// BenchStages names the stages of a pass, in the order PassPrefix adds
// them (the paper's names; LineSearch and ComputeGradients share one
// scan of the sufficient blocks, so they are one stage).
var BenchStages = []string{
	"ReadIndex",
	"DistributeParameters",
	"RestoreDocuments",
	"LineSearch+ComputeGradients",
	"UpdateParameters",
	"Write",
}

// MeteredStages names the stages MeteredPass counts, in pass order.
// FirstTrip, subspace's first trip to the blocks, is counted but not
// timed apart: its time falls in the prefix pipelines'
// DistributeParameters.
var MeteredStages = append([]string{BenchStages[0], FirstTrip}, BenchStages[1:]...)

// numPrefixes counts PassPrefix's cuts: the empty job and one after each
// stage but Write, which only the full pass has.
var numPrefixes = len(BenchStages)

// benchNamespace is the metrics namespace of the bench's counters.
const benchNamespace = "dpmr.bench"

func init() {
	register.DoFn1x0[beam.T](&countFn{})
	register.DoFn2x0[beam.X, beam.Y](&countKVFn{})
	register.DoFn2x1[beam.T, func(beam.T), error](&tapFn{})
	register.DoFn3x1[beam.X, beam.Y, func(beam.X, beam.Y), error](&tapKVFn{})
	register.Emitter1[beam.T]()
	register.Emitter2[beam.X, beam.Y]()
}

// Timing is the cost of one measured piece of work.
type Timing struct {
	Wall float64 `json:"wall_s"`
	// CPU is the user and system CPU time of the whole process (driver,
	// runner and in-process workers) over the same span: on a machine
	// shared with other jobs, a steadier figure than Wall.
	CPU float64 `json:"cpu_s"`
}

// Sub returns t - u.
func (t Timing) Sub(u Timing) Timing { return Timing{Wall: t.Wall - u.Wall, CPU: t.CPU - u.CPU} }

// Measure runs f and returns its wall and process CPU time.
func Measure(f func() error) (Timing, error) {
	c0, t0 := processCPU(), time.Now()
	err := f()
	return Timing{Wall: time.Since(t0).Seconds(), CPU: (processCPU() - c0).Seconds()}, err
}

// BenchConfig is one configuration to measure.
type BenchConfig struct {
	Inputs   []string // file globs
	WorkDir  string   // snapshots go under it
	Train    model.TrainParams
	Sharding transforms.ShardingParams
	Shards   int // files per snapshot dataset; default 8
	// Partitions is the number of parameter partitions; 0 derives it from
	// the input's size, as Train does.
	Partitions int32
	Run        Runner // nil is runners.Run
	// KeyLoads times every key of the keyed stages in each pass, for
	// CheckPlan.
	KeyLoads bool
}

// Bench runs the pipelines of one configuration for measurement: the
// setup pipeline, then passes one at a time exactly as Train runs them.
type Bench struct {
	c       BenchConfig
	index   *Manifest
	meta    IndexMeta
	state   State   // what the next pass starts from
	stateAt []State // stateAt[n]: the state after n passes
	history []model.Figures
	loads   map[string]map[int32]int64 // the last Step's key times
}

// NewBench prepares a Bench; nothing runs yet.
func NewBench(c BenchConfig) (*Bench, error) {
	c.Train = c.Train.WithDefaults()
	if err := c.Train.Validate(); err != nil {
		return nil, err
	}
	if c.Shards == 0 {
		c.Shards = 8
	}
	c.Run = runner(c.Run)
	return &Bench{c: c}, nil
}

func (b *Bench) indexDir() string { return joinPath(b.c.WorkDir, "index") }
func (b *Bench) startDir() string { return joinPath(b.c.WorkDir, "start") }

// Setup runs the setup pipeline into the work dir, timed, then opens its
// snapshots as Open does.
func (b *Bench) Setup(ctx context.Context) (Timing, error) {
	files, err := ExpandInputs(ctx, b.c.Inputs)
	if err != nil {
		return Timing{}, err
	}
	stamps, err := stampInputs(ctx, files)
	if err != nil {
		return Timing{}, err
	}
	if b.c.Partitions == 0 {
		b.c.Partitions = PartitionsFor(totalBytes(stamps))
	}
	p, s := beam.NewPipelineWithRoot()
	Setup(s, SetupParams{Files: files, Dir: b.indexDir(), StartDir: b.startDir(), Bias: b.c.Train.Bias,
		BlockSize: b.c.Train.BlockSize, Partitions: b.c.Partitions,
		Sharding: b.c.Sharding, Shards: b.c.Shards, BlockShards: BlockShardsFor(totalBytes(stamps), b.c.Shards)})
	t, err := Measure(func() error {
		_, err := b.c.Run(ctx, p)
		return err
	})
	if err != nil {
		return t, fmt.Errorf("setup pipeline: %w", err)
	}
	return t, b.Open(ctx)
}

// Open reads the index and starting rows a Setup wrote into the work dir,
// in this process or an earlier one, and starts again from pass 0.
func (b *Bench) Open(ctx context.Context) error {
	index, err := ReadManifest(ctx, b.indexDir())
	if err != nil {
		return err
	}
	start, err := ReadManifest(ctx, b.startDir())
	if err != nil {
		return err
	}
	var meta IndexMeta
	if err := json.Unmarshal(index.Meta, &meta); err != nil {
		return fmt.Errorf("%s: %v", b.indexDir(), err)
	}
	if meta.BadLines > 0 || meta.Samples == 0 {
		return fmt.Errorf("bench: the index has %d samples and %d bad lines", meta.Samples, meta.BadLines)
	}
	b.index, b.meta, b.state, b.history = index, meta, State{Rows: start.Dataset("rows")}, nil
	b.stateAt = []State{b.state}
	return nil
}

// Rewind goes back to after pass n-1, so that pass n can be run again.
func (b *Bench) Rewind(n int) error {
	if n < 0 || n > len(b.history) {
		return fmt.Errorf("bench: cannot rewind to pass %d after %d passes", n, len(b.history))
	}
	b.history, b.state, b.stateAt = b.history[:n], b.stateAt[n], b.stateAt[:n+1]
	return nil
}

// Meta is the index's figures.
func (b *Bench) Meta() IndexMeta { return b.meta }

// History is the figures of the passes run so far.
func (b *Bench) History() []model.Figures { return b.history }

// Next returns the parameters of the next pass, writing its rows to dir.
func (b *Bench) Next(dir string) PassParams {
	plan := model.FirstPlan()
	if n := len(b.history); n > 0 {
		plan = model.NextPlan(b.c.Train, b.history[n-1])
	}
	return PassParams{Index: b.index, State: b.state, Dir: dir, Plan: plan, Train: b.c.Train,
		Eta: b.c.Train.Eta(b.meta.SumSq), Samples: b.meta.Samples, Shards: b.c.Shards, Partitions: b.meta.Partitions,
		KeyLoads: b.c.KeyLoads}
}

// Step runs the next pass with the Pass pipeline, timed, and moves on to
// its rows, as the driver does.
func (b *Bench) Step(ctx context.Context) (model.Figures, Timing, error) {
	pp := b.Next(passDir(b.c.WorkDir, len(b.history)))
	t, res, err := b.Time(ctx, func(s beam.Scope) { Pass(s, pp) })
	if err != nil {
		return model.Figures{}, t, fmt.Errorf("pass %d: %w", pp.Plan.Pass, err)
	}
	b.loads = KeyLoads(res)
	f, err := readFigures(ctx, pp.Dir)
	if err != nil {
		return f, t, err
	}
	f.Seconds = t.Wall
	b.history = append(b.history, f)
	m, err := ReadManifest(ctx, pp.Dir)
	if err != nil {
		return f, t, err
	}
	b.state = stateAfter(m)
	b.stateAt = append(b.stateAt, b.state)
	return f, t, nil
}

// CheckPlan compares dpmr plan's prediction for each worker count with
// the key times of the last Step (BenchConfig.KeyLoads).
func (b *Bench) CheckPlan(ctx context.Context, workers []int) ([]PlanCheck, error) {
	ks, err := ReadKeySizes(ctx, b.index)
	if err != nil {
		return nil, err
	}
	if len(b.loads) == 0 {
		return nil, fmt.Errorf("bench: the pass reported no key times (KeyLoads off, or the runner reports no metrics)")
	}
	return ks.CheckPlan(workers, b.loads), nil
}

func readFigures(ctx context.Context, dir string) (model.Figures, error) {
	var f model.Figures
	m, err := ReadManifest(ctx, dir)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(m.Meta, &f); err != nil {
		return f, fmt.Errorf("%s: figures: %v", dir, err)
	}
	return f, nil
}

// Time builds a pipeline with build and runs it, timed.
func (b *Bench) Time(ctx context.Context, build func(s beam.Scope)) (Timing, beam.PipelineResult, error) {
	p, s := beam.NewPipelineWithRoot()
	build(s)
	var pr beam.PipelineResult
	t, err := Measure(func() error {
		var err error
		pr, err = b.c.Run(ctx, p)
		return err
	})
	return t, pr, err
}

// StageTiming is a stage's share of a pass: the difference of two
// prefix pipelines' times.
type StageTiming struct {
	Stage string `json:"stage"`
	Timing
	// Out counts the elements of the stage's outputs, as the prefix's
	// counting sink saw them (Write: none).
	Out int64 `json:"elements_out"`
}

// PrefixTimes are the times of the prefix pipelines of one pass.
type PrefixTimes struct {
	Prefixes []Timing      `json:"prefixes"` // prefix 0 (the empty job) .. prefix 5
	Full     Timing        `json:"full"`     // the Pass pipeline itself
	Stages   []StageTiming `json:"stages"`   // one per BenchStages entry
	Overhead Timing        `json:"job_overhead"`
}

// Stages times the stages of the next pass (without moving on): each
// prefix pipeline is run repeat times and its fastest run kept, then the
// full pass likewise, right after the last prefix so that the machine's
// load changes least between the two; scratch snapshots go to dir.
func (b *Bench) Stages(ctx context.Context, dir string, repeat int) (*PrefixTimes, error) {
	pp := b.Next(dir)
	out := &PrefixTimes{}
	outs := make([]int64, numPrefixes)
	best := func(build func(s beam.Scope), prefix int) (Timing, error) {
		var bestT Timing
		for i := range max(repeat, 1) {
			t, pr, err := b.Time(ctx, build)
			if err != nil {
				return t, err
			}
			if prefix >= 0 {
				outs[prefix] = sinkCount(pr)
			}
			if i == 0 || t.Wall < bestT.Wall {
				bestT = t
			}
		}
		return bestT, nil
	}
	for k := range numPrefixes {
		t, err := best(func(s beam.Scope) { PassPrefix(s, pp, k) }, k)
		if err != nil {
			return nil, fmt.Errorf("prefix %d (through %s): %w", k, prefixName(k), err)
		}
		out.Prefixes = append(out.Prefixes, t)
	}
	fullT, err := best(func(s beam.Scope) { Pass(s, pp) }, -1)
	if err != nil {
		return nil, fmt.Errorf("full pass: %w", err)
	}
	out.Full = fullT
	out.Overhead = out.Prefixes[0]
	for k, name := range BenchStages {
		end := fullT
		if k+1 < numPrefixes {
			end = out.Prefixes[k+1]
		}
		st := StageTiming{Stage: name, Timing: end.Sub(out.Prefixes[k])}
		if k+1 < numPrefixes {
			st.Out = outs[k+1]
		}
		out.Stages = append(out.Stages, st)
	}
	return out, nil
}

func prefixName(k int) string {
	if k == 0 {
		return "nothing"
	}
	return BenchStages[k-1]
}

// PassPrefix builds the pass p cut after its k-th stage (1-based in
// BenchStages; 0 builds an empty job), with every output that the cut
// leaves unconsumed counted by a sink, so the runner still computes it. The
// chain is passTransforms', stage by stage; k must be below
// len(BenchStages) (the pass through Write is Pass itself).
func PassPrefix(s beam.Scope, p PassParams, k int) {
	s = s.Scope("dpmr.bench.Prefix")
	if k <= 0 {
		sink(s, beam.Impulse(s))
		return
	}
	features, hot := ReadFeatures(s, p.Index)
	rows := ReadRows(s, p.Rows)
	if k == 1 {
		sinkKV(s, features)
		sinkKV(s, hot)
		sinkKV(s, rows)
		return
	}
	rows = newtonStage(s, rows, features, hot, p, noTap)
	weights := distributeStage(s, rows, features, hot, p)
	if k == 2 {
		sinkKV(s, weights)
		return
	}
	trip := TripToIndex(s, p.Index.Dataset("blocks"), p.Margins, weights)
	blocks := trip.Restore(s, false)
	if k == 3 {
		sink(s, blocks)
		return
	}
	// The blocks' kept margins are the gradient stage's second output,
	// computed with its first; the full pass writes them.
	choice, grads, _ := gradientStage(s, rows, trip, blocks, p, noTap)
	if k == 4 {
		sinkKV(s, grads)
		return
	}
	if k >= numPrefixes {
		panic(fmt.Sprintf("pipeline: PassPrefix(%d): the pass has %d prefixes", k, numPrefixes))
	}
	up := transforms.UpdateParameters(s, rows, grads, choice, updateParams(p))
	sinkKV(s, up.Rows)
	sink(s, up.Figures)
}

// sinkCounter is the counter of the prefix pipelines' sinks.
const sinkCounter = "sink.elements"

func sink(s beam.Scope, col beam.PCollection) { beam.ParDo0(s, &countFn{}, col) }

func sinkKV(s beam.Scope, col beam.PCollection) { beam.ParDo0(s, &countKVFn{}, col) }

func sinkCount(pr beam.PipelineResult) int64 {
	if pr == nil {
		return 0
	}
	var n int64
	for _, c := range benchCounters(pr) {
		if c.Name() == sinkCounter {
			n += c.Result()
		}
	}
	return n
}

func benchCounters(pr beam.PipelineResult) []metrics.CounterResult {
	return pr.Metrics().Query(func(r metrics.SingleResult) bool {
		return r.Namespace() == benchNamespace
	}).Counters()
}

// countFn and countKVFn count elements, adding to the counter once per
// bundle so that counting costs next to nothing.
type countFn struct {
	n int64
	c beam.Counter
}

func (f *countFn) Setup() { f.c = beam.NewCounter(benchNamespace, sinkCounter) }

func (f *countFn) ProcessElement(_ beam.T) { f.n++ }

func (f *countFn) FinishBundle(ctx context.Context) {
	f.c.Inc(ctx, f.n)
	f.n = 0
}

type countKVFn struct {
	n int64
	c beam.Counter
}

func (f *countKVFn) Setup() { f.c = beam.NewCounter(benchNamespace, sinkCounter) }

func (f *countKVFn) ProcessElement(_ beam.X, _ beam.Y) { f.n++ }

func (f *countKVFn) FinishBundle(ctx context.Context) {
	f.c.Inc(ctx, f.n)
	f.n = 0
}

// Flow is what one stage moves through one shuffle or materialization.
type Flow struct {
	Stage    string `json:"stage"`
	What     string `json:"what"`
	Elements int64  `json:"elements"`
	Bytes    int64  `json:"bytes"`
}

// MeteredPass builds the pass p with pass-through counters where data
// crosses a stage boundary, so that Flows can report per stage the
// elements and bytes it moves. Bytes are each element's encoding by its
// Beam coder (the hand-written ones of transforms/coders.go for the
// project's records), key and value, as a distributed runner would ship
// them; the direct runner moves the same elements in memory. Counted:
//
//   - ReadIndex: the block features and rows read (file I/O; no shuffle).
//     The inverted blocks are not read here but streamed from the index
//     files by each trip's RestoreDocuments (RestoreFromIndex): they are
//     never shuffled;
//   - LocalNewton (first trip), subspace's passes after the first only:
//     Distribute's (NewtonRows) CoGroupByKey input (row packs and block
//     features), the weights with the rows (less their steps) grouped by
//     index shard, and
//     LocalNewton's row packs; its Newton shares, made and shuffled inside
//     transforms.LocalNewton, are not counted;
//   - DistributeParameters: the CoGroupByKey input, the row packs (hot
//     features' fanned-out copies not counted) and the block features;
//   - RestoreDocuments: the weights, grouped by index shard;
//   - LineSearch+ComputeGradients: the restored blocks, which the search
//     reads as they are restored; then what waits for its choice (a side
//     input) and is grouped by index shard again for the gradients, which
//     read the blocks from the index once more: under lbfgs, gd and
//     averaging the weights again, under subspace each block's row ids
//     and margins (transforms.SearchedBlock). Subspace's search rounds
//     keep each block's labels and margins, which are not counted;
//   - UpdateParameters: the CoGroupByKey input, row packs and gradient
//     packs, and the moved rows, kept until the L-BFGS direction (a side
//     input) is known;
//   - Write: the records entering the writer's GroupByKey, and under
//     subspace the margins the blocks keep for the next pass.
//
// Global combines (the line search's losses, the L-BFGS dot products, the
// figures) are lifted to one accumulator per bundle and are not counted.
func MeteredPass(s beam.Scope, p PassParams) {
	s = s.Scope("dpmr.bench.Metered")
	passGraph(s, p, func(stage, what string, col beam.PCollection) beam.PCollection {
		if typex.IsKV(col.Type()) {
			return tapKV(s, stage, what, col)
		}
		return beam.ParDo(s, &tapFn{Stage: stage, What: what}, col)
	})
}

func tapKV(s beam.Scope, stage, what string, col beam.PCollection) beam.PCollection {
	return beam.ParDo(s, &tapKVFn{Stage: stage, What: what}, col)
}

// Flows reads the counters of a MeteredPass run, in MeteredStages order.
func Flows(pr beam.PipelineResult) []Flow {
	byKey := map[[2]string]*Flow{}
	var order [][2]string
	for _, c := range benchCounters(pr) {
		name := c.Name()
		rest, isBytes := strings.CutSuffix(name, ".bytes")
		if !isBytes {
			var ok bool
			if rest, ok = strings.CutSuffix(name, ".elements"); !ok || name == sinkCounter {
				continue
			}
		}
		stage, what, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		key := [2]string{stage, what}
		f := byKey[key]
		if f == nil {
			f = &Flow{Stage: stage, What: what}
			byKey[key] = f
			order = append(order, key)
		}
		if isBytes {
			f.Bytes += c.Result()
		} else {
			f.Elements += c.Result()
		}
	}
	var out []Flow
	for _, stage := range MeteredStages {
		for _, key := range order {
			if key[0] == stage {
				out = append(out, *byKey[key])
			}
		}
	}
	return out
}

// meter counts elements and their encoded bytes for one flow, adding to
// the counters once per bundle.
type meter struct {
	elements, bytes int64
	ce, cb          beam.Counter
	encoders        map[reflect.Type]beam.ElementEncoder
	w               byteCounter
}

func (m *meter) setup(stage, what string) {
	m.ce = beam.NewCounter(benchNamespace, stage+"/"+what+".elements")
	m.cb = beam.NewCounter(benchNamespace, stage+"/"+what+".bytes")
	m.encoders = map[reflect.Type]beam.ElementEncoder{}
}

// size returns v's encoded size by the Beam coder of its type.
func (m *meter) size(v any) (int64, error) {
	t := reflect.TypeOf(v)
	enc, ok := m.encoders[t]
	if !ok {
		enc = beam.NewElementEncoder(t)
		m.encoders[t] = enc
	}
	m.w = 0
	if err := enc.Encode(v, &m.w); err != nil {
		return 0, fmt.Errorf("bench: encoding %v: %v", t, err)
	}
	return int64(m.w), nil
}

// add counts n elements of total size of the values given.
func (m *meter) add(n int64, values ...any) error {
	for _, v := range values {
		b, err := m.size(v)
		if err != nil {
			return err
		}
		m.bytes += b
	}
	m.elements += n
	return nil
}

func (m *meter) flush(ctx context.Context) {
	m.ce.Inc(ctx, m.elements)
	m.cb.Inc(ctx, m.bytes)
	m.elements, m.bytes = 0, 0
}

type byteCounter int

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// tapFn and tapKVFn pass elements through, metering them.
type tapFn struct {
	Stage, What string
	m           meter
}

func (f *tapFn) Setup() { f.m.setup(f.Stage, f.What) }

func (f *tapFn) ProcessElement(v beam.T, emit func(beam.T)) error {
	if err := f.m.add(1, v); err != nil {
		return err
	}
	emit(v)
	return nil
}

func (f *tapFn) FinishBundle(ctx context.Context, _ func(beam.T)) { f.m.flush(ctx) }

type tapKVFn struct {
	Stage, What string
	m           meter
}

func (f *tapKVFn) Setup() { f.m.setup(f.Stage, f.What) }

func (f *tapKVFn) ProcessElement(k beam.X, v beam.Y, emit func(beam.X, beam.Y)) error {
	if err := f.m.add(1, k, v); err != nil {
		return err
	}
	emit(k, v)
	return nil
}

func (f *tapKVFn) FinishBundle(ctx context.Context, _ func(beam.X, beam.Y)) { f.m.flush(ctx) }

// Meter runs a MeteredPass of the next pass (without moving on), writing
// its rows to dir, and returns its flows and time (which includes the
// metering, so it is not the pass's time).
func (b *Bench) Meter(ctx context.Context, dir string) ([]Flow, Timing, error) {
	pp := b.Next(dir)
	t, pr, err := b.Time(ctx, func(s beam.Scope) { MeteredPass(s, pp) })
	if err != nil {
		return nil, t, fmt.Errorf("metered pass: %w", err)
	}
	return Flows(pr), t, nil
}

// ReferenceBench is the reference trainer on the same data: load, pass 0
// and pass 1, each timed.
type ReferenceBench struct {
	Trainer *model.Trainer `json:"-"`
	Load    Timing         `json:"load"`
}

// LoadReference reads the data into the reference trainer, timed.
func LoadReference(paths []string, p model.TrainParams) (*ReferenceBench, error) {
	p = p.WithDefaults()
	r := &ReferenceBench{}
	t, err := Measure(func() error {
		d, err := model.ReadTrainingSet(paths, p)
		if err != nil {
			return err
		}
		r.Trainer, err = model.NewTrainer(d, p, nil)
		return err
	})
	r.Load = t
	return r, err
}

// Pass runs the reference trainer's next pass, timed.
func (r *ReferenceBench) Pass() (model.Figures, Timing) {
	var f model.Figures
	t, _ := Measure(func() error {
		f = r.Trainer.Pass()
		return nil
	})
	return f, t
}
