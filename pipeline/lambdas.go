package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/model"
)

// Several L2 strengths train as several models side by side: each pass's
// job holds one pass graph per model still training, all reading the one
// index, so the run costs the jobs of its slowest model, not the sum of
// all. A model's pass is the same graph a single-lambda run builds, which
// is why each model is bit for bit the one that run would make. (Rows
// carrying one weight per lambda would also share the rows' names and the
// blocks' reads; the branches keep every optimizer, stop rule and snapshot
// as they are.)

// LambdaDir is the directory name, inside the output and the work dir, of
// the model trained with L2 strength lambda: lambda=VALUE, VALUE in the
// shortest form that reads back to lambda.
func LambdaDir(lambda float64) string {
	return "lambda=" + strconv.FormatFloat(lambda, 'g', -1, 64)
}

// LambdasName is the table, in the output dir of a run with several
// lambdas, of each model's outcome.
const LambdasName = "lambdas.csv"

// LambdaResult is one model of a run with several lambdas.
type LambdaResult struct {
	Lambda  float64
	Dir     string // its model directory
	Model   *ModelInfo
	History []model.Figures
}

// checkLambdas refuses a list of L2 strengths that is not a set of valid
// ones.
func checkLambdas(lambdas []float64, p model.TrainParams) error {
	if len(lambdas) == 1 {
		return fmt.Errorf("Lambdas lists one value; set Train.Lambda instead")
	}
	seen := map[float64]bool{}
	for _, l := range lambdas {
		if !(l >= 0) || math.IsInf(l, 0) {
			return fmt.Errorf("lambda %v must be a finite number >= 0", l)
		}
		if seen[l] {
			return fmt.Errorf("lambda %v is listed twice", l)
		}
		seen[l] = true
		p.Lambda = l
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// lambdaRun is the driver's state of one model in training.
type lambdaRun struct {
	c       TrainConfig // the model's: its lambda, output and work dir
	label   string      // LambdaDir with several lambdas, else ""
	eta     float64
	history []model.Figures
	state   State      // what to continue from
	reason  model.Stop // why it stopped; "" while it trains
	plan    model.Plan // the pass in flight
}

// lambdaRuns is one run per model: c itself, or one per lambda in
// c.Lambdas, each with its own dirs.
func (c *TrainConfig) lambdaRuns() []*lambdaRun {
	if len(c.Lambdas) == 0 {
		return []*lambdaRun{{c: *c}}
	}
	runs := make([]*lambdaRun, len(c.Lambdas))
	for i, l := range c.Lambdas {
		r := &lambdaRun{c: *c, label: LambdaDir(l)}
		r.c.Train.Lambda = l
		r.c.Lambdas = nil
		r.c.Output = joinPath(c.Output, r.label)
		r.c.WorkDir = joinPath(c.WorkDir, r.label)
		if c.Log != nil {
			r.c.Log = labelledLog{w: c.Log, label: r.label + ": "}
		}
		runs[i] = r
	}
	return runs
}

// scope is where the run's pass graph goes in a pass's job.
func (r *lambdaRun) scope(s beam.Scope) beam.Scope {
	if r.label == "" {
		return s
	}
	return s.Scope(r.label)
}

// labelledLog starts each line of a model's progress with its label; the
// driver writes a line per call.
type labelledLog struct {
	w     io.Writer
	label string
}

func (l labelledLog) Write(p []byte) (int, error) {
	if _, err := io.WriteString(l.w, l.label); err != nil {
		return 0, err
	}
	return l.w.Write(p)
}

// record reads the pass just run, in a job of models passes: its figures,
// its test metrics, the rows it wrote; then decides whether the model
// stops.
func (r *lambdaRun) record(ctx context.Context, res beam.PipelineResult, models int, withTest bool, seconds float64) error {
	f, m, err := r.c.readPass(ctx, r.plan.Pass, withTest)
	if err != nil {
		return err
	}
	f.Seconds = seconds
	if models == 1 {
		// Runners name a metric by its DoFn, not by the model whose
		// pass ran it, so a job of several passes has no keys of one.
		f.Keys = keyStats(res)
	}
	r.history = append(r.history, f)
	r.state = stateAfter(m)
	if r.c.Log != nil {
		model.LineRecorder{W: r.c.Log}.Record(f)
	}
	if r.reason = r.c.stopReason(r.history); r.reason != "" {
		r.c.logf("stopped: %s", r.reason)
	}
	return nil
}

// lambdaNote names the models of a failed job when there are several.
func lambdaNote(runs []*lambdaRun) string {
	var labels []string
	for _, r := range runs {
		if r.label != "" {
			labels = append(labels, r.label)
		}
	}
	if len(labels) == 0 {
		return ""
	}
	return " (" + strings.Join(labels, ", ") + ")"
}

// writeLambdaTable writes OUTPUT/lambdas.csv: per model its lambda, dir,
// iterations, stop reason, J and, with a test set, the exported pass's
// test metrics, to compare the models in one place.
func writeLambdaTable(ctx context.Context, output string, results []LambdaResult) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"lambda", "dir", "iterations", "stop_reason", "exported_iteration", "objective", "nonzero_weights",
		"test_accuracy", "test_log_loss", "test_auc", "test_macro_f1"})
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, r := range results {
		m := r.Model
		exported := m.Iterations
		if m.EarlyStop != nil {
			exported = m.EarlyStop.Pass
		}
		row := []string{g(r.Lambda), LambdaDir(r.Lambda), strconv.Itoa(m.Iterations), string(m.StopReason), strconv.Itoa(exported),
			g(m.J), strconv.FormatInt(m.Features-m.ZeroWeights, 10)}
		if t := r.History[exported].Test; t != nil {
			auc := ""
			if t.AUCDefined {
				auc = g(t.AUC)
			}
			row = append(row, g(t.Accuracy), g(t.LogLoss), auc, g(t.MacroF1))
		} else {
			row = append(row, "", "", "", "")
		}
		w.Write(row)
	}
	w.Flush()
	return writeFile(ctx, joinPath(output, LambdasName), b.Bytes())
}
