package model

import (
	"math"
	"math/big"
	"math/bits"
)

// Every finite float64 is an integer multiple of 2^-1074, so scaling by
// 2^1074 puts all of them on one integer grid. The grid is cut into 32-bit
// chunks: chunk c holds bits [32c, 32c+32) of the scaled value.
const (
	chunkBits = 32
	chunkMask = 1<<chunkBits - 1
	gridShift = 1074 // log2 of the grid scale: 2^-1074 is the smallest subnormal
)

// maxPending bounds the Adds between carry normalisations. An Add moves a
// chunk by less than 2^32 and a normalised chunk is below 2^32 in magnitude,
// so after n Adds a chunk is below (n+1)*2^32. Merge sums two such windows,
// so 2^29 keeps every chunk below about 2^62 and int64 can never overflow.
const maxPending = 1 << 29

// normalizeEvery is maxPending; it is a variable only so tests can force
// frequent normalisation instead of doing 2^29 Adds.
var normalizeEvery int32 = maxPending

// Bits of ExactSum.Special.
const (
	specialNaN    = 1 << iota // a NaN was added
	specialPosInf             // +Inf was added
	specialNegInf             // -Inf was added
)

// ExactSum is an exact accumulator of float64 values. The pipeline sums
// gradient partials with a Beam combiner whose merge order varies between
// runs and runners; keeping the sum exact and rounding once in Float64 makes
// the result bit-identical whatever the order of Add and Merge calls.
//
// The zero value is an empty sum. Fields are exported only because Beam's
// row coder drops unexported fields when it encodes the combiner
// accumulator; callers should treat them as opaque.
type ExactSum struct {
	// Lo is the grid index of the chunk Chunks[0].
	Lo int32
	// Chunks is a dense window of signed chunks, least significant first;
	// the sum is Σ Chunks[i] * 2^(32*(Lo+i)) * 2^-1074. Chunks are int64 so
	// they can absorb many 32-bit pieces before carries must be propagated.
	Chunks []int64
	// Pending counts Adds since the last carry normalisation. It travels
	// with the chunks because it bounds how far they may have grown.
	Pending int32
	// Special records NaN and infinite inputs, which are kept out of the
	// chunks so that Float64 can reproduce IEEE semantics for them.
	Special uint8
}

// Add adds x to the sum exactly.
func (s *ExactSum) Add(x float64) {
	b := math.Float64bits(x)
	exp := int32(b>>52) & 0x7ff
	m := b & (1<<52 - 1)
	switch exp {
	case 0x7ff:
		s.addSpecial(b)
		return
	case 0:
		if m == 0 {
			return // ±0 contributes nothing
		}
		exp = 1 // subnormal: same scale as the smallest normal exponent
	default:
		m |= 1 << 52
	}
	// |x| = m * 2^(exp-1075), so on the grid it is m << (exp-1). Dropping
	// trailing zeros first keeps the touched chunk range, and thus the
	// window, as small as possible.
	tz := uint(bits.TrailingZeros64(m))
	m >>= tz
	off := uint32(exp) - 1 + uint32(tz)
	c := int32(off / chunkBits)
	sh := uint(off % chunkBits)
	d := (uint(bits.Len64(m)) + sh - 1) / chunkBits // chunks touched above c: 0..2

	i := int(c - s.Lo)
	if i < 0 || i+int(d) >= len(s.Chunks) {
		s.grow(c, c+int32(d))
		i = int(c - s.Lo)
	}
	// The pieces above the top touched chunk are zero, so rather than
	// branching on d (unpredictable for real data) the upper pieces are
	// added at clamped indices where they add nothing. neg is 0 or -1, and
	// (p^neg)-neg negates p exactly when neg is -1.
	w := s.Chunks[i : i+int(d)+1]
	neg := -int64(b >> 63)
	p0 := int64((m << sh) & chunkMask)
	p1 := int64((m >> (chunkBits - sh)) & chunkMask)
	p2 := int64(m >> (2*chunkBits - sh))
	w[0] += (p0 ^ neg) - neg
	w[(d+1)/2] += (p1 ^ neg) - neg
	w[d] += (p2 ^ neg) - neg
	s.Pending++
	if s.Pending >= normalizeEvery {
		s.normalize()
	}
}

// addSpecial records a NaN or infinity given its bit pattern.
func (s *ExactSum) addSpecial(b uint64) {
	switch {
	case b&(1<<52-1) != 0:
		s.Special |= specialNaN
	case b>>63 != 0:
		s.Special |= specialNegInf
	default:
		s.Special |= specialPosInf
	}
}

