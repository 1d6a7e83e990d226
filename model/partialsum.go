package model

// PartialSum adds a feature's per-block partials exactly, rounding once,
// as ExactSum does, but holds the first two as plain floats: one or two
// float64s added by IEEE arithmetic are already their exact sum rounded
// once, and on Zipf data most features appear in only one or two blocks,
// so the costly exact accumulator is seldom needed. The pipeline's
// UpdateParameters and the reference trainer both sum with it.
type PartialSum struct {
	n    int32
	a, b float64
	ex   *ExactSum
}

// Add adds x to the sum.
func (s *PartialSum) Add(x float64) {
	switch s.n {
	case 0:
		s.a = x
	case 1:
		s.b = x
	case 2:
		s.ex = &ExactSum{}
		s.ex.Add(s.a)
		s.ex.Add(s.b)
		s.ex.Add(x)
	default:
		s.ex.Add(x)
	}
	s.n++
}

// Float64 is the sum rounded once, as ExactSum.Float64 gives it.
func (s *PartialSum) Float64() float64 {
	var v float64
	switch s.n {
	case 0:
		return 0
	case 1:
		v = s.a
	case 2:
		v = s.a + s.b
	default:
		return s.ex.Float64()
	}
	if v == 0 {
		return 0 // an exact sum of zero is +0, whatever the signs of the zeros
	}
	return v
}

// sumChunk is how many features sumByFeature sums at a time: their
// accumulators stay in cache while every block adds to them.
const sumChunk = 4096

// sumByFeature sets dst[j*K+k] to the exact sum, over the blocks holding
// feature j, of that block's value for its column of j, class k: vals[bi]
// holds block bi's K values per column. Adding each block's values into
// one array of sums indexed by feature misses the cache at nearly every
// add on a large vocabulary; since every block's Cols ascend, the features
// are instead summed a chunk at a time, each block resuming where the
// previous chunk left it. The sums are exact, so the order is free.
func sumByFeature(dst []float64, K int, blocks []DataBlock, vals [][]float64) {
	next := make([]int, len(blocks)) // each block's first column not yet summed
	acc := make([]PartialSum, sumChunk*K)
	for lo := 0; lo*K < len(dst); lo += sumChunk {
		hi := min(lo+sumChunk, len(dst)/K)
		acc := acc[:(hi-lo)*K]
		clear(acc)
		for bi := range blocks {
			cols, v := blocks[bi].Cols, vals[bi]
			c := next[bi]
			for ; c < len(cols) && int(cols[c]) < hi; c++ {
				at := (int(cols[c]) - lo) * K
				for k := range K {
					acc[at+k].Add(v[c*K+k])
				}
			}
			next[bi] = c
		}
		for i := range acc {
			dst[lo*K+i] = acc[i].Float64()
		}
	}
}
