package transforms

import (
	"context"
	"fmt"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn5x1[context.Context, int64, func(*LabelBlock) bool, func(*WeightedPostings) bool, func(SufficientBlock), error](&restoreFn{})
	register.Iter1[LabelBlock]()
	register.Iter1[WeightedPostings]()
	register.Emitter1[SufficientBlock]()
}

// RestoreDocuments regathers each block's samples with their current
// weights: a CoGroupByKey on block of the labels and the weighted postings,
// rebuilt as a column-major matrix whose columns are sorted by feature (the
// order the shuffle delivered them in is arbitrary; sorting makes every
// sum deterministic). Postings of one feature that arrive in several
// shards are merged back into one column. Expects labels
// PCollection<KV<int64, LabelBlock>> and weighted PCollection<KV<int64,
// WeightedPostings>>; returns PCollection<SufficientBlock>.
func RestoreDocuments(s beam.Scope, labels, weighted beam.PCollection) beam.PCollection {
	s = s.Scope("dpmr.RestoreDocuments")
	return beam.ParDo(s, &restoreFn{}, beam.CoGroupByKey(s, labels, weighted))
}

type restoreFn struct{}

// restoreKeySize measures RestoreDocuments' keys (blocks) in postings.
var restoreKeySize = beam.NewDistribution(MetricsNamespace, "RestoreDocuments.key_postings")

func (f *restoreFn) ProcessElement(ctx context.Context, block int64, labels func(*LabelBlock) bool, weighted func(*WeightedPostings) bool, emit func(SufficientBlock)) error {
	var lb LabelBlock
	n := 0
	for labels(&lb) {
		n++
	}
	var parts []WeightedPostings
	var wp WeightedPostings
	for weighted(&wp) {
		parts = append(parts, wp)
	}
	if n != 1 {
		return fmt.Errorf("dpmr: block %d has %d label records, want 1 (index and labels out of step)", block, n)
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].Feature != parts[j].Feature {
			return parts[i].Feature < parts[j].Feature
		}
		return firstRow(parts[i]) < firstRow(parts[j])
	})
	nnz := 0
	for _, p := range parts {
		nnz += len(p.Rows)
	}
	sb := SufficientBlock{
		Block: block, File: lb.File, Lines: lb.Lines, Labels: lb.Labels,
		ColPtr: make([]int32, 1, len(parts)+1), Rows: make([]int32, 0, nnz), Vals: make([]float64, 0, nnz),
	}
	for i, p := range parts {
		if i == 0 || p.Feature != parts[i-1].Feature {
			if i > 0 {
				sb.ColPtr = append(sb.ColPtr, int32(len(sb.Rows)))
			}
			sb.Features = append(sb.Features, p.Feature)
			sb.W = append(sb.W, p.W)
			sb.D = append(sb.D, p.D)
		}
		sb.Rows = append(sb.Rows, p.Rows...)
		sb.Vals = append(sb.Vals, p.Vals...)
	}
	if len(parts) > 0 {
		sb.ColPtr = append(sb.ColPtr, int32(len(sb.Rows)))
	}
	restoreKeySize.Update(ctx, int64(nnz))
	if err := sortColumns(&sb); err != nil {
		return fmt.Errorf("dpmr: block %d: %v", block, err)
	}
	emit(sb)
	return nil
}

func firstRow(p WeightedPostings) int32 {
	if len(p.Rows) == 0 {
		return -1
	}
	return p.Rows[0]
}

// sortColumns checks each column's rows and, where shards of one feature
// interleave, sorts them so each column lists its rows ascending.
func sortColumns(b *SufficientBlock) error {
	n := int32(len(b.Labels))
	for c := 0; c+1 < len(b.ColPtr); c++ {
		rows, vals := b.Rows[b.ColPtr[c]:b.ColPtr[c+1]], b.Vals[b.ColPtr[c]:b.ColPtr[c+1]]
		sorted := true
		for k, r := range rows {
			if r < 0 || r >= n {
				return fmt.Errorf("feature %q has row %d outside the block's %d rows", b.Features[c], r, n)
			}
			if k > 0 && rows[k-1] >= r {
				sorted = false
			}
		}
		if !sorted {
			sort.Sort(postingOrder{rows, vals})
			for k := 1; k < len(rows); k++ {
				if rows[k-1] == rows[k] {
					return fmt.Errorf("feature %q has row %d twice", b.Features[c], rows[k])
				}
			}
		}
	}
	return nil
}

type postingOrder struct {
	rows []int32
	vals []float64
}

func (p postingOrder) Len() int           { return len(p.rows) }
func (p postingOrder) Less(i, j int) bool { return p.rows[i] < p.rows[j] }
func (p postingOrder) Swap(i, j int) {
	p.rows[i], p.rows[j] = p.rows[j], p.rows[i]
	p.vals[i], p.vals[j] = p.vals[j], p.vals[i]
}
