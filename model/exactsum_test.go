package model

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// refSum is the oracle: an exact big.Float sum rounded once to float64, with
// the NaN/Inf rules ExactSum documents (exact zero is +0).
func refSum(tb testing.TB, xs []float64) float64 {
	tb.Helper()
	var nan, pinf, ninf bool
	acc := new(big.Float).SetPrec(4096) // > 2098 grid bits + log2(len)
	for _, x := range xs {
		switch {
		case math.IsNaN(x):
			nan = true
		case math.IsInf(x, 1):
			pinf = true
		case math.IsInf(x, -1):
			ninf = true
		default:
			acc.Add(acc, big.NewFloat(x))
			if acc.Acc() != big.Exact {
				tb.Fatalf("reference sum lost precision")
			}
		}
	}
	switch {
	case nan || pinf && ninf:
		return math.NaN()
	case pinf:
		return math.Inf(1)
	case ninf:
		return math.Inf(-1)
	case acc.Sign() == 0:
		return 0
	}
	r, _ := acc.Float64()
	return r
}

func exactSumOf(xs []float64) float64 {
	var s ExactSum
	for _, x := range xs {
		s.Add(x)
	}
	return s.Float64()
}

// same reports bit-identity, treating all NaNs as equal.
func same(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
}

func cloneSum(s *ExactSum) *ExactSum {
	c := *s
	c.Chunks = slices.Clone(s.Chunks)
	return &c
}

// checkCanonical asserts the form normalize promises: unsigned 32-bit
// digits below a signed top digit, with no redundant chunk at either end.
func checkCanonical(tb testing.TB, s *ExactSum) {
	tb.Helper()
	n := len(s.Chunks)
	if s.Pending != 0 {
		tb.Fatalf("Pending = %d after normalisation", s.Pending)
	}
	if n == 0 {
		return
	}
	for i, v := range s.Chunks[:n-1] {
		if v < 0 || v >= 1<<32 {
			tb.Fatalf("chunk %d = %d outside [0, 2^32)", i, v)
		}
	}
	top := s.Chunks[n-1]
	if top < -1<<31 || top >= 1<<31 {
		tb.Fatalf("top chunk %d outside [-2^31, 2^31)", top)
	}
	if s.Chunks[0] == 0 {
		tb.Fatalf("zero bottom chunk in %v", s.Chunks)
	}
	if n >= 2 {
		u := s.Chunks[n-2]
		if top == 0 && u < 1<<31 || top == -1 && u >= 1<<31 {
			tb.Fatalf("redundant top chunk in %v", s.Chunks)
		}
	}
}

func TestExactSumTable(t *testing.T) {
	mx := math.MaxFloat64
	tiny := math.SmallestNonzeroFloat64
	minNormal := 0x1p-1022
	negZero := math.Copysign(0, -1)
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{1}, 1},
		{"minus one", []float64{-1}, -1},
		{"zeros only", []float64{0, 0}, 0},
		{"negative zeros give +0", []float64{negZero, negZero}, 0},
		{"exact cancellation gives +0", []float64{-2.5, 2.5}, 0},
		{"cancellation 1e308+1-1e308", []float64{1e308, 1, -1e308}, 1},
		{"tiny survives huge cancellation", []float64{mx, tiny, -mx}, tiny},
		{"ten times 0.1 rounds once to 1", slices.Repeat([]float64{0.1}, 10), 1},
		{"smallest subnormals", []float64{tiny, tiny, tiny}, 3 * tiny},
		{"negative subnormal", []float64{tiny, -2 * tiny}, -tiny},
		{"subnormal carries into normal", []float64{minNormal - tiny, tiny}, minNormal},
		{"tie rounds down to even", []float64{0x1p53, 1}, 0x1p53},
		{"tie rounds up to even", []float64{0x1p53, 3}, 0x1p53 + 4},
		{"far bit breaks tie", []float64{0x1p53, 1, tiny}, 0x1p53 + 2},
		{"far negative bit breaks tie", []float64{0x1p53, 3, -tiny}, 0x1p53 + 2},
		{"mx plus mx overflows", []float64{mx, mx}, math.Inf(1)},
		{"minus mx twice overflows", []float64{-mx, -mx}, math.Inf(-1)},
		{"no overflow midway", []float64{mx, mx, -mx}, mx},
		{"half ulp above mx ties to Inf", []float64{mx, 0x1p970}, math.Inf(1)},
		{"just under half ulp above mx", []float64{mx, 0x1p970, -tiny}, mx},
		{"NaN", []float64{1, math.NaN(), 2}, math.NaN()},
		{"negative NaN payload", []float64{math.Float64frombits(0xfff8000000000001)}, math.NaN()},
		{"+Inf", []float64{1, math.Inf(1)}, math.Inf(1)},
		{"-Inf", []float64{math.Inf(-1), 1}, math.Inf(-1)},
		{"Inf minus Inf", []float64{math.Inf(1), math.Inf(-1)}, math.NaN()},
		{"+Inf twice", []float64{math.Inf(1), math.Inf(1)}, math.Inf(1)},
		{"finite overflow then -Inf", []float64{mx, mx, math.Inf(-1)}, math.Inf(-1)},
		{"NaN beats Inf", []float64{math.Inf(1), math.NaN()}, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exactSumOf(tc.xs); !same(got, tc.want) {
				t.Errorf("got %v (%#x), want %v (%#x)", got, math.Float64bits(got), tc.want, math.Float64bits(tc.want))
			}
			if ref := refSum(t, tc.xs); !same(ref, tc.want) {
				t.Errorf("reference %v disagrees with table %v", ref, tc.want)
			}
		})
	}
}

