package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register.DoFn2x1[InputSplit, func(splitLineCount), error](&countLinesFn{})
	register.DoFn6x1[context.Context, InputSplit, func(*splitLineCount) bool, func(transforms.ParsedBlock), func(int64, transforms.ParsedBlock), func(Reject), error](&readBlocksFn{})
	register.Function2x1(joinBlockParts)
	register.Emitter1[transforms.ParsedBlock]()
	register.Emitter2[int64, transforms.ParsedBlock]()
	register.Emitter1[Reject]()
	register.Emitter1[splitLineCount]()
	register.Iter1[splitLineCount]()
	register.Iter1[transforms.ParsedBlock]()
}

// InputFile is one input file and its position in the sorted input list,
// which is part of every sample's identity.
type InputFile struct {
	Index int32
	Path  string
	// Size is a local file's size in bytes, which lets several workers
	// read it (see ReadBlocks); 0 when unknown (object stores).
	Size int64
}

// Reject is a line that failed to parse.
type Reject struct {
	File    int32  `json:"-"`
	Path    string `json:"file"`
	Line    int64  `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"error"`
	Text    string `json:"text"` // the line, cut at maxRejectText bytes
}

// maxRejectText caps the copy of a rejected line kept for the user.
const maxRejectText = 4096

// DefaultSplitBytes is the size of the pieces a large local input file
// is cut into, each read by a worker of its own (ReadBlocks).
const DefaultSplitBytes = 64 << 20

// InputSplit is the part of an input file that one worker reads: the lines
// that start in bytes [Start, End). A whole file is one split with Cut
// false; the splits of a cut file need their lines counted first, to number
// them as in the whole file.
type InputSplit struct {
	File       InputFile
	Start, End int64
	Cut        bool
}

// splitLineCount is how many lines start in a cut file's split.
type splitLineCount struct {
	File  int32
	Start int64
	Lines int64
}

// splitInputs cuts every plain local file larger than splitBytes (0:
// DefaultSplitBytes; negative: none) into splits of about splitBytes; the
// others stay whole. Compressed files cannot be cut, and on object stores,
// whose readers cannot seek, each split would read its file from the
// start.
func splitInputs(files []InputFile, splitBytes int64) []InputSplit {
	if splitBytes == 0 {
		splitBytes = DefaultSplitBytes
	}
	var out []InputSplit
	for _, f := range files {
		if splitBytes < 0 || f.Size <= splitBytes || model.Compression(f.Path) != "" {
			out = append(out, InputSplit{File: f, End: f.Size})
			continue
		}
		n := (f.Size + splitBytes - 1) / splitBytes
		for i := int64(0); i < n; i++ {
			out = append(out, InputSplit{File: f, Start: f.Size * i / n, End: f.Size * (i + 1) / n, Cut: true})
		}
	}
	return out
}

// ReadBlocks reads and parses the input files and groups each file's
// samples into blocks of blockSize lines, numbered as in the file. A file
// is read by one worker or, when it is plain text, local and larger than
// splitBytes (0: DefaultSplitBytes; negative: never), by one worker per
// split: a first pass counts each split's lines, so that each worker
// numbers its lines as in the whole file, and the blocks that straddle two
// splits are joined from their parts. Either way the blocks, line numbers
// and rejects are the same. Files are read by model.Reader, the same line
// reader as the in-memory trainer's: .gz and .bz2 files are decompressed,
// a byte order mark is skipped, and labels says how lines start. Each
// sample's weight is its line's times classWeight's for its label
// (model.SampleWeight). With multiclass, labels are class numbers
// (model.ParseClassLine). Lines that fail to parse come out as Rejects;
// nothing is dropped silently. Returns PCollection<transforms.ParsedBlock>
// and PCollection<Reject>.
func ReadBlocks(s beam.Scope, files []InputFile, blockSize int, labels model.LabelMode, classWeight [2]float64, splitBytes int64, multiclass bool) (beam.PCollection, beam.PCollection) {
	s = s.Scope("dpmr.ReadBlocks")
	splits := beam.Reshuffle(s, beam.CreateList(s, splitInputs(files, splitBytes)))
	counts := beam.ParDo(s, &countLinesFn{}, splits)
	whole, parts, rejects := beam.ParDo3(s, &readBlocksFn{BlockSize: blockSize, Labels: labels, ClassWeight: classWeight, Multiclass: multiclass}, splits,
		beam.SideInput{Input: counts})
	joined := beam.ParDo(s, joinBlockParts, beam.GroupByKey(s, parts))
	return beam.Flatten(s, whole, joined), rejects
}

