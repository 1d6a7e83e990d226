package model

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
)

// SynthParams describes a synthetic data set for sparse binary logistic
// regression. A zero field takes the default named in its comment; for
// SynthText, Features, PerSample and Zipf have their own defaults and
// meanings (see SynthText).
//
// The SynthZipf data set is the planted model
//
//	z_i = b0 + sum_j w_j x_ij,  y_i ~ Bernoulli(Sigmoid(z_i)),
//
// with each label then flipped with probability Noise. Feature j is written
// as "f<j>" and is drawn with probability proportional to (j+1)^-Zipf, so f0
// is the hottest feature; w_j is PlantedWeight(Seed, j) and b0 is chosen so
// that the positive rate before noise is near Positive.
type SynthParams struct {
	// Samples is the number of lines. Zero writes an empty data set.
	Samples int64
	// Features is the size F of the feature vocabulary, f0 .. f<F-1>.
	// Default 1,000,000. Memory does not depend on it, so 1e9 is fine.
	// SynthText: the number of words, w0 .. w<F-1>, default 20,000, at
	// most 2^31.
	Features int64
	// PerSample is the mean number of nonzeros per sample, at least 1.
	// Default 20. A sample has 1 + Poisson(PerSample-1) distinct features
	// (fewer only when the Zipf law is so steep that distinct features run
	// out, see Synthesize). SynthText: the mean number of tokens of a
	// document, default 150.
	PerSample float64
	// Zipf is the exponent s > 0 of the Zipf law over feature ranks.
	// Default 1.1. Values at or below 1 are supported too: the vocabulary
	// is finite, so the law stays normalisable. SynthText: the law over
	// words, default 1.
	Zipf float64
	// Noise is the probability of flipping a label, in [0, 0.5).
	// Default 0 (no noise).
	Noise float64
	// Positive is the target fraction of positive labels before noise, in
	// (0, 1). Default 0.5.
	Positive float64
	// Seed selects the data set; every seed, including 0, is valid.
	Seed uint64
	// Kind is the shape of the data set; default SynthZipf.
	Kind SynthKind
	// Topics is the number of topics of SynthText; default 64. SynthZipf
	// ignores it.
	Topics int
}

// SynthKind is the shape of a synthetic data set.
type SynthKind int

const (
	// SynthZipf writes independent features under one Zipf law with dense
	// planted weights: well conditioned, so optimizers converge fast.
	SynthZipf SynthKind = iota
	// SynthText writes documents conditioned like real text; see
	// synthtext.go.
	SynthText
)

var synthKindNames = [...]string{SynthZipf: "zipf", SynthText: "text"}

func (k SynthKind) String() string {
	if k >= 0 && int(k) < len(synthKindNames) {
		return synthKindNames[k]
	}
	return "SynthKind(" + strconv.Itoa(int(k)) + ")"
}

