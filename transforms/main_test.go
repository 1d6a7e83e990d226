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
	"github.com/dpmr/dpmr/model"
	_ "github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/runners/runnertest"
)

func TestMain(m *testing.M) { runnertest.Main(m, "direct") }

func init() {
	register.Function2x1[int32, BlockFeatures, featRec](toFeatRec)
	register.Function1x2[featRec, int32, BlockFeatures](fromFeatRec)
	register.Function2x1[int32, BlockRows, routeRec](toRouteRec)
	register.Function1x2[routeRec, int32, BlockRows](fromRouteRec)
	register.Function2x1[int32, FreqPack, freqRec](toFreqRec)
	register.Function1x2[freqRec, int32, FreqPack](fromFreqRec)
	register.Function2x1[int32, RowPack, rowPackRec](toRowPackRec)
	register.Function1x2[rowPackRec, int32, RowPack](fromRowPackRec)
	register.Function2x1[int32, GradPack, gradRec](toGradRec)
	register.Function1x2[gradRec, int32, GradPack](fromGradRec)
	register.Function2x1[int64, BlockWeights, weightsRec](toWeightsRec)
	register.Function1x2[weightsRec, int64, BlockWeights](fromWeightsRec)
	register.Function1x1[weightsRec, string](printWeightsRec)
	register.Function2x1[int64, DocBlock, docRec](toDocRec)
	register.Function1x2[docRec, int64, DocBlock](fromDocRec)
	register.Function1x2[weightRec, string, float64](fromWeightRec)
	register.Function2x1[string, float64, weightRec](toWeightRec)
	register.Function1x2[hotRec, string, int32](fromHotRec)
	register.Function2x1[string, int32, hotRec](toHotRec)
	register.DoFn2x1[[]byte, func(*namedValue) bool, error](&checkValuesFn{})
	register.Iter1[namedValue]()
	register.Emitter1[namedValue]()
}

// valueTol is the relative tolerance of float results that the pipeline
// sums exactly (ExactSum) while the test's expectation is computed with
// plain float64 arithmetic or from transcendental functions: the two may
// differ in the last few bits, never more.
const valueTol = 1e-12

// bothRunners are the runners the stage tests run on: the direct runner,
// dpmr's default, and prism (which encodes every element between stages,
// as a distributed runner does). prism runs through the test binary's own
// prism job server on a loopback port (runnertest.Prism), since the
// embedded prism runner of Beam 2.77 listens on every interface. With
// these tiny inputs a prism pipeline costs 0.1-0.3 s.
var bothRunners = []string{"direct", "prism"}

