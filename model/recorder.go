package model

import (
	"fmt"
	"io"
)

// Recorder sees each pass's figures as training makes them. The reference
// trainer (Trainer.Train) and the pipeline's driver call the same
// interface, so one progress display, log or monitor serves both.
type Recorder interface {
	Record(f Figures)
}

// LineRecorder writes each pass as one line (Figures.String), the
// driver's progress lines.
type LineRecorder struct{ W io.Writer }

func (r LineRecorder) Record(f Figures) { fmt.Fprintln(r.W, f) }