// countLinesFn counts the lines that start in a cut file's split: line 1
// if the split starts the file, and one after every newline in
// [Start-1, End-1) that is not the file's last byte.
type countLinesFn struct{}

func (f *countLinesFn) ProcessElement(sp InputSplit, emit func(splitLineCount)) error {
	if !sp.Cut {
		return nil
	}
	r, err := openAt(sp.File, max(sp.Start-1, 0))
	if err != nil {
		return err
	}
	defer r.Close()
	n := int64(0)
	if sp.Start == 0 && sp.File.Size > 0 {
		n = 1
	}
	buf := make([]byte, 1<<20)
	left := min(sp.End, sp.File.Size) - 1 - max(sp.Start-1, 0)
	for left > 0 {
		k, err := r.Read(buf[:min(int64(len(buf)), left)])
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		left -= int64(k)
		if err == io.EOF && left > 0 {
			return fmt.Errorf("%s changed while it was read: it ended %d bytes early", sp.File.Path, left)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("cannot read %s: %v", sp.File.Path, err)
		}
	}
	emit(splitLineCount{File: sp.File.Index, Start: sp.Start, Lines: n})
	return nil
}

// openAt opens a local file at byte offset off.
func openAt(in InputFile, off int64) (*os.File, error) {
	f, err := os.Open(in.Path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", in.Path, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read %s: %v", in.Path, err)
	}
	return f, nil
}

type readBlocksFn struct {
	BlockSize   int
	Labels      model.LabelMode
	ClassWeight [2]float64
	Multiclass  bool
}

func (f *readBlocksFn) ProcessElement(ctx context.Context, sp InputSplit, counts func(*splitLineCount) bool,
	emit func(transforms.ParsedBlock), part func(int64, transforms.ParsedBlock), reject func(Reject)) error {
	in := sp.File
	var r *model.Reader
	// complete tells whether all of a block's lines are in this split.
	complete := func(int64) bool { return true }
	if !sp.Cut {
		rc, err := openFile(ctx, in.Path)
		if err != nil {
			return fmt.Errorf("cannot read %s: %v", in.Path, err)
		}
		defer rc.Close()
		r = model.NewReader(rc, in.Path)
	} else {
		first, lines, fileLines := int64(1), int64(0), int64(0)
		var c splitLineCount
		for counts(&c) {
			if c.File != in.Index {
				continue
			}
			fileLines += c.Lines
			switch {
			case c.Start < sp.Start:
				first += c.Lines
			case c.Start == sp.Start:
				lines = c.Lines
			}
		}
		if lines == 0 {
			return nil
		}
		last, bs := first+lines-1, int64(f.BlockSize)
		complete = func(key int64) bool {
			k := key & (1<<40 - 1)
			return k*bs+1 >= first && min((k+1)*bs, fileLines) <= last
		}
		fd, err := openAt(in, max(sp.Start-1, 0))
		if err != nil {
			return err
		}
		defer fd.Close()
		br := bufio.NewReaderSize(fd, 1<<16)
		if sp.Start > 0 {
			// The line that starts at or after Start follows the first
			// newline at or after Start-1.
			for {
				_, err := br.ReadSlice('\n')
				if err == nil {
					break
				}
				if err != bufio.ErrBufferFull {
					return fmt.Errorf("cannot read %s: %v", in.Path, err)
				}
			}
		}
		r = model.NewRangeReader(br, in.Path, first, last)
	}
	r.Labels, r.Multiclass = f.Labels, f.Multiclass
	// The lines are parsed on a goroutine of their own, up to a block
	// ahead of the stages fused after this one (InvertDocuments), which
	// run on this one: a runner that runs a bundle on one thread (direct)
	// gets a second core for setup. The order of blocks and rejects stays
	// the input's.
	items := make(chan parsedItem, 1)
	done := make(chan struct{})
	defer close(done)
	go f.parse(in, r, items, done)
	for it := range items {
		switch {
		case it.err != nil:
			return it.err
		case it.reject != nil:
			reject(*it.reject)
		case complete(it.block.Block):
			emit(it.block)
		default:
			part(it.block.Block, it.block)
		}
	}
	return nil
}

