package transforms

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn4x1[ParsedBlock, func(int64, DocBlock), func(int32, BlockFeatures), func(int32, FreqPack), error](&invertBlockFn{})
	register.Emitter2[int64, DocBlock]()
	register.Emitter2[int32, BlockFeatures]()
	register.Emitter2[int32, FreqPack]()
	register.DoFn3x1[int32, func(*FreqPack) bool, func(int32, FreqPack), error](&sumFreqFn{})
	register.Iter1[FreqPack]()
	register.Function2x1[int64, int64, int64](sumInt64)
}

// Index is the inverted training set: what InvertDocuments builds once and
// every iteration reads.
type Index struct {
	Docs     beam.PCollection // KV<int64, DocBlock>, keyed by block
	Features beam.PCollection // KV<int32, BlockFeatures>, keyed by partition
	// Freq is each partition's feature totals, KV<int32, FreqPack>: every
	// feature of the data, with its postings and sum of squared values.
	Freq beam.PCollection
}

// InvertDocuments turns parsed blocks into the inverted index. Each block
// becomes a column-major DocBlock (with the intercept, when bias is set, a
// feature of every row), and the block's features are listed per
// partition (of partitions) as BlockFeatures: which blocks use a feature
// is what DistributeParameters needs to route its weight. The features'
// frequencies are summed per partition, exactly. Expects
// PCollection<ParsedBlock>.
func InvertDocuments(s beam.Scope, blocks beam.PCollection, bias bool, partitions int32) Index {
	s = s.Scope("dpmr.InvertDocuments")
	docs, feats, freq := beam.ParDo3(s, &invertBlockFn{Bias: bias, Partitions: partitions}, blocks)
	return Index{Docs: docs, Features: feats, Freq: beam.ParDo(s, &sumFreqFn{}, beam.GroupByKey(s, freq))}
}

type invertBlockFn struct {
	Bias       bool
	Partitions int32
}

func (f *invertBlockFn) ProcessElement(b ParsedBlock, emitDoc func(int64, DocBlock), emitFeats func(int32, BlockFeatures), emitFreq func(int32, FreqPack)) error {
	doc, names, err := Invert(b, f.Bias)
	if err != nil {
		return err
	}
	emitDoc(b.Block, doc)
	// The columns in partition order (columns ascending within one), as
	// keys partition<<32 | column: the lists of all partitions are cut
	// from one array each, and the work grows with the block's columns,
	// not with the number of partitions (a block may be one sample).
	keys := make([]uint64, len(names))
	for c, name := range names {
		keys[c] = uint64(PartitionOf(FeatureKey{Name: name}, f.Partitions))<<32 | uint64(c)
	}
	slices.Sort(keys)
	n := len(keys)
	fnames, cols, postings, sumSq := make([]string, n), make([]int32, n), make([]int64, n), make([]float64, n)
	m := doc.Matrix()
	for i, k := range keys {
		c := int(uint32(k))
		fnames[i], cols[i] = names[c], int32(c)
		postings[i], sumSq[i] = int64(doc.ColPtr[c+1]-doc.ColPtr[c]), m.ColumnSumSq(c)
	}
	for i := 0; i < n; {
		p, j := keys[i]>>32, i+1
		for j < n && keys[j]>>32 == p {
			j++
		}
		emitFeats(int32(p), BlockFeatures{Block: b.Block, Names: fnames[i:j:j], Cols: cols[i:j:j]})
		emitFreq(int32(p), FreqPack{Names: fnames[i:j:j], Postings: postings[i:j:j], SumSq: sumSq[i:j:j]})
		i = j
	}
	return nil
}

