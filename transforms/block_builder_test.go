package transforms

import (
	"reflect"
	"testing"

	"github.com/dpmr/dpmr/model"
)

// TestBlockBuilder builds blocks sample by sample, one builder for all of
// them as the reader does, and compares each with the same samples laid
// out the plain way (parsedOf); then joins a block from two parts with
// AddRow, as a block that straddles two splits is.
func TestBlockBuilder(t *testing.T) {
	files := randomFiles(3, []int{23, 9}, 12)
	const blockSize = 5
	want := parsedOf(files, blockSize)
	var bb BlockBuilder
	var got []ParsedBlock
	for f, file := range files {
		for i := range file {
			s := &file[i]
			key := model.BlockKey(f, s.Line, blockSize)
			if bb.Len() > 0 && bb.Block() != key {
				got = append(got, bb.Finish())
			}
			if bb.Len() == 0 {
				bb.Start(key, int32(f), 2, 3) // too small: the slices grow
			}
			bb.Add(s.Line, s.Label, 1, s.Features)
		}
	}
	got = append(got, bb.Finish())
	if len(got) != len(want) {
		t.Fatalf("%d blocks built, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("block %d built as\n%+v\nwant\n%+v", i, got[i], want[i])
		}
		if err := checkParsedBlock(got[i]); err != nil {
			t.Errorf("block %d: %v", i, err)
		}
	}

	// Rows 0-1 of block 0 and rows 0-2 of block 1, joined: as if built
	// from those samples directly, with their weights.
	a, b := want[0], want[1]
	a.Weights = []float64{2, 0.5, 1, 1, 1}
	bb.Start(a.Block, a.File, 0, 0)
	for r := range 2 {
		bb.AddRow(a, r)
	}
	for r := range 3 {
		bb.AddRow(b, r)
	}
	joined := bb.Finish()
	var names []string
	plain := ParsedBlock{Block: a.Block, File: a.File, RowPtr: []int32{0}, Weights: []float64{2, 0.5, 1, 1, 1}}
	for _, p := range []struct {
		pb   ParsedBlock
		rows int
	}{{a, 2}, {b, 3}} {
		for r := range p.rows {
			plain.Lines = append(plain.Lines, p.pb.Lines[r])
			plain.Labels = append(plain.Labels, p.pb.Labels[r])
			for k := p.pb.RowPtr[r]; k < p.pb.RowPtr[r+1]; k++ {
				names = append(names, p.pb.Vocab[p.pb.Cols[k]])
				plain.Vals = append(plain.Vals, p.pb.Vals[k])
			}
			plain.RowPtr = append(plain.RowPtr, int32(len(names)))
		}
	}
	if plain = withNames(plain, names...); !reflect.DeepEqual(joined, plain) {
		t.Errorf("joined block\n%+v\nwant\n%+v", joined, plain)
	}
}
