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
// entry per feature, about 60 bytes plus the name). Its methods may be
// called from several goroutines at once.
type Model struct {
	Info    *ModelInfo
	weights map[string]float64
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
	if err := info.TwoClass("LoadModel"); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m := &Model{Info: info, weights: map[string]float64{}}
	err = ScanWeights(ctx, info.Files, func(name []byte, w float64) error {
		if _, ok := m.weights[string(name)]; ok {
			return fmt.Errorf("%s: the model is damaged: feature %q has two weights", dir, name)
		}
		m.weights[string(name)] = w
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := m.weights[model.BiasName]; info.Bias && !ok {
		return nil, fmt.Errorf("%s: the model is damaged: model.json says it has an intercept, its weights have none", dir)
	}
	return m, nil
}

// Len is the number of weights, the intercept's included.
func (m *Model) Len() int { return len(m.weights) }

// Weight is the weight of the feature name, and whether the model has one;
// model.BiasName names the intercept.
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
func (m *Model) Margin(s *model.Sample) float64 {
	cols := make([]model.Feature, 0, len(s.Features)+1)
	if m.Info.Bias {
		cols = append(cols, model.Feature{Name: model.BiasName, Value: 1})
	}
	cols = append(cols, s.Features...)
	slices.SortStableFunc(cols, func(a, b model.Feature) int { return strings.Compare(a.Name, b.Name) })
	n := len(cols)
	b := model.Block{Labels: make([]float64, 1), ColPtr: make([]int32, n+1), Rows: make([]int32, n), Vals: make([]float64, n)}
	w := make([]float64, n)
	for c, f := range cols {
		b.ColPtr[c+1] = int32(c + 1)
		b.Vals[c] = f.Value
		w[c] = m.weights[f.Name]
	}
	var z, zd [1]float64
	b.Margins(w, make([]float64, n), z[:], zd[:])
	return z[0]
}

// Score is the probability that s is of class 1, model.Sigmoid of its
// Margin: the probability column of dpmr predict.
func (m *Model) Score(s *model.Sample) float64 {
	return model.Sigmoid(m.Margin(s))
}
