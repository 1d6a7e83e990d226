package main

import (
	"bufio"
	"container/heap"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
)

func init() {
	register(command{name: "weights", summary: "print a model's largest weights by |w|, or features' weights by name", setup: weightsSetup})
}

// interceptName is how dpmr weights shows the intercept, whose row in the
// weights files has an empty name (model.BiasName).
const interceptName = "(intercept)"

// defaultTop is how many weights dpmr weights prints without --top.
const defaultTop = 20

// featureList is a repeatable flag: one name per --feature.
type featureList []string

func (l *featureList) String() string { return strings.Join(*l, ",") }

func (l *featureList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func weightsSetup(fs *flag.FlagSet) func() error {
	modelDir := fs.String("model", "", "model `DIR` written by dpmr train (required)")
	top := fs.Int("top", defaultTop, "print the `N` weights largest in |w|; with --feature, only when given")
	var features featureList
	fs.Var(&features, "feature", "print the weight of the feature `NAME` (repeat for several); "+interceptName+" or an empty name is the intercept")
	return func() error {
		if *modelDir == "" {
			return usageError("--model is required")
		}
		if *top < 1 {
			return usageError("--top must be >= 1, got %d", *top)
		}
		n := *top
		if len(features) > 0 && !flagSet(fs, "top") {
			n = 0
		}
		return runWeights(context.Background(), *modelDir, n, features, os.Stdout)
	}
}

// weight is one row of a model.
type weight struct {
	Name string // as stored: model.BiasName for the intercept
	W    float64
}

// displayName is the name dpmr weights prints for a row.
func displayName(name string) string {
	if name == model.BiasName {
		return interceptName
	}
	return name
}

// ranksBefore orders rows for --top: larger |w| first, equal |w| by name,
// so the output does not depend on the order of the files.
func ranksBefore(a, b weight) bool { return outranks(a.Name, a.W, b) }

// outranks is ranksBefore for a row not yet made a weight, so the scan
// copies the names of the few rows it keeps only.
func outranks(name string, w float64, b weight) bool {
	if x, y := math.Abs(w), math.Abs(b.W); x != y {
		return x > y
	}
	return name < b.Name
}

// topHeap holds the best rows seen so far with the worst at its root, so
// that a better row replaces the root in O(log N).
type topHeap []weight

func (h topHeap) Len() int           { return len(h) }
func (h topHeap) Less(i, j int) bool { return ranksBefore(h[j], h[i]) }
func (h topHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *topHeap) Push(x any)        { *h = append(*h, x.(weight)) }
func (h *topHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// weightsReport is what one scan of a model finds.
type weightsReport struct {
	Top []weight // by ranksBefore, at most the N asked for
	// Found has the weight of each looked-up name the model has, by the
	// name as given; a multiclass model's are in FoundClasses, K each.
	Found        map[string]float64
	FoundClasses map[string][]float64
	Classes      int // K for a multiclass model, whose rows are class rows
}

// scanModelWeights reads the model in dir once, through its model.json
// (so a copied model reads its own files and a damaged one is refused),
// keeping the top rows in a heap of n and the rows of the looked-up names:
// memory for n + len(lookup) rows, whatever the model's size. A name in
// lookup is a feature's name, or interceptName or "" for the intercept; a
// real feature named like interceptName takes precedence over it.
func scanModelWeights(ctx context.Context, dir string, n int, lookup []string) (*weightsReport, error) {
	info, err := pipeline.ReadModel(ctx, dir)
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, name := range lookup {
		wanted[name] = true
	}
	lookIntercept := wanted[interceptName] || wanted[model.BiasName]
	rep := &weightsReport{Found: map[string]float64{}, FoundClasses: map[string][]float64{}, Classes: info.Classes}
	var intercept *float64
	h := make(topHeap, 0, min(n, 1<<16)) // grows to n only if the model has n rows
	err = pipeline.ScanModelWeights(ctx, info, func(name []byte, w float64) error {
		if info.Classes > 0 {
			// Lookups find a multiclass model's rows by their features.
			feature, _ := model.RowFeature(string(name))
			if wanted[feature] || feature == model.BiasName && lookIntercept {
				rep.FoundClasses[feature] = append(rep.FoundClasses[feature], w)
			}
		} else if len(name) == 0 && lookIntercept {
			intercept = &w
		} else if wanted[string(name)] {
			rep.Found[string(name)] = w
		}
		if n == 0 {
			return nil
		}
		if len(h) < n {
			heap.Push(&h, weight{string(name), w})
			return nil
		}
		if outranks(string(name), w, h[0]) {
			h[0] = weight{string(name), w}
			heap.Fix(&h, 0)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if intercept != nil {
		if wanted[model.BiasName] {
			rep.Found[model.BiasName] = *intercept
		}
		if _, has := rep.Found[interceptName]; wanted[interceptName] && !has {
			rep.Found[interceptName] = *intercept
		}
	}
	if b, ok := rep.FoundClasses[model.BiasName]; ok {
		if _, has := rep.FoundClasses[interceptName]; wanted[interceptName] && !has {
			rep.FoundClasses[interceptName] = b
		}
		if !wanted[model.BiasName] {
			delete(rep.FoundClasses, model.BiasName)
		}
	}
	rep.Top = h
	sort.Slice(rep.Top, func(i, j int) bool { return ranksBefore(rep.Top[i], rep.Top[j]) })
	return rep, nil
}

// runWeights prints the top n rows (none if n is 0) and the looked-up
// features of the model in dir, as tab-separated tables with a header
// line: rank, feature, weight for the top; feature, weight and a note
// for the lookups, where a feature the model does not have weighs 0, as
// in prediction. Weights are written in the shortest form that reads back
// to the same float64, as in the weights files.
func runWeights(ctx context.Context, dir string, n int, lookup []string, stdout io.Writer) error {
	rep, err := scanModelWeights(ctx, dir, n, lookup)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if rep.Classes > 0 {
		writeClassWeights(w, rep, n, lookup)
		return w.Flush()
	}
	if n > 0 {
		fmt.Fprintf(w, "rank\tfeature\tweight\n")
		for i, r := range rep.Top {
			fmt.Fprintf(w, "%d\t%s\t%s\n", i+1, displayName(r.Name), fmtWeight(r.W))
		}
	}
	if len(lookup) > 0 {
		if n > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "feature\tweight\tnote\n")
		for _, name := range lookup {
			x, ok := rep.Found[name]
			note := ""
			if !ok {
				note = "not in model"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", displayName(name), fmtWeight(x), note)
		}
	}
	return w.Flush()
}

func fmtWeight(w float64) string { return strconv.FormatFloat(w, 'g', -1, 64) }

// writeClassWeights is runWeights' output for a multiclass model: the top
// weights each with its feature and class (a feature's K weights rank on
// their own), and the looked-up features with one column per class.
func writeClassWeights(w io.Writer, rep *weightsReport, n int, lookup []string) {
	if n > 0 {
		fmt.Fprintf(w, "rank\tfeature\tclass\tweight\n")
		for i, r := range rep.Top {
			feature, class := model.RowFeature(r.Name)
			fmt.Fprintf(w, "%d\t%s\t%d\t%s\n", i+1, displayName(feature), class, fmtWeight(r.W))
		}
	}
	if len(lookup) == 0 {
		return
	}
	if n > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "feature")
	for k := range rep.Classes {
		fmt.Fprintf(w, "\tclass %d", k)
	}
	fmt.Fprintf(w, "\tnote\n")
	for _, name := range lookup {
		ws, ok := rep.FoundClasses[name]
		note := ""
		if !ok {
			ws, note = make([]float64, rep.Classes), "not in model"
		}
		fmt.Fprintf(w, "%s", displayName(name))
		for _, x := range ws {
			fmt.Fprintf(w, "\t%s", fmtWeight(x))
		}
		fmt.Fprintf(w, "\t%s\n", note)
	}
}
