package pipeline

import (
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
// file's samples into blocks of blockSize lines. Files are read by
// model.Reader, the same line reader as the in-memory trainer's: .gz and
// .bz2 files are decompressed, a byte order mark is skipped, and labels
// says how lines start. Each sample's weight is its line's times
// classWeight's for its label (model.SampleWeight). Lines that fail to parse come out as Rejects;
// nothing is dropped silently. Returns PCollection<transforms.ParsedBlock>
// and PCollection<Reject>.
func ReadBlocks(s beam.Scope, files []InputFile, blockSize int, labels model.LabelMode, classWeight [2]float64) (beam.PCollection, beam.PCollection) {
	s = s.Scope("dpmr.ReadBlocks")
	in := beam.Reshuffle(s, beam.CreateList(s, files))
	return beam.ParDo2(s, &readBlocksFn{BlockSize: blockSize, Labels: labels, ClassWeight: classWeight}, in)
}

type readBlocksFn struct {
	BlockSize   int
	Labels      model.LabelMode
	ClassWeight [2]float64
}

func (f *readBlocksFn) ProcessElement(ctx context.Context, in InputFile, emit func(transforms.ParsedBlock), reject func(Reject)) error {
	fs, err := filesystem.New(ctx, in.Path)
	if err != nil {
		return err
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, in.Path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", in.Path, err)
	}
	defer rc.Close()
	r := model.NewReader(rc, in.Path)
	r.Labels = f.Labels
	var cur transforms.ParsedBlock
	flush := func() {
		if len(cur.Labels) > 0 {
			emit(cur)
		}
		cur = transforms.ParsedBlock{}
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
			reject(Reject{File: in.Index, Path: in.Path, Line: pe.Line, Column: pe.Column, Message: err.Error(), Text: string(text)})
			continue
		}
		if err != nil {
			return err // names the file and the line
		}
		key := model.BlockKey(int(in.Index), smp.Line, f.BlockSize)
		if len(cur.Labels) > 0 && key != cur.Block {
			flush()
		}
		if len(cur.Labels) == 0 {
			cur = transforms.ParsedBlock{Block: key, File: in.Index, RowPtr: []int32{0}}
		}
		cur.Lines = append(cur.Lines, smp.Line)
		cur.Labels = append(cur.Labels, smp.Label)
		cur.Weights = model.AppendWeight(cur.Weights, len(cur.Labels)-1, model.SampleWeight(smp.Weight, smp.Label, f.ClassWeight))
		for _, ft := range smp.Features {
			cur.Names = append(cur.Names, ft.Name)
			cur.Vals = append(cur.Vals, ft.Value)
		}
		cur.RowPtr = append(cur.RowPtr, int32(len(cur.Names)))
	}
	flush()
	return nil
}