// runPipeline builds a fresh pipeline with build and runs it on runner.
func runPipeline(runner string, build func(s beam.Scope)) error {
	p, s := beam.NewPipelineWithRoot()
	build(s)
	_, err := runnertest.Run(context.Background(), runner, p)
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

// requirePartitions checks the test data's assumptions about where
// PartitionOf puts keys: expectations below are written by hand from them,
// so a change of the hash shows up here, not as a puzzling mismatch.
func requirePartitions(t *testing.T, n int32, want map[FeatureKey]int32) {
	t.Helper()
	for k, p := range want {
		if got := PartitionOf(k, n); got != p {
			t.Fatalf("test data assumes PartitionOf(%+v, %d) = %d, it is %d", k, n, p, got)
		}
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
// so records are compared whole, field by field. A record holds a whole
// element, so an element split in two, or two merged, is a mismatch.

// featRec is a KV<int32, BlockFeatures>.
type featRec struct {
	Part  int32
	Block int64
	Names []string
	Cols  []int32
}

func toFeatRec(p int32, f BlockFeatures) featRec {
	return featRec{Part: p, Block: f.Block, Names: nilIfEmpty(f.Names), Cols: nilIfEmpty(f.Cols)}
}

func fromFeatRec(r featRec) (int32, BlockFeatures) {
	return r.Part, BlockFeatures{Block: r.Block, Names: r.Names, Cols: r.Cols}
}

// routeRec is a KV<int32, BlockRows>.
type routeRec struct {
	Part  int32
	Block int64
	Cols  []int32
	IDs   []RowID
}

func toRouteRec(p int32, r BlockRows) routeRec {
	return routeRec{Part: p, Block: r.Block, Cols: nilIfEmpty(r.Cols), IDs: nilIfEmpty(r.IDs)}
}

func fromRouteRec(r routeRec) (int32, BlockRows) {
	return r.Part, BlockRows{Block: r.Block, Cols: r.Cols, IDs: r.IDs}
}

// distributeByName is setup's AssignRowIDs and a pass's
// DistributeParameters in one, for tests whose block features are
// written by name.
func distributeByName(s beam.Scope, rows, features, hot beam.PCollection, parts int32, missingIsZero bool) beam.PCollection {
	return DistributeParameters(s, rows, AssignRowIDs(s, rows, features, hot, parts, missingIsZero), hot, parts)
}

// freqRec is a KV<int32, FreqPack>.
type freqRec struct {
	Part     int32
	Names    []string
	Postings []int64
	SumSq    []float64
}

func toFreqRec(p int32, f FreqPack) freqRec {
	return freqRec{Part: p, Names: nilIfEmpty(f.Names), Postings: nilIfEmpty(f.Postings), SumSq: nilIfEmpty(f.SumSq)}
}

func fromFreqRec(r freqRec) (int32, FreqPack) {
	return r.Part, FreqPack{Names: r.Names, Postings: r.Postings, SumSq: r.SumSq}
}

// featureFreq is one feature's frequency, for building FreqPacks.
type featureFreq struct {
	Name     string
	Postings int64
	SumSq    float64
}

// freqPacks groups frequencies into the packs of n partitions: one per
// partition that has a feature, names ascending.
func freqPacks(n int32, freqs ...featureFreq) []freqRec {
	sorted := append([]featureFreq(nil), freqs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	packs := map[int32]*freqRec{}
	for _, f := range sorted {
		p := PartitionOf(FeatureKey{Name: f.Name}, n)
		r := packs[p]
		if r == nil {
			r = &freqRec{Part: p}
			packs[p] = r
		}
		r.Names = append(r.Names, f.Name)
		r.Postings = append(r.Postings, f.Postings)
		r.SumSq = append(r.SumSq, f.SumSq)
	}
	var out []freqRec
	for _, p := range sortedKeys(packs) {
		out = append(out, *packs[p])
	}
	return out
}

// rowPackRec is a KV<int32, RowPack>.
type rowPackRec struct {
	Part  int32
	Names []string
	Rows  []model.Row
	From  *RowID // a hot feature's copy
}

func toRowPackRec(p int32, pack RowPack) rowPackRec {
	r := rowPackRec{Part: p, Names: nilIfEmpty(pack.Names), From: pack.From}
	for _, row := range pack.Rows {
		row.S, row.Y = nilIfEmpty(row.S), nilIfEmpty(row.Y)
		r.Rows = append(r.Rows, row)
	}
	return r
}

func fromRowPackRec(r rowPackRec) (int32, RowPack) {
	return r.Part, RowPack{Names: r.Names, Rows: r.Rows, From: r.From}
}

// rowPacks groups rows into the packs of n partitions: one per partition
// that has a row, names ascending.
func rowPacks(n int32, rows map[string]model.Row) []rowPackRec {
	names := make([]string, 0, len(rows))
	for name := range rows {
		names = append(names, name)
	}
	sort.Strings(names)
	packs := map[int32]*rowPackRec{}
	for _, name := range names {
		p := PartitionOf(FeatureKey{Name: name}, n)
		r := packs[p]
		if r == nil {
			r = &rowPackRec{Part: p}
			packs[p] = r
		}
		row := rows[name]
		row.S, row.Y = nilIfEmpty(row.S), nilIfEmpty(row.Y)
		r.Names = append(r.Names, name)
		r.Rows = append(r.Rows, row)
	}
	var out []rowPackRec
	for _, p := range sortedKeys(packs) {
		out = append(out, *packs[p])
	}
	return out
}

// gradRec is a KV<int32, GradPack>.
type gradRec struct {
	Part            int32
	Pos             []int32
	G, Curv, LocalW []float64
}

func toGradRec(p int32, g GradPack) gradRec {
	return gradRec{Part: p, Pos: nilIfEmpty(g.Pos), G: nilIfEmpty(g.G), Curv: nilIfEmpty(g.Curv), LocalW: nilIfEmpty(g.LocalW)}
}

func fromGradRec(r gradRec) (int32, GradPack) {
	return r.Part, GradPack{Pos: r.Pos, G: r.G, Curv: r.Curv, LocalW: r.LocalW}
}

// namedGrad is a gradient pack written by feature name; at gives it the
// positions of its rows.
type namedGrad struct {
	Part            int32
	Names           []string
	G, Curv, LocalW []float64
}

// at is the pack with each name's position in ids; a name without a row
// gets position -1 (which UpdateParameters refuses).
func (g namedGrad) at(ids map[string]RowID) gradRec {
	r := gradRec{Part: g.Part, G: g.G, Curv: g.Curv, LocalW: g.LocalW}
	for _, name := range g.Names {
		pos := int32(-1)
		if id, ok := ids[name]; ok {
			pos = id.Pos
		}
		r.Pos = append(r.Pos, pos)
	}
	return r
}

// gradsAt is at over a list of packs.
func gradsAt(ids map[string]RowID, grads ...namedGrad) []gradRec {
	out := make([]gradRec, len(grads))
	for i, g := range grads {
		out[i] = g.at(ids)
	}
	return out
}

// rowIDs lays out rows named names over parts partitions as
// InitParameters does (by PartitionOf, names ascending in each): each
// name's RowID.
func rowIDs(parts int32, names ...string) map[string]RowID {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	next := map[int32]int32{}
	ids := map[string]RowID{}
	for _, name := range sorted {
		p := PartitionOf(FeatureKey{Name: name}, parts)
		ids[name] = RowID{Part: p, Pos: next[p]}
		next[p]++
	}
	return ids
}

// packIDs is each row's RowID in packs, as they hold them.
func packIDs(packs []rowPackRec) map[string]RowID {
	ids := map[string]RowID{}
	for _, p := range packs {
		for i, name := range p.Names {
			ids[name] = RowID{Part: p.Part, Pos: int32(i)}
		}
	}
	return ids
}

// weightsRec is a KV<int64, BlockWeights>.
type weightsRec struct {
	Block int64
	Cols  []int32
	IDs   []RowID
	W, D  []float64
}

func toWeightsRec(block int64, w BlockWeights) weightsRec {
	return weightsRec{Block: block, Cols: nilIfEmpty(w.Cols), IDs: nilIfEmpty(w.IDs), W: nilIfEmpty(w.W), D: nilIfEmpty(w.D)}
}

func printWeightsRec(r weightsRec) string { return fmt.Sprintf("%+v", r) }

func fromWeightsRec(r weightsRec) (int64, BlockWeights) {
	return r.Block, BlockWeights{Cols: r.Cols, IDs: r.IDs, W: r.W, D: r.D}
}

// docRec is a KV<int64, DocBlock>: Key is the element's key, the rest the
// DocBlock's fields.
type docRec struct {
	Key       int64
	Block     int64
	File      int32
	Lines     []int64
	Labels    []float64
	Intercept int32
	ColPtr    []int32
	Rows      []int32
	Vals      []float64
}

func toDocRec(key int64, d DocBlock) docRec {
	return docRec{Key: key, Block: d.Block, File: d.File, Lines: nilIfEmpty(d.Lines), Labels: nilIfEmpty(d.Labels),
		Intercept: d.Intercept, ColPtr: nilIfEmpty(d.ColPtr), Rows: nilIfEmpty(d.Rows), Vals: nilIfEmpty(d.Vals)}
}

func fromDocRec(r docRec) (int64, DocBlock) {
	return r.Key, DocBlock{Block: r.Block, File: r.File, Lines: r.Lines, Labels: r.Labels,
		Intercept: r.Intercept, ColPtr: r.ColPtr, Rows: r.Rows, Vals: r.Vals}
}

// docRecOf is the record of a DocBlock keyed by its own block.
func docRecOf(d DocBlock) docRec { return toDocRec(d.Block, d) }

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

// keyed turns a list of flat records into the KV PCollection that from
// (one of the from*Rec functions) makes of each.
func keyed(s beam.Scope, from any, list any) beam.PCollection {
	return beam.ParDo(s, from, beam.CreateList(s, list))
}

// noHotTable is an empty hot table.
func noHotTable(s beam.Scope) beam.PCollection {
	return keyed(s, fromHotRec, []hotRec{})
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
