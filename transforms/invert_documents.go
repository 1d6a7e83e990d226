package transforms

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn3x0[ParsedBlock, func(FeatureKey, Postings), func(int64, LabelBlock)](&invertBlockFn{})
	register.Emitter2[FeatureKey, Postings]()
	register.Emitter2[int64, LabelBlock]()
	register.Function2x2[FeatureKey, Postings, string, FeatureFreq](postingCount)
	register.Function2x1[int64, int64, int64](sumInt64)
	register.Combiner3[freqAcc, FeatureFreq, FeatureFreq](&freqSumFn{})
}

// FeatureFreq is a feature's frequency: how many postings it has and the
// sum of their squared values (which sets its curvature estimate).
type FeatureFreq struct {
	Postings int64
	SumSq    float64
}

// Index is the inverted training set: what InvertDocuments builds once and
// every iteration reads.
type Index struct {
	Postings beam.PCollection // KV<FeatureKey, Postings>
	Labels   beam.PCollection // KV<int64, LabelBlock>, keyed by block
	Freq     beam.PCollection // KV<string, FeatureFreq>
}

// InvertDocuments turns parsed blocks into the inverted index: for every
// feature of a block one Postings element holding the rows that use it
// (with the intercept, when bias is set, a feature of every row), the
// block's labels keyed by block, and each feature's frequency summed with
// a combiner. Expects PCollection<ParsedBlock>.
func InvertDocuments(s beam.Scope, blocks beam.PCollection, bias bool) Index {
	s = s.Scope("dpmr.InvertDocuments")
	postings, labels := beam.ParDo2(s, &invertBlockFn{Bias: bias}, blocks)
	freq := beam.CombinePerKey(s, &freqSumFn{}, beam.ParDo(s, postingCount, postings))
	return Index{Postings: postings, Labels: labels, Freq: freq}
}

// invertBlockFn inverts one block. Postings of a feature come out with
// their rows ascending because rows are visited in order.
type invertBlockFn struct {
	Bias bool
}

func (f *invertBlockFn) ProcessElement(b ParsedBlock, emitPost func(FeatureKey, Postings), emitLabels func(int64, LabelBlock)) {
	emitLabels(b.Block, LabelBlock{File: b.File, Lines: b.Lines, Labels: b.Labels})
	n := len(b.Labels)
	if f.Bias && n > 0 {
		p := Postings{Block: b.Block, Rows: make([]int32, n), Vals: make([]float64, n)}
		for r := range p.Rows {
			p.Rows[r], p.Vals[r] = int32(r), 1
		}
		emitPost(FeatureKey{Name: model.BiasName}, p)
	}
	byName := make(map[string]int, len(b.Names))
	var lists []Postings
	var names []string
	for r := 0; r < n; r++ {
		for k := b.RowPtr[r]; k < b.RowPtr[r+1]; k++ {
			name := b.Names[k]
			i, ok := byName[name]
			if !ok {
				i = len(lists)
				byName[name] = i
				lists = append(lists, Postings{Block: b.Block})
				names = append(names, name)
			}
			lists[i].Rows = append(lists[i].Rows, int32(r))
			lists[i].Vals = append(lists[i].Vals, b.Vals[k])
		}
	}
	for i, p := range lists {
		emitPost(FeatureKey{Name: names[i]}, p)
	}
}

func postingCount(k FeatureKey, p Postings) (string, FeatureFreq) {
	return k.Name, FeatureFreq{Postings: int64(len(p.Rows)), SumSq: model.SumSquares(p.Vals)}
}

// freqAcc sums frequencies; squares exactly, so the curvature estimates
// do not depend on the order blocks are combined in.
type freqAcc struct {
	Postings int64
	SumSq    model.ExactSum
}

type freqSumFn struct{}

func (f *freqSumFn) AddInput(a freqAcc, x FeatureFreq) freqAcc {
	a.Postings += x.Postings
	a.SumSq.Add(x.SumSq)
	return a
}

func (f *freqSumFn) MergeAccumulators(a, b freqAcc) freqAcc {
	a.Postings += b.Postings
	a.SumSq.Merge(&b.SumSq)
	return a
}

func (f *freqSumFn) ExtractOutput(a freqAcc) FeatureFreq {
	return FeatureFreq{Postings: a.Postings, SumSq: a.SumSq.Float64()}
}

func sumInt64(a, b int64) int64 { return a + b }