// grow widens the window so it covers grid chunks lo..hi, keeping the
// existing chunks in place and zeroing the new ones. It is kept off Add's
// fast path: once the window spans the data's exponent range it stops
// being called.
func (s *ExactSum) grow(lo, hi int32) {
	n := len(s.Chunks)
	if n == 0 {
		s.Lo = lo
		s.Chunks = s.resize(int(hi-lo) + 1)
		return
	}
	newLo, newHi := min(lo, s.Lo), max(hi, s.Lo+int32(n)-1)
	size, shift := int(newHi-newLo)+1, int(s.Lo-newLo)
	if size <= cap(s.Chunks) {
		w := s.Chunks[:size]
		copy(w[shift:], w[:n]) // memmove: overlap is fine
		clear(w[:shift])
		clear(w[shift+n:])
		s.Chunks = w
	} else {
		w := make([]int64, size)
		copy(w[shift:], s.Chunks)
		s.Chunks = w
	}
	s.Lo = newLo
}

// resize returns the chunk slice with length n and all chunks zero, reusing
// its storage when possible.
func (s *ExactSum) resize(n int) []int64 {
	if n <= cap(s.Chunks) {
		w := s.Chunks[:n]
		clear(w)
		return w
	}
	return make([]int64, n)
}

// normalize propagates carries so that every chunk but the top one is in
// [0, 2^32) and the top one, which carries the sign, is in [-2^31, 2^31),
// then trims chunks that carry no information. This restores full headroom
// for later Adds and keeps the window (and its encoding) small.
func (s *ExactSum) normalize() {
	s.Pending = 0
	var carry int64
	for i, v := range s.Chunks {
		v += carry
		s.Chunks[i] = v & chunkMask
		carry = v >> chunkBits // arithmetic shift: floor division
	}
	for carry != 0 && carry != -1 {
		s.Chunks = append(s.Chunks, carry&chunkMask)
		carry >>= chunkBits
	}
	// Now the value is the unsigned chunks plus carry (0 or -1) times 2^32
	// above the top. Fold that sign into a signed top chunk.
	if n := len(s.Chunks); n == 0 {
		// Nothing to fold: an empty window is zero.
	} else if t := s.Chunks[n-1]; t >= 1<<(chunkBits-1) {
		if carry == -1 {
			s.Chunks[n-1] = t - 1<<chunkBits
		} else {
			s.Chunks = append(s.Chunks, 0)
		}
	} else if carry == -1 {
		s.Chunks = append(s.Chunks, -1)
	}
	// Drop a top chunk that is only sign extension of the one below.
	for n := len(s.Chunks); n >= 2; n-- {
		t, u := s.Chunks[n-1], s.Chunks[n-2]
		if t == 0 && u < 1<<(chunkBits-1) {
			s.Chunks = s.Chunks[:n-1]
		} else if t == -1 && u >= 1<<(chunkBits-1) {
			s.Chunks[n-2] = u - 1<<chunkBits
			s.Chunks = s.Chunks[:n-1]
		} else {
			break
		}
	}
	// Drop zero chunks at the bottom, moving Lo up; copying down keeps the
	// storage's front so later growth can reuse it.
	z := 0
	for z < len(s.Chunks) && s.Chunks[z] == 0 {
		z++
	}
	if z == len(s.Chunks) {
		s.Lo, s.Chunks = 0, s.Chunks[:0]
		return
	}
	if z > 0 {
		n := copy(s.Chunks, s.Chunks[z:])
		s.Chunks = s.Chunks[:n]
		s.Lo += int32(z)
	}
}

// Merge adds the sum held by o to s, leaving o unchanged. It assumes o was
// built by Add and Merge (or decoded from such a value), so that o.Pending
// honestly bounds its chunks.
func (s *ExactSum) Merge(o *ExactSum) {
	s.Special |= o.Special
	if len(o.Chunks) > 0 {
		s.grow(o.Lo, o.Lo+int32(len(o.Chunks))-1)
		w := s.Chunks[o.Lo-s.Lo:]
		for i, v := range o.Chunks {
			w[i] += v
		}
	}
	// Both sides were within maxPending, so the sum of chunks cannot have
	// overflowed; normalising now restores the headroom for further Adds.
	s.normalize()
}