// parsedItem is what readBlocksFn's parser hands on: a block, a rejected
// line or the error that stopped it.
type parsedItem struct {
	block  transforms.ParsedBlock
	reject *Reject
	err    error
}

// parse reads r to its end and sends its blocks and rejects to out, which
// it closes; it stops early, sending nothing more, once done is closed.
func (f *readBlocksFn) parse(in InputFile, r *model.Reader, out chan<- parsedItem, done <-chan struct{}) {
	defer close(out)
	send := func(it parsedItem) bool {
		select {
		case out <- it:
			return true
		case <-done:
			return false
		}
	}
	defer func() {
		if p := recover(); p != nil {
			send(parsedItem{err: fmt.Errorf("dpmr: reading %s: %v\n%s", in.Path, p, debug.Stack())})
		}
	}()
	var bb transforms.BlockBuilder
	// A block is sized like the one before it: grown by appends alone, its
	// slices were copied about twice over, into fresh memory each time.
	var rowsHint, nnzHint int
	finish := func() bool {
		b := bb.Finish()
		rowsHint, nnzHint = len(b.Labels), len(b.Cols)
		return send(parsedItem{block: b})
	}
	var smp model.Sample
	for {
		err := r.Read(&smp)
		if err == io.EOF {
			break
		}
		var pe *model.ParseError
		if errors.As(err, &pe) {
			text := r.Text()
			if len(text) > maxRejectText {
				text = text[:maxRejectText]
			}
			if !send(parsedItem{reject: &Reject{File: in.Index, Path: in.Path, Line: pe.Line, Column: pe.Column, Message: err.Error(), Text: string(text)}}) {
				return
			}
			continue
		}
		if err != nil {
			send(parsedItem{err: err}) // names the file and the line
			return
		}
		key := model.BlockKey(int(in.Index), smp.Line, f.BlockSize)
		if bb.Len() > 0 && key != bb.Block() {
			if !finish() {
				return
			}
		}
		if bb.Len() == 0 {
			bb.Start(key, in.Index, rowsHint+rowsHint/8, nnzHint+nnzHint/8)
		}
		bb.Add(smp.Line, smp.Label, model.SampleWeight(smp.Weight, smp.Label, f.ClassWeight), smp.Features)
	}
	if bb.Len() > 0 {
		finish()
	}
}

// joinBlockParts joins the parts of a block that straddles splits, read
// by different workers, in line order.
func joinBlockParts(_ int64, parts func(*transforms.ParsedBlock) bool) transforms.ParsedBlock {
	var all []transforms.ParsedBlock
	var p transforms.ParsedBlock
	for parts(&p) {
		all = append(all, p)
		p = transforms.ParsedBlock{}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Lines[0] < all[j].Lines[0] })
	var bb transforms.BlockBuilder
	rows, nnz := 0, 0
	for _, p := range all {
		rows, nnz = rows+len(p.Labels), nnz+len(p.Cols)
	}
	bb.Start(all[0].Block, all[0].File, rows, nnz)
	for _, p := range all {
		for r := range p.Labels {
			bb.AddRow(p, r)
		}
	}
	return bb.Finish()
}
