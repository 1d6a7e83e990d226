package benchlimit

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dpmr/dpmr/model"
)

// TestPass checks a pass on a hand-made matrix against the loss and
// gradient written out by hand.
func TestPass(t *testing.T) {
	// Rows: y=1 {0:1, 2:1}; y=0 {1:2}; y=1 {0:-1, 1:1}; y=0 {} (no postings).
	m := &CSR{
		RowPtr: []int64{0, 2, 3, 5, 5},
		Cols:   []int32{0, 2, 1, 0, 1},
		Vals:   []float64{1, 1, 2, -1, 1},
		Labels: []float64{1, 0, 1, 0},
		Names:  []string{"a", "b", "c"},
	}
	w := []float64{0.5, -1, 2}
	z := []float64{2.5, -2, -1.5, 0} // X w
	p := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	wantLoss := math.Log(1+math.Exp(2.5)) - 2.5 + // y=1
		math.Log(1+math.Exp(-2)) + // y=0
		math.Log(1+math.Exp(-1.5)) + 1.5 + // y=1
		math.Log(2) // y=0, z=0
	r := []float64{p(z[0]) - 1, p(z[1]), p(z[2]) - 1, p(z[3])}
	wantGrad := []float64{r[0] - r[2], 2*r[1] + r[2], r[0]}

	grad := []float64{7, 7, 7} // Pass must overwrite, not add to, what is there
	loss := m.Pass(w, grad)
	if d := math.Abs(loss - wantLoss); d > 1e-14*wantLoss {
		t.Errorf("loss %.17g, want %.17g", loss, wantLoss)
	}
	for j := range grad {
		if d := math.Abs(grad[j] - wantGrad[j]); d > 1e-15 {
			t.Errorf("grad[%d] = %.17g, want %.17g", j, grad[j], wantGrad[j])
		}
	}

	// At w = 0 every margin is 0: the loss is N log 2 and the gradient
	// sum_i (1/2 - y_i) x_i.
	loss = m.Pass(make([]float64, 3), grad)
	if want := 4 * math.Ln2; math.Abs(loss-want) > 1e-15*want {
		t.Errorf("loss at 0: %.17g, want %.17g", loss, want)
	}
	if want := []float64{-0.5*1 + -0.5*-1, 0.5*2 + -0.5*1, -0.5 * 1}; !slices.Equal(grad, want) {
		t.Errorf("grad at 0: %v, want %v", grad, want)
	}
}

// TestLoad checks that Load numbers features by first appearance, the
// intercept first, and lays the rows out in file order.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	if err := os.WriteFile(a, []byte("1 x:2 y:-1\n# a comment\n\n0 y:3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("-1 z:0.5 x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load([]string{a, b}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := &CSR{
		RowPtr: []int64{0, 3, 5, 8},
		Cols:   []int32{0, 1, 2, 0, 2, 0, 3, 1},
		Vals:   []float64{1, 2, -1, 1, 3, 1, 0.5, 1},
		Labels: []float64{1, 0, 0},
		Names:  []string{model.BiasName, "x", "y", "z"},
	}
	if !slices.Equal(m.RowPtr, want.RowPtr) || !slices.Equal(m.Cols, want.Cols) || !slices.Equal(m.Vals, want.Vals) ||
		!slices.Equal(m.Labels, want.Labels) || !slices.Equal(m.Names, want.Names) {
		t.Errorf("Load = %+v,\nwant %+v", m, want)
	}
	if m.Nonzeros() != 8 || m.NumRows() != 3 || m.NumFeatures() != 4 {
		t.Errorf("%d nonzeros, %d rows, %d features; want 8, 3, 4", m.Nonzeros(), m.NumRows(), m.NumFeatures())
	}

	if m, err = Load([]string{a}, false); err != nil || m.Names[0] != "x" || m.Nonzeros() != 3 {
		t.Errorf("without bias: %+v, %v", m, err)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("1 x:2\n2 y:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]string{bad}, true); err == nil {
		t.Error("a bad label loaded")
	}
}
