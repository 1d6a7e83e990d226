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

// TestSumByFeature checks the chunked per-feature sums against one
// ExactSum per feature, bit for bit, over a vocabulary spanning several
// chunks, with two and with three weights per feature; features in no
// block sum to 0.
func TestSumByFeature(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, K := range []int{1, 3} {
		const features = 3*sumChunk + 17
		blocks := make([]DataBlock, 9)
		vals := make([][]float64, len(blocks))
		want := make([]ExactSum, features*K)
		for bi := range blocks {
			for j := 0; j < features; j++ {
				// Low features in most blocks, so that some take the
				// exact path; high ones seldom; the last 5 features are in none.
				if j < features-5 && rng.Float64() < 0.9/(1+float64(j)/500) {
					blocks[bi].Cols = append(blocks[bi].Cols, int32(j))
					for k := range K {
						v := (rng.Float64() - 0.5) * math.Pow(2, float64(rng.IntN(80)-40))
						vals[bi] = append(vals[bi], v)
						want[j*K+k].Add(v)
					}
				}
			}
		}
		got := make([]float64, features*K)
		sumByFeature(got, K, blocks, vals)
		for i := range want {
			require.Equal(t, math.Float64bits(want[i].Float64()), math.Float64bits(got[i]), "K=%d row %d", K, i)
		}
		require.Equal(t, 0.0, got[len(got)-1], "the last features are in no block")
	}
}
