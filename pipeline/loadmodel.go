package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dpmr/dpmr/model"
)

// Model is a trained model held in memory, to score samples one at a time
// with no pipeline: for serving a model whose weights fit in memory (a map
// entry per feature, about 60 bytes plus the name; K per feature for a
// multiclass model). Its methods may be called from several goroutines at
// once.
type Model struct {
	Info    *ModelInfo
	weights map[string]float64 // by parameter row: a feature, or its model.ClassRow
}

// LoadModel reads the model directory dir: model.json, then every weights
// file it lists, each checked against it as RunPredict checks them. A
// directory without model.json (training not finished, or not a model), of
// another format, or with a weights file missing or damaged is an error
// that says which.
func LoadModel(ctx context.Context, dir string) (*Model, error) {
	info, err := ReadModel(ctx, dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Info: info, weights: map[string]float64{}}
	err = scanModelFiles(ctx, info.Files, info.Classes, func(name []byte, w float64) error {
		if _, ok := m.weights[string(name)]; ok {
			return fmt.Errorf("%s: the model is damaged: feature %q has two weights", dir, name)
		}
		m.weights[string(name)] = w
		return nil
	})
	if err != nil {
		return nil, err
	}
	bias := model.BiasName
	if info.Classes > 0 {
		bias = model.ClassRow(bias, 0)
	}
	if _, ok := m.weights[bias]; info.Bias && !ok {
		return nil, fmt.Errorf("%s: the model is damaged: model.json says it has an intercept, its weights have none", dir)
	}
	return m, nil
}

// Len is the number of weights, the intercept's included (K per feature
// for a multiclass model).
func (m *Model) Len() int { return len(m.weights) }

// Weight is the weight of the feature name, and whether the model has one;
// model.BiasName names the intercept. A multiclass model's weights are
// ClassWeights'.
func (m *Model) Weight(name string) (float64, bool) {
	w, ok := m.weights[name]
	return w, ok
}

// Margin is s's margin z = w·x, the intercept included, as dpmr predict
// computes it, bit for bit: the same products summed in the same order,
// through model.Block.Margins on a block of one row whose columns are in
// name order, the intercept's first, as Classify's blocks are. Features
// the model has no weight for weigh 0. s is a sample as the model package
// parses it (model.ParseLineLabels, model.Reader): its label is ignored,
// its names are distinct. z is infinite or NaN where the weights times the
// values overflow, which predict refuses.
//
// A multiclass model's margins are ClassMargins'; Margin panics on one.
func (m *Model) Margin(s *model.Sample) float64 {
	if m.Info.Classes > 0 {
		panic("dpmr: Margin of a multiclass model; use ClassMargins")
	}
	return m.margins(s, 0)[0]
}

// ClassWeights are a multiclass model's weights of the feature name, one
// per class, and whether it has them.
func (m *Model) ClassWeights(name string) ([]float64, bool) {
	w := make([]float64, m.Info.Classes)
	for k := range w {
		x, ok := m.weights[model.ClassRow(name, k)]
		if !ok {
			return nil, false
		}
		w[k] = x
	}
	return w, len(w) > 0
}

// ClassMargins are a multiclass model's K margins of s, z_k = w_k·x, as
// dpmr predict computes them, bit for bit (see Margin).
func (m *Model) ClassMargins(s *model.Sample) []float64 {
	if m.Info.Classes == 0 {
		panic("dpmr: ClassMargins of a two-class model; use Margin")
	}
	return m.margins(s, m.Info.Classes)
}

// ClassProbabilities are a multiclass model's class probabilities of s,
// the softmax of its ClassMargins: dpmr predict's probability columns.
func (m *Model) ClassProbabilities(s *model.Sample) []float64 {
	z := m.ClassMargins(s)
	p := make([]float64, len(z))
	model.Softmax(p, z)
	return p
}

// margins computes s's margins with classes K (model.Block.Classes).
func (m *Model) margins(s *model.Sample, classes int) []float64 {
	K := model.Width(classes)
	cols := make([]model.Feature, 0, len(s.Features)+1)
	if m.Info.Bias {
		cols = append(cols, model.Feature{Name: model.BiasName, Value: 1})
	}
	cols = append(cols, s.Features...)
	slices.SortStableFunc(cols, func(a, b model.Feature) int { return strings.Compare(a.Name, b.Name) })
	n := len(cols)
	b := model.Block{Labels: make([]float64, 1), ColPtr: make([]int32, n+1), Rows: make([]int32, n), Vals: make([]float64, n), Classes: classes}
	w := make([]float64, K*n)
	for c, f := range cols {
		b.ColPtr[c+1] = int32(c + 1)
		b.Vals[c] = f.Value
		if K == 1 {
			w[c] = m.weights[f.Name]
			continue
		}
		for k := range K {
			w[c*K+k] = m.weights[model.ClassRow(f.Name, k)]
		}
	}
	z := make([]float64, K)
	b.Margins(w, make([]float64, K*n), z, make([]float64, K))
	return z
}

// Score is the probability that s is of class 1, model.Sigmoid of its
// Margin: the probability column of dpmr predict.
func (m *Model) Score(s *model.Sample) float64 {
	return model.Sigmoid(m.Margin(s))
}