// genValue draws from a mix of the shapes that break naive summation.
func genValue(r *rand.Rand, kind int) float64 {
	sign := 1.0
	if r.IntN(2) == 0 {
		sign = -1
	}
	switch kind {
	case 0: // any finite value, exponent field uniform
		e := r.Uint64N(2047)
		return math.Float64frombits(e<<52 | r.Uint64()&(1<<52-1) | r.Uint64()&(1<<63))
	case 1: // gradient-like
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(10)-8))
	case 2: // subnormal
		return sign * math.Float64frombits(r.Uint64()&(1<<52-1))
	case 3: // near the overflow boundary
		return sign * math.Float64frombits(math.Float64bits(math.MaxFloat64)-r.Uint64N(4))
	case 4: // many small values of similar size
		return sign * (1 + r.Float64()) * 1e-300
	default: // short mantissas, exact in many combinations
		return sign * math.Ldexp(float64(r.IntN(16)), r.IntN(200)-100)
	}
}

// genSet returns a random test set, sometimes with cancelling pairs.
func genSet(r *rand.Rand) []float64 {
	n := r.IntN(200)
	if r.IntN(20) == 0 {
		n = 5000
	}
	kinds := []int{r.IntN(6), r.IntN(6)}
	xs := make([]float64, 0, 2*n)
	for range n {
		xs = append(xs, genValue(r, kinds[r.IntN(2)]))
	}
	if r.IntN(3) == 0 { // cancel most of it, leaving a small residue
		for _, x := range xs[:n] {
			xs = append(xs, -x)
		}
		for range r.IntN(5) {
			xs = append(xs, genValue(r, 2))
		}
		r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
	}
	return xs
}

func TestExactSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		xs := genSet(r)
		if got, want := exactSumOf(xs), refSum(t, xs); !same(got, want) {
			t.Fatalf("set %d (%d values): got %v, want %v", i, len(xs), got, want)
		}
	}
}

// sumInRandomTree adds xs to several accumulators in random order, merging
// them at random moments and finally in a random tree, like a combiner.
func sumInRandomTree(r *rand.Rand, xs []float64) float64 {
	accs := make([]*ExactSum, 1+r.IntN(6))
	for i := range accs {
		accs[i] = new(ExactSum)
	}
	for _, i := range r.Perm(len(xs)) {
		if len(accs) > 1 && r.IntN(50) == 0 {
			a, b := r.IntN(len(accs)), r.IntN(len(accs))
			if a != b {
				accs[a].Merge(accs[b])
				accs[b] = new(ExactSum) // a fresh one keeps accepting values
			}
		}
		accs[r.IntN(len(accs))].Add(xs[i])
	}
	for len(accs) > 1 {
		a, b := r.IntN(len(accs)), r.IntN(len(accs))
		if a == b {
			continue
		}
		accs[a].Merge(accs[b])
		accs = slices.Delete(accs, b, b+1)
	}
	return accs[0].Float64()
}

func TestExactSumOrderIndependence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		xs := genSet(r)
		want := exactSumOf(xs)
		if ref := refSum(t, xs); !same(want, ref) {
			t.Fatalf("set %d: in-order sum %v, reference %v", i, want, ref)
		}
		for range 4 {
			ys := slices.Clone(xs)
			r.Shuffle(len(ys), func(i, j int) { ys[i], ys[j] = ys[j], ys[i] })
			if got := exactSumOf(ys); !same(got, want) {
				t.Fatalf("set %d: permuted sum %v, want %v", i, got, want)
			}
			if got := sumInRandomTree(r, xs); !same(got, want) {
				t.Fatalf("set %d: merged sum %v, want %v", i, got, want)
			}
		}
	}
}

