package transforms

import (
	"strings"

	"github.com/dpmr/dpmr/model"
)

// BlockBuilder gathers parsed samples into a ParsedBlock, giving each
// distinct feature name of the block a place in its vocabulary. One
// builder makes many blocks in turn and keeps its map between them.
type BlockBuilder struct {
	b     ParsedBlock
	ids   map[string]int32
	names []string // the vocabulary in order of first use
}

// Start begins block key of file, its slices sized for rows samples and
// nnz entries.
func (bb *BlockBuilder) Start(key int64, file int32, rows, nnz int) {
	if bb.ids == nil {
		bb.ids = make(map[string]int32, nnz/4+1)
	}
	bb.b = ParsedBlock{Block: key, File: file, RowPtr: append(make([]int32, 0, rows+1), 0),
		Lines: make([]int64, 0, rows), Labels: make([]float64, 0, rows),
		Cols: make([]int32, 0, nnz), Vals: make([]float64, 0, nnz)}
}

// Block is the key of the block begun, Len its samples so far.
func (bb *BlockBuilder) Block() int64 { return bb.b.Block }
func (bb *BlockBuilder) Len() int     { return len(bb.b.Labels) }

// Add appends a sample: its line, label, weight and features.
func (bb *BlockBuilder) Add(line int64, label, weight float64, features []model.Feature) {
	bb.addSample(line, label, weight)
	for _, ft := range features {
		bb.entry(ft.Name, ft.Value)
	}
	bb.b.RowPtr = append(bb.b.RowPtr, int32(len(bb.b.Cols)))
}

// AddRow appends sample r of p.
func (bb *BlockBuilder) AddRow(p ParsedBlock, r int) {
	bb.addSample(p.Lines[r], p.Labels[r], model.WeightAt(p.Weights, r))
	for k := p.RowPtr[r]; k < p.RowPtr[r+1]; k++ {
		bb.entry(p.Vocab[p.Cols[k]], p.Vals[k])
	}
	bb.b.RowPtr = append(bb.b.RowPtr, int32(len(bb.b.Cols)))
}

func (bb *BlockBuilder) addSample(line int64, label, weight float64) {
	b := &bb.b
	b.Lines = append(b.Lines, line)
	b.Labels = append(b.Labels, label)
	b.Weights = model.AppendWeight(b.Weights, len(b.Labels)-1, weight)
}

func (bb *BlockBuilder) entry(name string, v float64) {
	j, ok := bb.ids[name]
	if !ok {
		j = int32(len(bb.names))
		bb.ids[name] = j
		bb.names = append(bb.names, name)
	}
	bb.b.Cols = append(bb.b.Cols, j)
	bb.b.Vals = append(bb.b.Vals, v)
}

// Finish returns the block, its vocabulary sorted and its entries
// renumbered to match, and readies the builder for the next block. The
// vocabulary is copied into one string: a parser's names are substrings
// of their lines, and keeping them would keep the block's whole text alive
// as long as anything downstream keeps a name.
func (bb *BlockBuilder) Finish() ParsedBlock {
	b := bb.b
	order := sortNames(bb.names)
	rank := make([]int32, len(order))
	size := 0
	for c, o := range order {
		rank[o.id] = int32(c)
		size += len(o.name)
	}
	var text strings.Builder
	text.Grow(size)
	for _, o := range order {
		text.WriteString(o.name)
	}
	all, at := text.String(), 0
	b.Vocab = make([]string, len(order))
	for c, o := range order {
		b.Vocab[c] = all[at : at+len(o.name)]
		at += len(o.name)
	}
	for k, j := range b.Cols {
		b.Cols[k] = rank[j]
	}
	clear(bb.ids)
	clear(bb.names)
	bb.names = bb.names[:0]
	bb.b = ParsedBlock{}
	return b
}
