package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPartialSumIsExact checks PartialSum against ExactSum bit for
// bit, for one to five values drawn from awkward cases: signed zeros,
// infinities, NaN, subnormals, values that cancel, wide exponents.
func TestPartialSumIsExact(t *testing.T) {
	special := []float64{0, math.Copysign(0, -1), 1, -1, 1e308, -1e308, math.Inf(1), math.Inf(-1), math.NaN(),
		5e-324, -5e-324, 1e-300, 0.1, 0.2, 0.3, 1 << 53, 1}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() float64 {
		if rng.IntN(2) == 0 {
			return special[rng.IntN(len(special))]
		}
		return (rng.Float64() - 0.5) * math.Pow(2, float64(rng.IntN(200)-100))
	}
	for trial := 0; trial < 20000; trial++ {
		n := 1 + rng.IntN(5)
		var ps PartialSum
		var ex ExactSum
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = pick()
			ps.Add(vals[i])
			ex.Add(vals[i])
		}
		want, got := ex.Float64(), ps.Float64()
		if math.IsNaN(want) {
			require.True(t, math.IsNaN(got), "%v", vals)
			continue
		}
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), "%v: want %v, got %v", vals, want, got)
	}
	var empty PartialSum
	require.Equal(t, math.Float64bits(0), math.Float64bits(empty.Float64()))
}
