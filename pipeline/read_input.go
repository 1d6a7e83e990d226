package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register.DoFn4x1[context.Context, InputFile, func(transforms.ParsedBlock), func(Reject), error](&readBlocksFn{})
	register.Emitter1[transforms.ParsedBlock]()
	register.Emitter1[Reject]()
}

// InputFile is one input file and its position in the sorted input list,
// which is part of every sample's identity.
type InputFile struct {
	Index int32
	Path  string
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

// ReadBlocks reads and parses the input files, one file per worker call
// (a file's lines are numbered, so it is read in order), and groups each
// file's samples into blocks of blockSize lines. Lines that fail to parse
// come out as Rejects; nothing is dropped silently. Returns
// PCollection<transforms.ParsedBlock> and PCollection<Reject>.
func ReadBlocks(s beam.Scope, files []InputFile, blockSize int) (beam.PCollection, beam.PCollection) {
	s = s.Scope("dpmr.ReadBlocks")
	in := beam.Reshuffle(s, beam.CreateList(s, files))
	return beam.ParDo2(s, &readBlocksFn{BlockSize: blockSize}, in)
}

type readBlocksFn struct {
	BlockSize int
}

func (f *readBlocksFn) ProcessElement(ctx context.Context, in InputFile, emit func(transforms.ParsedBlock), reject func(Reject)) error {
	fs, err := filesystem.New(ctx, in.Path)
	if err != nil {
		return err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, in.Path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", in.Path, err)
	}
	defer r.Close()
	lines := newLineReader(r)
	var cur transforms.ParsedBlock
	flush := func() {
		if len(cur.Labels) > 0 {
			emit(cur)
		}
		cur = transforms.ParsedBlock{}
	}
	var smp model.Sample
	for lineNo := int64(1); ; lineNo++ {
		text, err := lines.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s after line %d: %v", in.Path, lineNo-1, err)
		}
		ok, perr := model.ParseLine(&smp, in.Path, lineNo, text)
		if perr != nil {
			var pe *model.ParseError
			rj := Reject{File: in.Index, Path: in.Path, Line: lineNo, Message: perr.Error()}
			if errors.As(perr, &pe) {
				rj.Column = pe.Column
			}
			text = bytes.TrimRight(text, "\r\n")
			if len(text) > maxRejectText {
				text = text[:maxRejectText]
			}
			rj.Text = string(text)
			reject(rj)
			continue
		}
		if !ok {
			continue
		}
		key := model.BlockKey(int(in.Index), lineNo, f.BlockSize)
		if len(cur.Labels) > 0 && key != cur.Block {
			flush()
		}
		if len(cur.Labels) == 0 {
			cur = transforms.ParsedBlock{Block: key, File: in.Index, RowPtr: []int32{0}}
		}
		cur.Lines = append(cur.Lines, lineNo)
		cur.Labels = append(cur.Labels, smp.Label)
		for _, ft := range smp.Features {
			cur.Names = append(cur.Names, ft.Name)
			cur.Vals = append(cur.Vals, ft.Value)
		}
		cur.RowPtr = append(cur.RowPtr, int32(len(cur.Names)))
	}
	flush()
	return nil
}

// lineReader returns a file's lines with no length cap.
type lineReader struct {
	br   *bufio.Reader
	long []byte
	done bool
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 1<<16)}
}

// next returns the next line (with its "\n", if any); io.EOF after the
// last. A last line without "\n" is still a line.
func (l *lineReader) next() ([]byte, error) {
	if l.done {
		return nil, io.EOF
	}
	b, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = l.br.ReadSlice('\n')
			l.long = append(l.long, b...)
		}
		b = l.long
	}
	if err == io.EOF {
		l.done = true
		if len(b) == 0 {
			return nil, io.EOF
		}
		return b, nil
	}
	return b, err
}