// withNormalizeEvery lowers the carry-normalisation threshold for one test.
func withNormalizeEvery(t *testing.T, n int32) {
	old := normalizeEvery
	normalizeEvery = n
	t.Cleanup(func() { normalizeEvery = old })
}

func TestExactSumTinyNormalizeThreshold(t *testing.T) {
	for _, every := range []int32{1, 2, 3, 7} {
		t.Run(fmt.Sprint("every", every), func(t *testing.T) {
			withNormalizeEvery(t, every)
			r := rand.New(rand.NewPCG(5, uint64(every)))
			for i := range 300 {
				xs := genSet(r)
				want := refSum(t, xs)
				var s ExactSum
				for _, x := range xs {
					s.Add(x)
					if s.Pending >= every {
						t.Fatalf("Pending %d reached threshold %d", s.Pending, every)
					}
					if s.Pending == 0 {
						checkCanonical(t, &s)
					}
				}
				if got := s.Float64(); !same(got, want) {
					t.Fatalf("set %d: got %v, want %v", i, got, want)
				}
				if got := sumInRandomTree(r, xs); !same(got, want) {
					t.Fatalf("set %d: merged sum %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestExactSumChunkBound checks the headroom argument behind maxPending:
// after n Adds since normalisation no chunk reaches (n+1)*2^32.
func TestExactSumChunkBound(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 7))
	var s ExactSum
	for range 100000 {
		// All-ones mantissas of one sign give the largest possible pieces.
		x := math.Ldexp(0x1p53-1, r.IntN(40)-20)
		s.Add(x)
		bound := (int64(s.Pending) + 1) << 32
		for i, v := range s.Chunks {
			if v >= bound || v <= -bound {
				t.Fatalf("chunk %d = %d after %d pending adds", i, v, s.Pending)
			}
		}
	}
}

// TestExactSumMergeHeadroom merges two accumulators whose chunks are as
// large as maxPending allows and checks nothing overflowed.
func TestExactSumMergeHeadroom(t *testing.T) {
	const worst = maxPending<<32 - 1 // (Pending+1)*2^32 - 1 with Pending = maxPending-1
	for _, sign := range []int64{1, -1} {
		mk := func(lo int32, n int) *ExactSum {
			s := &ExactSum{Lo: lo, Pending: maxPending - 1, Chunks: make([]int64, n)}
			for i := range s.Chunks {
				s.Chunks[i] = sign * worst
			}
			return s
		}
		a, b := mk(10, 5), mk(12, 6)
		want := new(big.Int)
		for _, s := range []*ExactSum{a, b} {
			for i, v := range s.Chunks {
				d := big.NewInt(v)
				want.Add(want, d.Lsh(d, uint(32*(int(s.Lo)+i))))
			}
		}
		a.Merge(b)
		checkCanonical(t, a)
		got := new(big.Int)
		for i := len(a.Chunks) - 1; i >= 0; i-- {
			got.Lsh(got, 32).Add(got, big.NewInt(a.Chunks[i]))
		}
		got.Lsh(got, uint(32*a.Lo))
		if got.Cmp(want) != 0 {
			t.Fatalf("sign %d: merged value %v, want %v", sign, got, want)
		}
	}
}

// TestExactSumProductionThreshold starts from chunks as large as
// maxPending-1 Adds can make them and checks the next Add normalises at
// the real threshold without losing anything.
func TestExactSumProductionThreshold(t *testing.T) {
	const worst = maxPending<<32 - 1
	for _, sign := range []float64{1, -1} {
		s := &ExactSum{Lo: 30, Pending: maxPending - 2, Chunks: []int64{worst, worst, worst}}
		if sign < 0 {
			for i := range s.Chunks {
				s.Chunks[i] = -worst
			}
		}
		n := new(big.Int).Lsh(big.NewInt(1), 64)
		n.Add(n, big.NewInt(1<<32+1)).Mul(n, big.NewInt(int64(sign)*worst))
		want := new(big.Float).SetPrec(4096).SetInt(n)
		want.SetMantExp(want, 32*30-1074)
		x := sign * math.Ldexp(0x1p53-1, 32*30+11-1074) // pieces near 2^32 in chunks 30 and 31
		for range 2 {
			s.Add(x)
			want.Add(want, big.NewFloat(x))
		}
		if s.Pending != 0 {
			t.Fatalf("Pending = %d, want 0 after reaching maxPending", s.Pending)
		}
		checkCanonical(t, s)
		w, _ := want.Float64()
		if got := s.Float64(); got != w {
			t.Fatalf("sign %v: got %v, want %v", sign, got, w)
		}
	}
}

func TestExactSumMergeLeavesOtherUnchanged(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	var a, b ExactSum
	for range 1000 {
		a.Add(genValue(r, 0))
		b.Add(genValue(r, 1))
	}
	b.Add(math.Inf(1))
	before := cloneSum(&b)
	a.Merge(&b)
	if b.Lo != before.Lo || b.Pending != before.Pending || b.Special != before.Special || !slices.Equal(b.Chunks, before.Chunks) {
		t.Fatalf("Merge modified its argument")
	}
	if !math.IsInf(a.Float64(), 1) {
		t.Fatalf("Inf not merged: %v", a.Float64())
	}
	// Float64 must not modify its receiver either.
	before = cloneSum(&b)
	b.Float64()
	if !slices.Equal(b.Chunks, before.Chunks) || b.Pending != before.Pending {
		t.Fatalf("Float64 modified its receiver")
	}
}

func TestExactSumMergeSpecials(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want float64
	}{
		{"Inf into finite", []float64{1}, []float64{math.Inf(1)}, math.Inf(1)},
		{"opposite Infs", []float64{math.Inf(-1)}, []float64{math.Inf(1)}, math.NaN()},
		{"NaN into empty", nil, []float64{math.NaN()}, math.NaN()},
		{"empty into -Inf", []float64{math.Inf(-1)}, nil, math.Inf(-1)},
		{"self cancelling halves", []float64{1e300, 3}, []float64{-1e300, -3}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a, b ExactSum
			for _, x := range tc.a {
				a.Add(x)
			}
			for _, x := range tc.b {
				b.Add(x)
			}
			a.Merge(&b)
			if got := a.Float64(); !same(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExactSumMergeSelf(t *testing.T) {
	var s ExactSum
	for _, x := range []float64{1.5, -0x1p-1074, 1e300} {
		s.Add(x)
	}
	s.Merge(&s)
	if got, want := s.Float64(), refSum(t, []float64{3, -0x1p-1073, 2e300}); got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestExactSumReset(t *testing.T) {
	var s ExactSum
	s.Add(math.NaN())
	s.Add(1e200)
	s.Reset()
	if got := s.Float64(); !same(got, 0) {
		t.Fatalf("after Reset got %v", got)
	}
	s.Add(-3)
	s.Add(0.5)
	if got := s.Float64(); got != -2.5 {
		t.Fatalf("reuse after Reset got %v", got)
	}
}

// TestExactSumWindowSmall checks values of similar magnitude need only a
// few chunks, which is what keeps the encoded accumulator small.
func TestExactSumWindowSmall(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	var s ExactSum
	for range 10000 {
		s.Add(r.Float64() + 0.5)
	}
	var o ExactSum
	s.Merge(&o) // normalises
	checkCanonical(t, &s)
	if len(s.Chunks) > 4 {
		t.Fatalf("window of %d chunks for values in [0.5, 1.5)", len(s.Chunks))
	}
	var one ExactSum
	one.Add(1)
	if len(one.Chunks) != 1 {
		t.Fatalf("1.0 used %d chunks", len(one.Chunks))
	}
}

func TestExactSumAddDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = genValue(r, i%6)
	}
	var s ExactSum
	for _, x := range xs {
		s.Add(x)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, x := range xs {
			s.Add(x)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run in steady state", allocs)
	}
}

func decodeFloats(data []byte) []float64 {
	xs := make([]float64, 0, len(data)/8)
	for len(data) >= 8 {
		xs = append(xs, math.Float64frombits(binary.LittleEndian.Uint64(data)))
		data = data[8:]
	}
	return xs
}

func FuzzExactSum(f *testing.F) {
	enc := func(xs ...float64) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	f.Add(enc())
	f.Add(enc(1e308, 1, -1e308))
	f.Add(enc(math.MaxFloat64, math.MaxFloat64, -math.MaxFloat64))
	f.Add(enc(0x1p53, 1, math.SmallestNonzeroFloat64))
	f.Add(enc(math.Inf(1), 2, math.Inf(-1)))
	f.Add(enc(0.1, 0.2, 0.3, -0.6, math.Copysign(0, -1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		xs := decodeFloats(data)
		want := refSum(t, xs)
		if got := exactSumOf(xs); !same(got, want) {
			t.Fatalf("got %v, want %v for %v", got, want, xs)
		}
		h := fnv.New64a()
		h.Write(data)
		r := rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))
		ys := slices.Clone(xs)
		r.Shuffle(len(ys), func(i, j int) { ys[i], ys[j] = ys[j], ys[i] })
		if got := exactSumOf(ys); !same(got, want) {
			t.Fatalf("shuffled: got %v, want %v for %v", got, want, ys)
		}
		if got := sumInRandomTree(r, xs); !same(got, want) {
			t.Fatalf("merged: got %v, want %v for %v", got, want, xs)
		}
	})
}

func benchValues(kind int) []float64 {
	r := rand.New(rand.NewPCG(14, 15))
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = genValue(r, kind)
	}
	return xs
}

func BenchmarkExactSumAdd(b *testing.B) {
	for _, bc := range []struct {
		name string
		kind int
	}{{"gradients", 1}, {"wide", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			xs := benchValues(bc.kind)
			var s ExactSum
			for i := 0; b.Loop(); i++ {
				s.Add(xs[i&(len(xs)-1)])
			}
		})
	}
}

func BenchmarkExactSumFloat64(b *testing.B) {
	for _, bc := range []struct {
		name string
		kind int
	}{{"gradients", 1}, {"wide", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			var s ExactSum
			for _, x := range benchValues(bc.kind) {
				s.Add(x)
			}
			for b.Loop() {
				s.Float64()
			}
		})
	}
}

func BenchmarkExactSumMerge(b *testing.B) {
	var s, o ExactSum
	for _, x := range benchValues(1) {
		o.Add(x)
	}
	for b.Loop() {
		s.Merge(&o)
	}
}

// TestExactSumSmallWindowConversion checks Float64's 128-bit path against
// math/big on windows of one to four chunks holding raw, unnormalised
// values up to the 2^62 bound (a fourth chunk up to 2^30 and beyond), at scales from the subnormal range to
// overflow, and that the path is taken where it should be.
func TestExactSumSmallWindowConversion(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	chunk := func() int64 {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return 1<<62 - 1 - r.Int64N(3)
		case 2:
			return -(1 << 62) + r.Int64N(3)
		case 3:
			return r.Int64N(1<<32) - 1<<31
		default:
			return r.Int64() - 1<<62
		}
	}
	// Window bottoms from the subnormal range (0) to past overflow (2098
	// grid bits / 32 = 65 chunks), dense near both ends.
	los := []int32{0, 1, 2, 30, 31, 32, 33, 34, 40, 50, 60, 61, 62, 63, 64}
	fast := 0
	for range 200000 {
		s := ExactSum{Lo: los[r.IntN(len(los))], Chunks: make([]int64, 1+r.IntN(4))}
		for i := range s.Chunks {
			s.Chunks[i] = chunk()
		}
		if len(s.Chunks) == 4 && r.IntN(2) == 0 {
			s.Chunks[3] = r.Int64N(1<<31) - 1<<30 // also beyond, to [-2^30, 2^30]
		}
		want := s.bigFloat64()
		got, ok := s.smallFloat64()
		if !ok {
			continue
		}
		fast++
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("chunks %v at Lo %d: 128-bit path %v (%x), math/big %v (%x)",
				s.Chunks, s.Lo, got, math.Float64bits(got), want, math.Float64bits(want))
		}
		if got2 := s.Float64(); math.Float64bits(got2) != math.Float64bits(want) {
			t.Fatalf("chunks %v at Lo %d: Float64 %v, want %v", s.Chunks, s.Lo, got2, want)
		}
	}
	if fast < 100000 {
		t.Errorf("the 128-bit path took only %d of 200000 windows", fast)
	}
	// Ties: 2^53+1 and 2^53+3 are halfway between floats; even wins.
	for _, c := range []struct{ v, want int64 }{{1<<53 + 1, 1 << 53}, {1<<53 + 3, 1<<53 + 4}, {-(1<<53 + 1), -(1 << 53)}} {
		// v·2^1074 = v·2^18 at chunk 33, split into three chunks.
		const sh = gridShift % chunkBits
		s := ExactSum{Lo: gridShift / chunkBits, Chunks: []int64{c.v << sh & chunkMask, c.v >> (chunkBits - sh) & chunkMask, c.v >> (2*chunkBits - sh)}}
		if got := s.Float64(); got != float64(c.want) {
			t.Errorf("%d: got %v, want %v (big %v)", c.v, got, float64(c.want), s.bigFloat64())
		}
	}
}