// ParseSynthKind returns the kind named s ("zipf" or "text").
func ParseSynthKind(s string) (SynthKind, error) {
	for k, name := range synthKindNames {
		if s == name {
			return SynthKind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown kind %q: want zipf or text", s)
}

// Defaults of SynthParams, applied to zero fields.
const (
	DefaultSynthFeatures  = 1_000_000
	DefaultSynthPerSample = 20
	DefaultSynthZipf      = 1.1
	DefaultSynthPositive  = 0.5
)

// withDefaults fills zero fields, so Validate and the generator see the
// same values.
func (p SynthParams) withDefaults() SynthParams {
	if p.Kind == SynthText {
		p = p.withTextDefaults()
	}
	if p.Features == 0 {
		p.Features = DefaultSynthFeatures
	}
	if p.PerSample == 0 {
		p.PerSample = DefaultSynthPerSample
	}
	if p.Zipf == 0 {
		p.Zipf = DefaultSynthZipf
	}
	if p.Positive == 0 {
		p.Positive = DefaultSynthPositive
	}
	return p
}

// maxSynthPerSample bounds PerSample: one sample is held in memory, and a
// line of millions of features is a mistake rather than a data set.
const maxSynthPerSample = 1 << 20

// maxSynthFeatures keeps every feature index exact in the float64 the Zipf
// sampler computes it in.
const maxSynthFeatures = 1 << 53

// SynthParamError reports a SynthParams field that makes no data set.
type SynthParamError struct {
	Field  string // name of the SynthParams field, e.g. "PerSample"
	Reason string // what is wrong with its value
}

func (e *SynthParamError) Error() string { return "synth: " + e.Field + " " + e.Reason }

// Validate reports, as a *SynthParamError, the first field that makes no
// data set once defaults are applied.
func (p SynthParams) Validate() error {
	p = p.withDefaults()
	bad := func(field, format string, args ...any) error {
		return &SynthParamError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case p.Kind != SynthZipf && p.Kind != SynthText:
		return bad("Kind", "must be SynthZipf or SynthText, got %d", int(p.Kind))
	case p.Samples < 0:
		return bad("Samples", "must be >= 0, got %d", p.Samples)
	case p.Features < 1 || p.Features > maxSynthFeatures:
		return bad("Features", "must be in [1, 2^53], got %d", p.Features)
	case p.Kind == SynthText && p.Features > maxTextWords:
		return bad("Features", "must be at most 2^31 words for SynthText, got %d", p.Features)
	case !(p.PerSample >= 1 && p.PerSample <= maxSynthPerSample):
		return bad("PerSample", "must be in [1, %d], got %g", maxSynthPerSample, p.PerSample)
	case p.Kind == SynthText && p.Topics < 1:
		return bad("Topics", "must be >= 1, got %d", p.Topics)
	case p.Kind == SynthZipf && p.PerSample > float64(p.Features):
		return bad("PerSample", "(%g) exceeds the number of features (%d): a sample's features are distinct", p.PerSample, p.Features)
	case !(p.Zipf > 0) || math.IsInf(p.Zipf, 0):
		return bad("Zipf", "exponent must be finite and > 0, got %g", p.Zipf)
	case !(p.Noise >= 0 && p.Noise < 0.5):
		return bad("Noise", "must be in [0, 0.5), got %g", p.Noise)
	case !(p.Positive > 0 && p.Positive < 1):
		return bad("Positive", "must be in (0, 1), got %g", p.Positive)
	}
	return nil
}

// SynthStats counts what a synthesis wrote.
type SynthStats struct {
	// Samples, Nonzeros and Positives count lines, feature tokens and
	// lines labelled 1.
	Samples, Nonzeros, Positives int64
	// Bytes is the size of the text written.
	Bytes int64
	// Bayes is the expected accuracy of the planted model itself on the
	// written (noisy) labels: a ceiling no trainer can beat on average.
	Bayes float64
}

// Add merges o into s, as when shards are written separately.
func (s *SynthStats) Add(o SynthStats) {
	n := s.Samples + o.Samples
	if n > 0 {
		s.Bayes = (s.Bayes*float64(s.Samples) + o.Bayes*float64(o.Samples)) / float64(n)
	}
	s.Samples = n
	s.Nonzeros += o.Nonzeros
	s.Positives += o.Positives
	s.Bytes += o.Bytes
}

// plantedScale is the half-width of the planted weights. With the default
// 20 nonzeros per sample it gives the planted model about 0.81 accuracy
// after 5% label noise: learnable, far from separable.
const plantedScale = 1.0

// PlantedWeight returns the true weight of feature f<j> in every data set
// made with seed: uniform in [-1, 1), a pure hash of (seed, j) so that it
// needs no table however large the vocabulary. The signal grows with
// PerSample, since a sample sums more weights.
func PlantedWeight(seed uint64, j int64) float64 {
	h := splitmix64(splitmix64(seed^0x5eed_0f_3e1647) + uint64(j)*0x9e3779b97f4a7c15)
	return plantedScale * (2*synthUnit(h) - 1)
}

// splitmix64 is the splitmix64 finalizer: a bijection whose every output bit
// depends on every input bit, which is all the hashing here needs.
func splitmix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// synthUnit maps 64 random bits to [0, 1) using the top 53. The generator
// does its own conversions instead of rand.Rand's methods so its output
// depends only on the PCG algorithm, which math/rand/v2 fixes, and on this
// file.
func synthUnit(x uint64) float64 { return float64(x>>11) * 0x1p-53 }

// Streams of per-sample randomness: data lines, and the calibration
// samples that set the intercept.
const (
	synthStreamData  = 0xda7a
	synthStreamCalib = 0xca1b
)

// synthCalibSamples is how many samples, drawn from their own stream, set
// the intercept: enough to land the positive rate within about 0.005.
const synthCalibSamples = 1 << 14

// Synth writes a synthetic data set. Sample i depends only on the params and
// i, so any range of samples can be written on its own (for shards, or in
// parallel) and ranges concatenate to the whole. A Synth is safe for
// concurrent use.
type Synth struct {
	p    SynthParams
	zipf zipfSampler
	b0   float64
	// lambda is the mean of the Poisson part of the per-sample count.
	lambda float64
}

// NewSynth validates p and calibrates the planted intercept.
func NewSynth(p SynthParams) (*Synth, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	s := &Synth{p: p, zipf: newZipfSampler(p.Zipf, p.Features), lambda: p.PerSample - 1}
	s.b0 = s.calibrate()
	return s, nil
}

// Params returns the parameters with defaults filled in.
func (s *Synth) Params() SynthParams { return s.p }

// Intercept returns the planted intercept b0.
func (s *Synth) Intercept() float64 { return s.b0 }

// calibrate returns the b0 that makes the mean of Sigmoid(b0 + sum w x)
// over calibration samples equal to Positive. The mean increases with b0,
// so Newton's method kept inside a shrinking bracket converges in a few
// steps and cannot diverge.
func (s *Synth) calibrate() float64 {
	g := new(synthScratch)
	sums := make([]float64, synthCalibSamples)
	span, mean := 0.0, 0.0
	for i := range sums {
		sums[i] = g.draw(s, synthStreamCalib, int64(i))
		span = max(span, math.Abs(sums[i]))
		mean += sums[i]
	}
	mean /= float64(len(sums))
	target := s.p.Positive
	logit := math.Log(target / (1 - target))
	lo, hi := logit-span-1, logit+span+1
	b := logit - mean
	for range 100 {
		f, df := 0.0, 0.0
		for _, z := range sums {
			p := Sigmoid(b + z)
			f += p
			df += p * (1 - p)
		}
		f = f/float64(len(sums)) - target
		df /= float64(len(sums))
		if f < 0 {
			lo = b
		} else {
			hi = b
		}
		if math.Abs(f) < 1e-12 || hi-lo < 1e-12 {
			break
		}
		next := b - f/df
		if !(next > lo && next < hi) {
			next = (lo + hi) / 2
		}
		b = next
	}
	return b
}

// Synthesize writes p.Samples lines to w, generating chunks of samples on
// all CPUs and writing them in order. Memory is bounded by a few chunks per
// CPU, whatever Samples and Features are. The output is byte-identical for
// the same params and dpmr version, however many CPUs run it (the Zipf
// sampler uses math.Exp and math.Log, which Go does not promise
// bit-identical across architectures, so a rare rank may differ between
// platforms).
//
// A SynthZipf line is "<label> f<j>:<v> ..." with distinct features in the
// order they were drawn, so hot features appear anywhere in a line as in
// real logs.
// Each value v is a small count: 1 with probability 3/4, 2 with 3/16, 3 with
// 1/16. Duplicate features drawn from the Zipf law are redrawn a bounded
// number of times, so a very steep law (large Zipf with large PerSample)
// yields fewer nonzeros than PerSample rather than looping. A SynthText
// line is "<label> w<a>:<count> w<a>_w<b>:<count> ...", words and bigrams
// in order of first appearance (synthtext.go).
func Synthesize(w io.Writer, p SynthParams) (SynthStats, error) {
	s, err := NewSynth(p)
	if err != nil {
		return SynthStats{}, err
	}
	return s.WriteParallel(w, 0, s.p.Samples, runtime.GOMAXPROCS(0))
}

// synthChunkBytes is the text one worker generates at a time: large enough
// that hand-offs cost nothing, small enough that a few per CPU bound the
// memory.
const synthChunkBytes = 256 << 10

// chunkSamples is how many samples make about synthChunkBytes of text, from
// the expected width of a nonzero (" f" + digits + ":v").
func (s *Synth) chunkSamples() int64 {
	perLine := 2 + 9*s.p.PerSample
	if s.p.Kind == SynthText {
		perLine = 2 + textBytesPerToken*s.p.PerSample
	}
	return max(1, int64(synthChunkBytes/perLine))
}

// synthChunk is one range of samples in flight between a worker and the
// writer.
type synthChunk struct {
	from, to int64
	buf      []byte
	st       SynthStats
	done     chan struct{}
}

// WriteParallel writes samples [from, to) to w like WriteRange, with workers
// goroutines generating chunks of samples while the caller's goroutine
// writes them in order. It stops at the first write error.
func (s *Synth) WriteParallel(w io.Writer, from, to int64, workers int) (SynthStats, error) {
	if from < 0 || to < from {
		return SynthStats{}, fmt.Errorf("synth: bad sample range [%d, %d)", from, to)
	}
	size := s.chunkSamples()
	if workers <= 1 || to-from <= size {
		return s.WriteRange(w, from, to)
	}
	// order holds chunks in sample order and bounds how far the workers run
	// ahead of the writer. Every chunk holding a buffer is in order or with
	// the writer, so 2*workers+2 buffers are enough and all are reused.
	order := make(chan *synthChunk, 2*workers)
	work := make(chan *synthChunk, 2*workers)
	free := make(chan []byte, 2*workers+2)
	for range cap(free) {
		free <- nil
	}
	stop := make(chan struct{})
	go func() {
		defer close(work)
		defer close(order)
		for b := from; b < to; b += size {
			blk := &synthChunk{from: b, to: min(b+size, to), done: make(chan struct{})}
			select {
			case order <- blk:
			case <-stop:
				return
			}
			work <- blk
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			g := new(synthScratch)
			for blk := range work {
				buf := <-free
				if buf == nil {
					// Room for a chunk's usual size, so it rarely grows.
					buf = make([]byte, 0, synthChunkBytes*5/4)
				}
				blk.buf = s.appendRange(buf, g, blk.from, blk.to, &blk.st)
				close(blk.done)
			}
		})
	}
	var st SynthStats
	var err error
	for blk := range order {
		<-blk.done
		if err == nil {
			var n int
			n, err = w.Write(blk.buf)
			if err != nil {
				// Count only what reached w.
				st.Bytes += int64(n)
				close(stop)
			} else {
				blk.st.Bytes = int64(n)
				st.Add(blk.st)
			}
		}
		free <- blk.buf[:0]
	}
	wg.Wait()
	return st, err
}

// WriteRange writes samples [from, to) to w on the calling goroutine: the
// lines Synthesize writes there.
func (s *Synth) WriteRange(w io.Writer, from, to int64) (SynthStats, error) {
	var st SynthStats
	if from < 0 || to < from {
		return st, fmt.Errorf("synth: bad sample range [%d, %d)", from, to)
	}
	g := new(synthScratch)
	size := s.chunkSamples()
	var buf []byte
	for b := from; b < to; b += size {
		var bst SynthStats
		buf = s.appendRange(buf[:0], g, b, min(b+size, to), &bst)
		n, err := w.Write(buf)
		if err != nil {
			st.Bytes += int64(n)
			return st, err
		}
		bst.Bytes = int64(n)
		st.Add(bst)
	}
	return st, nil
}

// appendRange appends the lines of samples [from, to) to dst and sets *st
// to their stats. Lines are built with strconv.Append* into one buffer:
// formatting is a large share of the cost, and fmt would dominate it.
func (s *Synth) appendRange(dst []byte, g *synthScratch, from, to int64, st *SynthStats) []byte {
	*st = SynthStats{}
	noise := s.p.Noise
	bayes := 0.0
	for i := from; i < to; i++ {
		z := s.b0 + g.draw(s, synthStreamData, i)
		p := Sigmoid(z)
		// The planted model's expected accuracy on the noisy label.
		q := p*(1-noise) + (1-p)*noise
		bayes += max(q, 1-q)

		y := synthUnit(g.rng.Uint64()) < p
		if synthUnit(g.rng.Uint64()) < noise {
			y = !y
		}
		if y {
			dst = append(dst, '1')
			st.Positives++
		} else {
			dst = append(dst, '0')
		}
		if s.p.Kind == SynthText {
			dst = g.appendText(dst)
			st.Nonzeros += int64(len(g.text.keys))
		} else {
			for k, r := range g.ranks {
				dst = append(dst, ' ', 'f')
				dst = strconv.AppendInt(dst, r, 10)
				dst = append(dst, ':', '0'+g.vals[k])
			}
			st.Nonzeros += int64(len(g.ranks))
		}
		dst = append(dst, '\n')
	}
	st.Samples = to - from
	st.Bytes = int64(len(dst))
	if st.Samples > 0 {
		st.Bayes = bayes / float64(st.Samples)
	}
	return dst
}

// synthScratch is one goroutine's state for drawing samples.
type synthScratch struct {
	rng   rand.PCG
	ranks []int64
	vals  []uint8
	// set holds rank+1 in open addressing (0 = empty) to keep a sample's
	// features distinct in O(1) per draw.
	set  []int64
	text textScratch
}

// draw fills g.ranks and g.vals (for SynthText, g.text) with sample i of
// the stream and returns its planted score without the intercept. Seeding
// the generator from (seed, stream, i) is what makes every sample
// independent of how the data set is split.
func (g *synthScratch) draw(s *Synth, stream uint64, i int64) float64 {
	seed := s.p.Seed
	g.rng.Seed(splitmix64(seed^stream), splitmix64(uint64(i)^splitmix64(seed+stream)))
	if s.p.Kind == SynthText {
		return g.drawText(s)
	}

	count := 1 + synthPoisson(&g.rng, s.lambda)
	count = min(count, s.p.Features)

	size := 32
	for int64(size) < 2*count {
		size *= 2
	}
	if len(g.set) < size {
		g.set = make([]int64, size)
	}
	set := g.set[:size]
	clear(set)
	mask := uint64(size - 1)

	g.ranks = g.ranks[:0]
	// A bounded budget of draws: distinct features can run out under a
	// steep Zipf law, and the generator must not loop.
	for tries := 8*count + 64; int64(len(g.ranks)) < count && tries > 0; tries-- {
		r := s.zipf.draw(&g.rng)
		key := r + 1
		h := (uint64(key) * 0x9e3779b97f4a7c15) >> 32 & mask
		for set[h] != 0 && set[h] != key {
			h = (h + 1) & mask
		}
		if set[h] == key {
			continue
		}
		set[h] = key
		g.ranks = append(g.ranks, r)
	}

	g.vals = g.vals[:0]
	sum := 0.0
	for _, r := range g.ranks {
		var v uint8 = 1
		switch b := g.rng.Uint64() >> 60; {
		case b == 15:
			v = 3
		case b >= 12:
			v = 2
		}
		g.vals = append(g.vals, v)
		sum += PlantedWeight(seed, r) * float64(v)
	}
	return sum
}

// synthPoissonChunk keeps exp(-lambda) in Knuth's product method far from
// underflow; a Poisson of a large mean is drawn as a sum of Poissons.
const synthPoissonChunk = 500

// synthPoisson draws from Poisson(lambda) by Knuth's product of uniforms:
// O(lambda) per draw, which is proportional to the sample it sizes anyway.
func synthPoisson(rng *rand.PCG, lambda float64) int64 {
	var k int64
	for lambda > 0 {
		l := min(lambda, synthPoissonChunk)
		lambda -= l
		limit := math.Exp(-l)
		p := synthUnit(rng.Uint64())
		for p > limit {
			k++
			p *= synthUnit(rng.Uint64())
		}
	}
	return k
}

// zipfSampler draws ranks 0..n-1 with probability proportional to
// (rank+1)^-s for any s > 0, in O(1) expected time and memory independent
// of n.
//
// The method is rejection-inversion (Hörmann and Derflinger, 1996) over
// k = rank+1: draw u uniformly in H-space, where H is the integral of the
// continuous density x^-s; x = H^-1(u) rounds to k; accept when u lies in
// the top h(k) = k^-s of k's interval [H(k-1/2), H(k+1/2)], which convexity
// of x^-s makes at least that long. That costs an exp and a log1p per draw,
// so the hottest ranks, where nearly all draws land, take a shortcut: when u
// falls in the head region of H-space (k <= head), an exact alias table for
// those ranks replaces the inversion.
type zipfSampler struct {
	s, oneMinusS float64
	n            float64
	// lo, hi bound the uniform draw in H-space: H(1.5)-1 and H(n+0.5).
	lo, hi float64
	// headEnd is lo plus the head's exact mass sum_{k<=head} k^-s: u below it
	// selects the alias table. headCut is H(head+0.5), where the tail's
	// intervals begin; u between the two is the head's slack and rejected.
	headEnd, headCut float64
	tail             bool
	// first is the first tail k, head+1.
	first float64
	// squeeze accepts a tail draw without evaluating H when k - x <=
	// squeeze; k - x at the acceptance edge grows with k, so its value at
	// the first tail rank bounds them all.
	squeeze float64
	// Alias table of the head, padded to a power of two: entry i is
	// keep<<32 | alias, and gives rank i when the top 32 random bits are
	// below keep, else rank alias. One word per entry is one cache miss.
	table []uint64
	mask  uint64
}

// zipfHead is the number of hottest ranks served by the alias table:
// 32768 entries (256 KiB, in L2 cache) take about 87% of draws at s = 1.1
// over a million features and nearly all at s >= 1.5.
const zipfHead = 1 << 15

func newZipfSampler(s float64, n int64) zipfSampler {
	z := zipfSampler{s: s, oneMinusS: 1 - s, n: float64(n)}
	head := min(n, zipfHead)
	size := 1
	for int64(size) < head {
		size *= 2
	}
	w := make([]float64, size)
	mass := 0.0
	for k := range head {
		w[k] = z.h(float64(k + 1))
		mass += w[k]
	}
	z.table = zipfAliasTable(w, mass)
	z.mask = uint64(size - 1)

	z.lo = z.hInt(1.5) - 1
	z.hi = z.hInt(z.n + 0.5)
	z.headEnd = z.lo + mass
	z.headCut = z.hInt(float64(head) + 0.5)
	z.tail = head < n
	z.first = float64(head + 1)
	k := z.first
	z.squeeze = k - z.hIntInv(z.hInt(k+0.5)-z.h(k))
	return z
}

// zipfAliasTable builds Vose's alias table for weights w summing to mass, as
// keep<<32 | alias words.
func zipfAliasTable(w []float64, mass float64) []uint64 {
	n := len(w)
	table := make([]uint64, n)
	q := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i := range w {
		q[i] = w[i] / mass * float64(n)
		if q[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		i := small[len(small)-1]
		small = small[:len(small)-1]
		j := large[len(large)-1]
		table[i] = uint64(q[i]*(1<<32))<<32 | uint64(j)
		q[j] -= 1 - q[i]
		if q[j] < 1 {
			large = large[:len(large)-1]
			small = append(small, j)
		}
	}
	// What is left is full up to rounding: it always keeps itself.
	for _, i := range append(small, large...) {
		table[i] = math.MaxUint32<<32 | uint64(i)
	}
	return table
}

// h is the unnormalised density x^-s.
func (z *zipfSampler) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

// hInt is H(x) = integral of t^-s from 1 to x, written through expm1 so it
// stays accurate as s approaches 1 (where it becomes log x).
func (z *zipfSampler) hInt(x float64) float64 {
	lx := math.Log(x)
	return lx * expm1Ratio(z.oneMinusS*lx)
}

// hIntInv is the inverse of hInt.
func (z *zipfSampler) hIntInv(y float64) float64 {
	return math.Exp(y * log1pRatio(z.oneMinusS*y))
}

// draw returns a rank in [0, n).
func (z *zipfSampler) draw(rng *rand.PCG) int64 {
	for {
		if z.tail {
			u := z.lo + synthUnit(rng.Uint64())*(z.hi-z.lo)
			if u >= z.headEnd {
				if u < z.headCut {
					continue
				}
				x := z.hIntInv(u)
				k := min(max(math.Round(x), z.first), z.n)
				if k-x <= z.squeeze || u >= z.hInt(k+0.5)-z.h(k) {
					return int64(k) - 1
				}
				continue
			}
		}
		r := rng.Uint64()
		i := r & z.mask
		e := z.table[i]
		if r>>32 >= e>>32 {
			i = e & math.MaxUint32
		}
		return int64(i)
	}
}

// expm1Ratio is expm1(t)/t, continuous at 0.
func expm1Ratio(t float64) float64 {
	if math.Abs(t) < 1e-8 {
		return 1 + t/2
	}
	return math.Expm1(t) / t
}

// log1pRatio is log1p(t)/t, continuous at 0.
func log1pRatio(t float64) float64 {
	if math.Abs(t) < 1e-8 {
		return 1 - t/2
	}
	return math.Log1p(t) / t
}