// Invert lays a parsed block out by column, columns in ascending feature
// order and each column's rows ascending, as the reference trainer does,
// and returns the columns' features (the intercept's included). A feature
// twice in one sample is an error (the parser merges them).
func Invert(b ParsedBlock, bias bool) (DocBlock, []string, error) {
	n := len(b.Labels)
	doc := DocBlock{Block: b.Block, File: b.File, Lines: b.Lines, Labels: b.Labels, Weights: b.Weights}
	// The vocabulary is sorted; the intercept's column, when added, goes
	// in its place among them and the columns after it move up by one.
	features, at := b.Vocab, int32(-1)
	if bias && n > 0 {
		i, found := slices.BinarySearch(b.Vocab, model.BiasName)
		if found {
			return doc, nil, fmt.Errorf("dpmr: block %d has a feature named like the intercept", b.Block)
		}
		at = int32(i)
		features = slices.Insert(slices.Clip(b.Vocab), i, model.BiasName)
		doc.Intercept = at + 1
	}
	col := func(j int32) int32 {
		if at >= 0 && j >= at {
			return j + 1
		}
		return j
	}
	doc.ColPtr = make([]int32, len(features)+1)
	for _, j := range b.Cols {
		doc.ColPtr[col(j)+1]++
	}
	if at >= 0 {
		doc.ColPtr[at+1] = int32(n)
	}
	for c := range features {
		doc.ColPtr[c+1] += doc.ColPtr[c]
	}
	nnz := doc.ColPtr[len(features)]
	doc.Rows, doc.Vals = make([]int32, nnz), make([]float64, nnz)
	next := append([]int32(nil), doc.ColPtr[:len(features)]...)
	for r := 0; r < n; r++ {
		if at >= 0 {
			k := next[at]
			doc.Rows[k], doc.Vals[k] = int32(r), 1
			next[at]++
		}
		for k := b.RowPtr[r]; k < b.RowPtr[r+1]; k++ {
			c := col(b.Cols[k])
			i := next[c]
			if i > doc.ColPtr[c] && doc.Rows[i-1] == int32(r) {
				return doc, nil, fmt.Errorf("dpmr: block %d row %d has feature %q twice", b.Block, r, features[c])
			}
			doc.Rows[i], doc.Vals[i] = int32(r), b.Vals[k]
			next[c]++
		}
	}
	return doc, features, nil
}

// nameID is a name, its first eight bytes as a number and its position
// in the list sortNames sorts.
type nameID struct {
	prefix uint64
	name   string
	id     int32
}

// sortNames returns names with their positions, in ascending byte order.
// Sorting the names with their positions beside them, rather than
// positions by their names, reads no name through an index, and most
// comparisons are settled by the prefixes, without reading the names.
func sortNames(names []string) []nameID {
	order := make([]nameID, len(names))
	for i, name := range names {
		order[i] = nameID{namePrefix(name), name, int32(i)}
	}
	slices.SortFunc(order, func(a, b nameID) int {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		return strings.Compare(a.name, b.name)
	})
	return order
}

// namePrefix is s's first eight bytes, big-endian, zero-padded: two names
// whose prefixes differ compare as their prefixes do.
func namePrefix(s string) uint64 {
	var x uint64
	for i := range min(len(s), 8) {
		x |= uint64(s[i]) << (56 - 8*i)
	}
	return x
}

func sortedKeys[V any](m map[int32]V) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// sumFreqFn adds up a partition's per-block frequencies, the squares
// exactly, so the curvature estimates do not depend on the order blocks
// arrive in.
type sumFreqFn struct{}

func (f *sumFreqFn) ProcessElement(p int32, packs func(*FreqPack) bool, emit func(int32, FreqPack)) error {
	var at map[string]int32
	var names []string
	var postings []int64
	var sumSq []model.ExactSum
	var fp FreqPack
	for packs(&fp) {
		if at == nil {
			// A partition's vocabulary is several times a block's: a map sized
			// for it once grows less.
			at = make(map[string]int32, 4*len(fp.Names))
		}
		for i, name := range fp.Names {
			j, ok := at[name]
			if !ok {
				j = int32(len(names))
				at[name] = j
				names, postings, sumSq = append(names, name), append(postings, 0), append(sumSq, model.ExactSum{})
			}
			postings[j] += fp.Postings[i]
			sumSq[j].Add(fp.SumSq[i])
		}
	}
	n := len(names)
	out := FreqPack{Names: make([]string, n), Postings: make([]int64, n), SumSq: make([]float64, n)}
	for i, o := range sortNames(names) {
		out.Names[i], out.Postings[i], out.SumSq[i] = o.name, postings[o.id], sumSq[o.id].Float64()
	}
	emit(p, out)
	return nil
}

func sumInt64(a, b int64) int64 { return a + b }
