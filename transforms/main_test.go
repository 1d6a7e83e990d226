package transforms

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/dpmr/dpmr/model"
	_ "github.com/dpmr/dpmr/runners"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "direct") }

func init() {
	register.Function2x1[FeatureKey, Postings, postingRec](toPostingRec)
	register.Function1x2[postingRec, FeatureKey, Postings](fromPostingRec)
	register.Function2x1[string, model.Row, rowRec](toRowRec)
	register.Function1x2[rowRec, string, model.Row](fromRowRec)
	register.Function1x2[weightRec, string, float64](fromWeightRec)
	register.Function2x1[string, float64, weightRec](toWeightRec)
	register.Function1x2[hotRec, string, int32](fromHotRec)
	register.Function2x1[string, int32, hotRec](toHotRec)
	register.Function1x2[freqRec, string, FeatureFreq](fromFreqRec)
	register.Function2x1[string, FeatureFreq, freqRec](toFreqRec)
	register.Function1x2[labelRec, int64, LabelBlock](fromLabelRec)
	register.Function2x1[int64, LabelBlock, labelRec](toLabelRec)
	register.Function1x2[weightedRec, int64, WeightedPostings](fromWeightedRec)
	register.Function2x1[int64, WeightedPostings, weightedRec](toWeightedRec)
	register.DoFn2x1[[]byte, func(*namedValue) bool, error](&checkValuesFn{})
	register.Iter1[namedValue]()
}

// valueTol is the relative tolerance of float results that the pipeline
// sums exactly (ExactSum) while the test's expectation is computed with
// plain float64 arithmetic or from transcendental functions: the two may
// differ in the last few bits, never more.
const valueTol = 1e-12

// bothRunners are the runners the stage tests run on: the legacy direct
// runner and prism, the embedded default (which encodes every element
// between stages, as a distributed runner does). With these tiny inputs a
// prism pipeline costs 0.1-0.3 s.
var bothRunners = []string{"direct", "prism"}

// runPipeline builds a fresh pipeline with build and runs it on runner.
func runPipeline(runner string, build func(s beam.Scope)) error {
	p, s := beam.NewPipelineWithRoot()
	build(s)
	_, err := beam.Run(context.Background(), runner, p)
	return err
}

// onRunners runs a pipeline built by build on each runner, each as a
// subtest named after the runner. The pipeline's asserts (passert,
// checkValues) make it fail; so does any stage error.
func onRunners(t *testing.T, runners []string, build func(s beam.Scope)) {
	t.Helper()
	for _, r := range runners {
		t.Run(r, func(t *testing.T) {
			if err := runPipeline(r, build); err != nil {
				t.Fatalf("pipeline failed on %s: %v", r, err)
			}
		})
	}
}

// failsOnRunners runs a pipeline built by build on each runner and requires
// it to fail with an error whose text contains want.
func failsOnRunners(t *testing.T, runners []string, want string, build func(s beam.Scope)) {
	t.Helper()
	for _, r := range runners {
		t.Run(r, func(t *testing.T) {
			err := runPipeline(r, build)
			requireErrorContains(t, err, want)
		})
	}
}

func requireErrorContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("pipeline succeeded, want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("pipeline failed with %v\nwant an error containing %q", err, want)
	}
}

// nilIfEmpty maps an empty slice to nil. passert compares encodings, and
// the row coder tells a nil slice from an empty one; a coder may decode
// either as the other, which is no difference in meaning.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Flat records for building keyed inputs and asserting keyed outputs:
// passert needs a non-KV PCollection, and its comparison is by encoding,
// so records are compared whole, field by field.

// postingRec is a KV<FeatureKey, Postings>.
type postingRec struct {
	Name  string
	Shard int32
	Block int64
	Rows  []int32
	Vals  []float64
}

func toPostingRec(k FeatureKey, p Postings) postingRec {
	return postingRec{Name: k.Name, Shard: k.Shard, Block: p.Block, Rows: nilIfEmpty(p.Rows), Vals: nilIfEmpty(p.Vals)}
}

func fromPostingRec(r postingRec) (FeatureKey, Postings) {
	return FeatureKey{Name: r.Name, Shard: r.Shard}, Postings{Block: r.Block, Rows: r.Rows, Vals: r.Vals}
}

// rowRec is a KV<string, model.Row>.
type rowRec struct {
	Name       string
	W, G, D, H float64
	S, Y       []float64
}

