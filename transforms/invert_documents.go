package transforms

import (
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
	ids := make(map[string]int32, len(b.Names)/4+1)
	var names []string
	var count []int32
	col := make([]int32, len(b.Names))
	for k, name := range b.Names {
		j, ok := ids[name]
		if !ok {
			j = int32(len(names))
			ids[name] = j
			names = append(names, name)
			count = append(count, 0)
		}
		col[k] = j
		count[j]++
	}
	if bias && n > 0 {
		if _, ok := ids[model.BiasName]; ok {
			return doc, nil, fmt.Errorf("dpmr: block %d has a feature named like the intercept", b.Block)
		}
		names = append(names, model.BiasName)
		count = append(count, int32(n))
	}
	// Sorting the names with their ids beside them, rather than ids by
	// their names, reads no name through an index.
	order := make([]nameID, len(names))
	for i, name := range names {
		order[i] = nameID{name, int32(i)}
	}
	slices.SortFunc(order, func(a, b nameID) int { return strings.Compare(a.name, b.name) })
	rank := make([]int32, len(names))
	features := make([]string, len(names))
	doc.ColPtr = make([]int32, len(names)+1)
	for c, o := range order {
		rank[o.id] = int32(c)
		features[c] = o.name
		doc.ColPtr[c+1] = doc.ColPtr[c] + count[o.id]
	}
	// The parser's names are substrings of their lines, so keeping them
	// would keep the block's whole text alive as long as the block
	// features are (setup groups them all); copied into one string per
	// block, they keep only themselves.
	text, at := strings.Join(features, ""), 0
	for c, name := range features {
		features[c] = text[at : at+len(name)]
		at += len(name)
	}
	nnz := doc.ColPtr[len(names)]
	doc.Rows, doc.Vals = make([]int32, nnz), make([]float64, nnz)
	next := append([]int32(nil), doc.ColPtr[:len(names)]...)
	put := func(j int32, r int, v float64) error {
		c := rank[j]
		k := next[c]
		if k > doc.ColPtr[c] && doc.Rows[k-1] == int32(r) {
			return fmt.Errorf("dpmr: block %d row %d has feature %q twice", b.Block, r, features[c])
		}
		doc.Rows[k], doc.Vals[k] = int32(r), v
		next[c]++
		return nil
	}
	biasID := int32(len(names) - 1)
	if bias && n > 0 {
		doc.Intercept = rank[biasID] + 1
	}
	for r := 0; r < n; r++ {
		if bias {
			put(biasID, r, 1)
		}
		for k := b.RowPtr[r]; k < b.RowPtr[r+1]; k++ {
			if err := put(col[k], r, b.Vals[k]); err != nil {
				return doc, nil, err
			}
		}
	}
	return doc, features, nil
}

type nameID struct {
	name string
	id   int32
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
	type acc struct {
		postings int64
		sumSq    model.ExactSum
	}
	totals := map[string]*acc{}
	var fp FreqPack
	for packs(&fp) {
		for i, name := range fp.Names {
			a := totals[name]
			if a == nil {
				a = &acc{}
				totals[name] = a
			}
			a.postings += fp.Postings[i]
			a.sumSq.Add(fp.SumSq[i])
		}
	}
	out := FreqPack{Names: make([]string, 0, len(totals))}
	for name := range totals {
		out.Names = append(out.Names, name)
	}
	sort.Strings(out.Names)
	out.Postings, out.SumSq = make([]int64, len(out.Names)), make([]float64, len(out.Names))
	for i, name := range out.Names {
		a := totals[name]
		out.Postings[i], out.SumSq[i] = a.postings, a.sumSq.Float64()
	}
	emit(p, out)
	return nil
}

func sumInt64(a, b int64) int64 { return a + b }