// Float64 returns the exact sum rounded once to the nearest float64, ties to
// even. An empty sum, or one that cancels exactly, is +0 (never -0). A sum
// beyond the float64 range is ±Inf. If a NaN was added, or both +Inf and
// -Inf, the result is NaN; otherwise an added ±Inf gives ±Inf. Unlike
// ordinary left-to-right summation, finite values never overflow midway, so
// MaxFloat64 + MaxFloat64 - MaxFloat64 is MaxFloat64.
//
// It runs once per feature and pass, so a window that fits 128 bits (most
// sums) is converted with integer arithmetic; wider ones, and results near
// the float64 range's ends, go through math/big. It does not modify s.
func (s *ExactSum) Float64() float64 {
	switch sp := s.Special; {
	case sp&specialNaN != 0 || sp&(specialPosInf|specialNegInf) == specialPosInf|specialNegInf:
		return math.NaN()
	case sp&specialPosInf != 0:
		return math.Inf(1)
	case sp&specialNegInf != 0:
		return math.Inf(-1)
	}
	if f, ok := s.smallFloat64(); ok {
		return f
	}
	return s.bigFloat64()
}

// smallFloat64 is Float64 for a window whose value, Σ Chunks[i]·2^(32i),
// fits a signed 128-bit integer and whose rounded result is a normal
// float64; ok is false otherwise. Chunks stay below about 2^62 in
// magnitude (see maxPending), so three chunks always fit, and four do when
// the top one is below 2^30.
func (s *ExactSum) smallFloat64() (f float64, ok bool) {
	switch n := len(s.Chunks); {
	case n > 4:
		return 0, false
	case n == 4 && (s.Chunks[3] >= 1<<30 || s.Chunks[3] < -1<<30):
		return 0, false
	}
	// hi:lo is the value in two's complement.
	var hi, lo uint64
	for i, c := range s.Chunks {
		var addHi, addLo uint64
		switch i {
		case 0:
			addHi, addLo = uint64(c>>63), uint64(c)
		case 1:
			addHi, addLo = uint64(c>>32), uint64(c)<<32
		case 2:
			addHi = uint64(c)
		case 3:
			addHi = uint64(c << 32)
		}
		var carry uint64
		lo, carry = bits.Add64(lo, addLo, 0)
		hi, _ = bits.Add64(hi, addHi, carry)
	}
	neg := int64(hi) < 0
	if neg { // magnitude
		var borrow uint64
		lo, borrow = bits.Sub64(0, lo, 0)
		hi, _ = bits.Sub64(0, hi, borrow)
	}
	if hi == 0 && lo == 0 {
		return 0, true
	}
	// Reduce the magnitude to 64 bits, folding the bits shifted out into
	// the lowest (a sticky bit): it lies well below float64's rounding
	// position, so the one conversion below still rounds correctly.
	shift := bits.Len64(hi)
	m := lo
	if shift > 0 {
		m = hi<<(64-shift) | lo>>shift
		if lo<<(64-shift) != 0 {
			m |= 1
		}
	}
	f = float64(m) // rounds to nearest even
	exp := shift + chunkBits*int(s.Lo) - gridShift
	// Scaling by 2^exp is exact if the result is normal; leave the range's
	// ends (overflow, subnormals) to math/big.
	if _, e := math.Frexp(f); e+exp < -1021 || e+exp > 1024 {
		return 0, false
	}
	f = math.Ldexp(f, exp)
	if neg {
		f = -f
	}
	return f, true
}

// bigFloat64 is Float64 for any window, through math/big.
func (s *ExactSum) bigFloat64() float64 {
	// Horner over the chunks, most significant first; signed and
	// unnormalised chunks are fine because big.Int arithmetic is exact.
	var n, t big.Int
	for i := len(s.Chunks) - 1; i >= 0; i-- {
		n.Lsh(&n, chunkBits)
		n.Add(&n, t.SetInt64(s.Chunks[i]))
	}
	if n.Sign() == 0 {
		return 0
	}
	var f big.Float // precision taken from n, so the conversion is exact
	f.SetInt(&n)
	f.SetMantExp(&f, chunkBits*int(s.Lo)-gridShift)
	r, _ := f.Float64() // rounds to nearest even, overflows to ±Inf
	return r
}

// Reset empties the sum, keeping the chunk storage for reuse.
func (s *ExactSum) Reset() {
	*s = ExactSum{Chunks: s.Chunks[:0]}
}