func toRowRec(name string, r model.Row) rowRec {
	return rowRec{Name: name, W: r.W, G: r.G, D: r.D, H: r.H, S: nilIfEmpty(r.S), Y: nilIfEmpty(r.Y)}
}

func fromRowRec(r rowRec) (string, model.Row) {
	return r.Name, model.Row{W: r.W, G: r.G, D: r.D, H: r.H, S: r.S, Y: r.Y}
}

// weightRec is a KV<string, float64> of weights.
type weightRec struct {
	Name string
	W    float64
}

func fromWeightRec(r weightRec) (string, float64)  { return r.Name, r.W }
func toWeightRec(name string, w float64) weightRec { return weightRec{Name: name, W: w} }

// hotRec is an entry of the hot table, KV<string, int32>.
type hotRec struct {
	Name   string
	Shards int32
}

func fromHotRec(r hotRec) (string, int32)       { return r.Name, r.Shards }
func toHotRec(name string, shards int32) hotRec { return hotRec{Name: name, Shards: shards} }

// freqRec is a KV<string, FeatureFreq>.
type freqRec struct {
	Name     string
	Postings int64
	SumSq    float64
}

func fromFreqRec(r freqRec) (string, FeatureFreq) {
	return r.Name, FeatureFreq{Postings: r.Postings, SumSq: r.SumSq}
}

func toFreqRec(name string, f FeatureFreq) freqRec {
	return freqRec{Name: name, Postings: f.Postings, SumSq: f.SumSq}
}

// labelRec is a KV<int64, LabelBlock>.
type labelRec struct {
	Block  int64
	File   int32
	Lines  []int64
	Labels []float64
}

func fromLabelRec(r labelRec) (int64, LabelBlock) {
	return r.Block, LabelBlock{File: r.File, Lines: r.Lines, Labels: r.Labels}
}

func toLabelRec(block int64, lb LabelBlock) labelRec {
	return labelRec{Block: block, File: lb.File, Lines: nilIfEmpty(lb.Lines), Labels: nilIfEmpty(lb.Labels)}
}

// weightedRec is a KV<int64, WeightedPostings>.
type weightedRec struct {
	Block   int64
	Feature string
	W, D    float64
	Rows    []int32
	Vals    []float64
}

func fromWeightedRec(r weightedRec) (int64, WeightedPostings) {
	return r.Block, WeightedPostings{Feature: r.Feature, W: r.W, D: r.D, Rows: r.Rows, Vals: r.Vals}
}

func toWeightedRec(block int64, wp WeightedPostings) weightedRec {
	return weightedRec{Block: block, Feature: wp.Feature, W: wp.W, D: wp.D, Rows: nilIfEmpty(wp.Rows), Vals: nilIfEmpty(wp.Vals)}
}

// keyed turns a list of flat records into the KV PCollection that from
// (one of the from*Rec functions) makes of each.
func keyed(s beam.Scope, from any, list any) beam.PCollection {
	return beam.ParDo(s, from, beam.CreateList(s, list))
}

// namedValue is one float of a result, named after where it comes from
// (e.g. "G/a" for feature a's gradient) so that a mismatch says which.
type namedValue struct {
	Name string
	V    float64
}

// checkValuesFn fails unless its side input holds exactly the names of
// Want, once each, with values within Tol relative to max(1, |want|).
type checkValuesFn struct {
	Want map[string]float64
	Tol  float64
}

func (f *checkValuesFn) ProcessElement(_ []byte, got func(*namedValue) bool) error {
	seen := map[string]float64{}
	var problems []string
	var v namedValue
	for got(&v) {
		if _, dup := seen[v.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s: more than one value", v.Name))
		}
		seen[v.Name] = v.V
	}
	for name, g := range seen {
		w, ok := f.Want[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: unexpected value %v", name, g))
		case !(math.Abs(g-w) <= f.Tol*math.Max(1, math.Abs(w))):
			problems = append(problems, fmt.Sprintf("%s: got %v, want %v (diff %.3g)", name, g, w, g-w))
		}
	}
	for name, w := range f.Want {
		if _, ok := seen[name]; !ok {
			problems = append(problems, fmt.Sprintf("%s: missing, want %v", name, w))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("values differ:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

// checkValues asserts that values, a PCollection<namedValue>, holds
// exactly want, each within tol (relative, see checkValuesFn).
func checkValues(s beam.Scope, values beam.PCollection, want map[string]float64, tol float64) {
	s = s.Scope("checkValues")
	beam.ParDo0(s, &checkValuesFn{Want: want, Tol: tol}, beam.Impulse(s), beam.SideInput{Input: values})
}
