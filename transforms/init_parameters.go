package transforms

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*weightEntry)(nil)).Elem())
	register.DoFn4x1[int32, func(*FreqPack) bool, func(*RowPack) bool, func(int32, RowPack), error](&initRowsFn{})
	register.Iter1[RowPack]()
	register.Emitter2[int32, RowPack]()
	register.Function2x2[int32, RowPack, int32, RowPack](weightsOnly)
	register.Function2x0[int64, func(int32, RowPack)](noRows)
	register.DoFn3x0[string, float64, func(int32, weightEntry)](&partitionWeightFn{})
	register.Emitter2[int32, weightEntry]()
	register.Function3x1[int32, func(*weightEntry) bool, func(int32, RowPack), error](packWeights)
	register.Iter1[weightEntry]()
	register.DoFn4x0[int32, RowPack, func(*[]float64) bool, func(int32, RowPack)](&expandClassesFn{})
	register.Iter1[[]float64]()
}

// ExpandClasses gives each feature of multiclass data one row per class
// (model.ClassRow), all at weight 0, in place of its row: the rows of
// InitParameters, whose warm start multiclass does not take. classes is
// the data's class counts, PCollection<[]float64> with one element for
// multiclass data (K is its length) and none for two classes, whose rows
// pass through. Expects and returns PCollection<KV<int32, RowPack>>.
func ExpandClasses(s beam.Scope, rows, classes beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("dpmr.ExpandClasses"), &expandClassesFn{}, rows, beam.SideInput{Input: classes})
}

type expandClassesFn struct{}

func (f *expandClassesFn) ProcessElement(p int32, pack RowPack, classes func(*[]float64) bool, emit func(int32, RowPack)) {
	K := 0
	var counts []float64
	for classes(&counts) {
		K = len(counts)
	}
	if K < 2 {
		emit(p, pack)
		return
	}
	out := RowPack{Names: make([]string, 0, K*len(pack.Names)), Rows: make([]model.Row, K*len(pack.Names))}
	for _, name := range pack.Names {
		for k := range K {
			out.Names = append(out.Names, model.ClassRow(name, k))
		}
	}
	emit(p, out)
}

// WarmStart takes the weights of existing parameter rows as the starting
// point of InitParameters. Expects and returns PCollection<KV<int32,
// RowPack>> (the result's rows hold only weights).
func WarmStart(s beam.Scope, rows beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("dpmr.WarmStart"), weightsOnly, rows)
}

// ColdStart is the empty PCollection<KV<int32, RowPack>> of weights for a
// start from zero.
func ColdStart(s beam.Scope) beam.PCollection {
	s = s.Scope("dpmr.ColdStart")
	return beam.ParDo(s, noRows, beam.CreateList(s, []int64{}))
}

func weightsOnly(p int32, in RowPack) (int32, RowPack) {
	out := RowPack{Names: in.Names, Rows: make([]model.Row, len(in.Rows))}
	for i, r := range in.Rows {
		out.Rows[i].W = r.W
	}
	return p, out
}

func noRows(int64, func(int32, RowPack)) {}

// weightEntry is one feature's weight on its way to its partition.
type weightEntry struct {
	Name string
	W    float64
}

// PackWeights gathers a model's weights, PCollection<KV<string, float64>>,
// into the parameter partitions: PCollection<KV<int32, RowPack>> whose
// rows hold only weights. A model is read this way once per run, so one
// element per feature is affordable here.
func PackWeights(s beam.Scope, weights beam.PCollection, partitions int32) beam.PCollection {
	s = s.Scope("dpmr.PackWeights")
	keyed := beam.ParDo(s, &partitionWeightFn{Partitions: partitions}, weights)
	return beam.ParDo(s, packWeights, beam.GroupByKey(s, keyed))
}

type partitionWeightFn struct{ Partitions int32 }

func (f *partitionWeightFn) ProcessElement(name string, w float64, emit func(int32, weightEntry)) {
	emit(PartitionOf(FeatureKey{Name: name}, f.Partitions), weightEntry{Name: name, W: w})
}

func packWeights(p int32, entries func(*weightEntry) bool, emit func(int32, RowPack)) error {
	var all []weightEntry
	var e weightEntry
	for entries(&e) {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	pack := RowPack{Names: make([]string, len(all)), Rows: make([]model.Row, len(all))}
	for i, e := range all {
		if i > 0 && all[i-1].Name == e.Name {
			return fmt.Errorf("dpmr: feature %q has two weights", e.Name)
		}
		pack.Names[i], pack.Rows[i].W = e.Name, e.W
	}
	emit(p, pack)
	return nil
}

// InitParameters gives every feature of the training data a parameter row:
// weight 0, or its value in warm when warm has one (the first pass
// measures the rest of the row). A feature found only in warm keeps its
// row too, so a warm start loses nothing. Expects freq
// PCollection<KV<int32, FreqPack>> (InvertDocuments' totals) and warm
// PCollection<KV<int32, RowPack>> (may be empty), partitioned alike;
// returns PCollection<KV<int32, RowPack>>.
func InitParameters(s beam.Scope, freq, warm beam.PCollection) beam.PCollection {
	s = s.Scope("dpmr.InitParameters")
	return beam.ParDo(s, &initRowsFn{}, beam.CoGroupByKey(s, freq, warm))
}

type initRowsFn struct{}

func (f *initRowsFn) ProcessElement(p int32, freq func(*FreqPack) bool, warm func(*RowPack) bool, emit func(int32, RowPack)) error {
	// Both sides come one pack per partition, names ascending (sumFreqFn's,
	// packWeights'), so the rows are a merge of two sorted lists; more
	// packs are sorted first.
	var names []string
	var fp FreqPack
	for freq(&fp) {
		names = append(names, fp.Names...)
	}
	if !slices.IsSorted(names) {
		slices.Sort(names)
	}
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			return fmt.Errorf("dpmr: partition %d lists feature %q twice in its frequencies", p, names[i])
		}
	}
	var start []weightEntry
	var rp RowPack
	for warm(&rp) {
		for i, name := range rp.Names {
			start = append(start, weightEntry{Name: name, W: rp.Rows[i].W})
		}
	}
	byName := func(a, b weightEntry) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(start, byName) {
		slices.SortStableFunc(start, byName)
	}
	for i := 1; i < len(start); i++ {
		if start[i].Name == start[i-1].Name {
			return fmt.Errorf("dpmr: partition %d has two starting weights for feature %q", p, start[i].Name)
		}
	}
	n := len(names) + len(start)
	out := RowPack{Names: make([]string, 0, n), Rows: make([]model.Row, 0, n)}
	add := func(name string, w float64) {
		out.Names, out.Rows = append(out.Names, name), append(out.Rows, model.Row{W: w})
	}
	for i, j := 0, 0; i < len(names) || j < len(start); {
		switch {
		case j == len(start) || i < len(names) && names[i] < start[j].Name:
			add(names[i], 0)
			i++
		case i == len(names) || start[j].Name < names[i]:
			add(start[j].Name, start[j].W)
			j++
		default:
			add(names[i], start[j].W)
			i, j = i+1, j+1
		}
	}
	emit(p, out)
	return nil
}
