// Package benchlimit is the yardstick dpmr bench holds a pass against:
// the gradient of the logistic loss over the data held in memory as one
// CSR matrix, with dense weights, on one thread. Nothing a pipeline does
// (shuffles, encodings, feature names, blocks) is in it, so a pass can be
// no faster than this, and its ratio to it is what the pipeline costs.
package benchlimit

import (
	"fmt"
	"strings"

	"github.com/dpmr/dpmr/model"
)

// CSR is a data set by row: row i's postings are [RowPtr[i], RowPtr[i+1]).
type CSR struct {
	RowPtr []int64
	Cols   []int32 // dense feature id of each posting
	Vals   []float64
	Labels []float64 // per row, 0 or 1
	// Names[j] is feature j's name. Ids go by first appearance, the
	// intercept (model.BiasName) first when there is one.
	Names []string
}

// NumRows returns the number of samples.
func (m *CSR) NumRows() int { return len(m.Labels) }

// NumFeatures returns the number of distinct features, the length of w.
func (m *CSR) NumFeatures() int { return len(m.Names) }

// Nonzeros returns the number of postings, the intercept's included.
func (m *CSR) Nonzeros() int64 { return int64(len(m.Vals)) }

// Load reads the files in the order given through model.Reader, the
// project's one reader of the format, with the intercept as a column of
// ones when bias is set, as the reference trainer's data has it. It stops
// at the first malformed line.
func Load(paths []string, bias bool) (*CSR, error) {
	m := &CSR{RowPtr: []int64{0}}
	ids := map[string]int32{}
	id := func(name string) int32 {
		j, ok := ids[name]
		if !ok {
			// A name is a substring of its whole line; a copy keeps only
			// the name alive.
			name = strings.Clone(name)
			j = int32(len(m.Names))
			ids[name] = j
			m.Names = append(m.Names, name)
		}
		return j
	}
	var biasID int32
	if bias {
		biasID = id(model.BiasName)
	}
	err := model.EachSample(paths, func(_ int, s *model.Sample) {
		if bias {
			m.Cols, m.Vals = append(m.Cols, biasID), append(m.Vals, 1)
		}
		for _, ft := range s.Features {
			m.Cols, m.Vals = append(m.Cols, id(ft.Name)), append(m.Vals, ft.Value)
		}
		m.Labels = append(m.Labels, s.Label)
		m.RowPtr = append(m.RowPtr, int64(len(m.Vals)))
	})
	if err != nil {
		return nil, err
	}
	if len(m.Labels) == 0 {
		return nil, fmt.Errorf("no samples in %v", paths)
	}
	return m, nil
}

// Pass sets grad to X^T(p - y) at the weights w, p the predicted
// probabilities, and returns the data loss, the sum over rows of
// log(1 + e^z) - y*z. It is one sweep over the rows: a row's residual is
// known as soon as its margin is, so the data is read once, and nothing is
// allocated. The loss and probability are model's, term for term.
func (m *CSR) Pass(w, grad []float64) float64 {
	clear(grad)
	loss := 0.0
	for i, y := range m.Labels {
		lo, hi := m.RowPtr[i], m.RowPtr[i+1]
		cols, vals := m.Cols[lo:hi], m.Vals[lo:hi]
		z := 0.0
		for k, j := range cols {
			z += w[j] * vals[k]
		}
		loss += model.Loss(z, y)
		r := model.Sigmoid(z) - y
		for k, j := range cols {
			grad[j] += r * vals[k]
		}
	}
	return loss
}
