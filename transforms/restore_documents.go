package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn5x1[context.Context, int64, func(*DocBlock) bool, func(*BlockWeights) bool, func(SufficientBlock), error](&restoreFn{})
	register.Iter1[DocBlock]()
	register.Iter1[BlockWeights]()
	register.Emitter1[SufficientBlock]()
}

// RestoreDocuments regathers each block's samples with their current
// weights: a CoGroupByKey on block of the inverted block and the weights
// its partitions sent, each weight put in its column. The block's layout
// was fixed when it was inverted, so the result does not depend on the
// order the shuffle delivers the weights in. Every column must get
// exactly one weight. Expects docs PCollection<KV<int64, DocBlock>> and
// weights PCollection<KV<int64, BlockWeights>>; returns
// PCollection<SufficientBlock>.
func RestoreDocuments(s beam.Scope, docs, weights beam.PCollection) beam.PCollection {
	s = s.Scope("dpmr.RestoreDocuments")
	return beam.ParDo(s, &restoreFn{}, beam.CoGroupByKey(s, docs, weights))
}

type restoreFn struct{}

// RestoreKeySize measures RestoreDocuments' keys in postings: blocks
// here, index shards in pipeline.RestoreFromIndex.
var RestoreKeySize = beam.NewDistribution(MetricsNamespace, "RestoreDocuments.key_postings")

func (f *restoreFn) ProcessElement(ctx context.Context, block int64, docs func(*DocBlock) bool, weights func(*BlockWeights) bool, emit func(SufficientBlock)) error {
	var doc DocBlock
	n := 0
	for docs(&doc) {
		n++
	}
	if n != 1 {
		// Drain the weights: an iterator left unread is an error of its own.
		var bw BlockWeights
		for weights(&bw) {
		}
		return fmt.Errorf("dpmr: block %d has %d inverted blocks, want 1 (index out of step)", block, n)
	}
	sb, err := RestoreBlock(block, doc, weights)
	if err != nil {
		return err
	}
	RestoreKeySize.Update(ctx, int64(len(sb.Rows)))
	emit(sb)
	return nil
}

// RestoreBlock puts each of the weights its partitions sent a block into
// the block's column, checking that every column gets exactly one (one
// per class under multiclass: K, the same from every partition).
func RestoreBlock(block int64, doc DocBlock, weights func(*BlockWeights) bool) (SufficientBlock, error) {
	cols := doc.Columns()
	doc.Block = block
	sb := SufficientBlock{DocBlock: doc, IDs: make([]RowID, cols)}
	seen := make([]bool, cols)
	got, K := 0, 0
	var bw BlockWeights
	for weights(&bw) {
		if len(bw.Cols) == 0 {
			continue
		}
		if K == 0 {
			K = (len(bw.W) + len(bw.G)) / len(bw.Cols)
			if bw.G != nil {
				sb.ParamRows = make([]model.Row, K*cols)
			} else {
				sb.W, sb.D = make([]float64, K*cols), make([]float64, K*cols)
			}
		}
		if (bw.G == nil) != (sb.ParamRows == nil) || (bw.G != nil && bw.W != nil) {
			return sb, fmt.Errorf("dpmr: block %d: some of its columns arrived as weights, others as rows", block)
		}
		if n := len(bw.W) + len(bw.G); n != K*len(bw.Cols) || len(bw.D) != len(bw.W) || len(bw.H) != len(bw.G) || bw.U != nil && len(bw.U) != len(bw.G) || len(bw.IDs) != len(bw.Cols) {
			return sb, fmt.Errorf("dpmr: block %d: weights for %d columns arrived with %d values and %d row ids, want %d values and 1 id per column", block, len(bw.Cols), n, len(bw.IDs), K)
		}
		for i, c := range bw.Cols {
			if c < 0 || int(c) >= cols || seen[c] {
				return sb, fmt.Errorf("dpmr: block %d: a weight for column %d of its %d arrived twice or out of range", block, c, cols)
			}
			seen[c] = true
			sb.IDs[c] = bw.IDs[i]
			if bw.G != nil {
				for k := range K {
					j := i*K + k
					r := model.Row{G: bw.G[j], H: bw.H[j]}
					if bw.U != nil {
						r.U = bw.U[j]
					}
					sb.ParamRows[int(c)*K+k] = r
				}
			} else {
				copy(sb.W[int(c)*K:(int(c)+1)*K], bw.W[i*K:(i+1)*K])
				copy(sb.D[int(c)*K:(int(c)+1)*K], bw.D[i*K:(i+1)*K])
			}
			got++
		}
	}
	if got != cols {
		for c, ok := range seen {
			if !ok {
				return sb, fmt.Errorf("dpmr: block %d: column %d got no weight (%d of %d columns did)", block, c, got, cols)
			}
		}
	}
	return sb, nil
}
