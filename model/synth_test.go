package model

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// synthText returns the text Synthesize writes for p.
func synthText(t *testing.T, p SynthParams) ([]byte, SynthStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Synthesize(&buf, p)
	if err != nil {
		t.Fatalf("Synthesize(%+v): %v", p, err)
	}
	return buf.Bytes(), st
}

// synthLine is one parsed line. The parse is deliberately independent of
// the package's sample parser: it checks the exact shape the generator
// promises, which is narrower than the format.
type synthLine struct {
	label    int
	features []int64
	values   []int
}

func parseSynth(t *testing.T, text []byte, features int64) []synthLine {
	t.Helper()
	var out []synthLine
	for n, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		if line == "" {
			continue
		}
		toks := strings.Split(line, " ")
		var l synthLine
		switch toks[0] {
		case "0":
		case "1":
			l.label = 1
		default:
			t.Fatalf("line %d: label %q", n+1, toks[0])
		}
		if len(toks) < 2 {
			t.Fatalf("line %d: no features: %q", n+1, line)
		}
		seen := map[int64]bool{}
		for _, tok := range toks[1:] {
			name, val, ok := strings.Cut(tok, ":")
			if !ok || !strings.HasPrefix(name, "f") {
				t.Fatalf("line %d: token %q", n+1, tok)
			}
			j, err := strconv.ParseInt(name[1:], 10, 64)
			if err != nil || j < 0 || j >= features {
				t.Fatalf("line %d: feature %q outside f0..f%d", n+1, name, features-1)
			}
			if seen[j] {
				t.Fatalf("line %d: feature %q twice", n+1, name)
			}
			seen[j] = true
			v, err := strconv.Atoi(val)
			if err != nil || v < 1 || v > 3 {
				t.Fatalf("line %d: value %q not a count in 1..3", n+1, val)
			}
			l.features = append(l.features, j)
			l.values = append(l.values, v)
		}
		out = append(out, l)
	}
	return out
}

func TestSynthDeterministic(t *testing.T) {
	p := SynthParams{Samples: 30000, Features: 5000, Noise: 0.05, Seed: 7}
	a, _ := synthText(t, p)
	b, _ := synthText(t, p)
	if !bytes.Equal(a, b) {
		t.Fatal("same params gave different bytes")
	}
	p.Seed = 8
	c, _ := synthText(t, p)
	if bytes.Equal(a, c) {
		t.Fatal("a different seed gave the same bytes")
	}

	// However the samples are split or parallelised, the text is the same:
	// that is what makes shards concatenate to the single file.
	s, err := NewSynth(SynthParams{Samples: 30000, Features: 5000, Noise: 0.05, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var pieces bytes.Buffer
	for _, r := range [][2]int64{{0, 1}, {1, 9000}, {9000, 9000}, {9000, 30000}} {
		if _, err := s.WriteRange(&pieces, r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a, pieces.Bytes()) {
		t.Error("concatenated ranges differ from the whole")
	}
	for _, workers := range []int{1, 2, 5} {
		var par bytes.Buffer
		if _, err := s.WriteParallel(&par, 0, 30000, workers); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, par.Bytes()) {
			t.Errorf("%d workers: output differs", workers)
		}
	}
}

func TestSynthStatsMatchOutput(t *testing.T) {
	p := SynthParams{Samples: 20000, Features: 100000, PerSample: 12, Noise: 0.1, Seed: 3}
	text, st := synthText(t, p)
	lines := parseSynth(t, text, p.Features)
	var nz, pos int64
	for _, l := range lines {
		nz += int64(len(l.features))
		pos += int64(l.label)
	}
	got := SynthStats{Samples: int64(len(lines)), Nonzeros: nz, Positives: pos, Bytes: int64(len(text)), Bayes: st.Bayes}
	if got != st {
		t.Errorf("stats %+v, output has %+v", st, got)
	}
	// Count per sample is 1 + Poisson(PerSample-1): mean PerSample.
	if mean := float64(nz) / float64(len(lines)); math.Abs(mean-p.PerSample) > 0.1 {
		t.Errorf("mean nonzeros per sample %.3f, want about %g", mean, p.PerSample)
	}
	if st.Bayes <= 0.5 || st.Bayes >= 1 {
		t.Errorf("Bayes accuracy %g outside (0.5, 1)", st.Bayes)
	}
}

// TestSynthParsesAsSamples reads the output with the package's own parser:
// the generator must write what the trainer reads, label and values intact.
func TestSynthParsesAsSamples(t *testing.T) {
	p := SynthParams{Samples: 3000, Features: 1e9, Noise: 0.05, Seed: 9}
	text, st := synthText(t, p)
	want := parseSynth(t, text, p.Features)
	var got Sample
	var nz, n int64
	for i, line := range bytes.SplitAfter(text, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		ok, err := ParseLine(&got, "synth", int64(i+1), line)
		if err != nil || !ok {
			t.Fatalf("line %d: ok=%v err=%v", i+1, ok, err)
		}
		w := want[i]
		if got.Label != float64(w.label) || len(got.Features) != len(w.features) {
			t.Fatalf("line %d: parsed label %g with %d features, wrote %d with %d",
				i+1, got.Label, len(got.Features), w.label, len(w.features))
		}
		for k, f := range got.Features {
			if f.Name != "f"+strconv.FormatInt(w.features[k], 10) || f.Value != float64(w.values[k]) {
				t.Fatalf("line %d: feature %d parsed as %s:%g", i+1, k, f.Name, f.Value)
			}
		}
		nz += int64(len(got.Features))
		n++
	}
	if n != st.Samples || nz != st.Nonzeros {
		t.Errorf("parsed %d samples, %d nonzeros; stats say %d, %d", n, nz, st.Samples, st.Nonzeros)
	}
}

func TestSynthEmpty(t *testing.T) {
	text, st := synthText(t, SynthParams{})
	if len(text) != 0 || st != (SynthStats{}) {
		t.Errorf("zero Samples wrote %d bytes, stats %+v", len(text), st)
	}
}

// TestSynthZipfRatio checks the law end to end on the written text: with
// one feature per sample, f0 (rank 1) against f9 (rank 10) is 10^s.
func TestSynthZipfRatio(t *testing.T) {
	const samples = 200000
	for _, s := range []float64{0.8, 1.1, 1.5} {
		p := SynthParams{Samples: samples, Features: 1_000_000, PerSample: 1, Zipf: s, Seed: 11}
		text, _ := synthText(t, p)
		var n0, n9 float64
		for _, l := range parseSynth(t, text, p.Features) {
			switch l.features[0] {
			case 0:
				n0++
			case 9:
				n9++
			}
		}
		want := math.Pow(10, s)
		// Relative standard error of a ratio of two counts.
		se := want * math.Sqrt(1/n0+1/n9)
		if got := n0 / n9; math.Abs(got-want) > 5*se {
			t.Errorf("s=%g: count(f0)/count(f9) = %.2f, want %.2f ± %.2f", s, got, want, 5*se)
		}
	}
}

// TestSynthZipfBuckets checks the sampler's distribution against exact
// probabilities, over rank buckets that straddle the alias-table head and
// reach deep into the tail, for exponents below, at and above 1.
func TestSynthZipfBuckets(t *testing.T) {
	const draws = 1_000_000
	const n = 2_000_000
	edges := []int64{0, 1, 2, 5, 10, 100, 1000, zipfHead - 100, zipfHead, zipfHead + 100, 100_000, 1_000_000, n}
	for _, s := range []float64{0.5, 1, 1.1, 2} {
		z := newZipfSampler(s, n)
		total := 0.0
		prob := make([]float64, len(edges)-1)
		b := 0
		for k := int64(0); k < n; k++ {
			for k >= edges[b+1] {
				b++
			}
			w := math.Pow(float64(k+1), -s)
			prob[b] += w
			total += w
		}
		count := make([]float64, len(prob))
		rng := rand.NewPCG(uint64(s*1000), 1)
		for range draws {
			r := z.draw(rng)
			if r < 0 || r >= n {
				t.Fatalf("s=%g: rank %d outside [0, %d)", s, r, n)
			}
			i := 0
			for r >= edges[i+1] {
				i++
			}
			count[i]++
		}
		for i := range prob {
			want := draws * prob[i] / total
			sd := math.Sqrt(want * (1 - prob[i]/total))
			if math.Abs(count[i]-want) > 5*sd+1 {
				t.Errorf("s=%g ranks [%d, %d): %g draws, want %.1f ± %.1f", s, edges[i], edges[i+1], count[i], want, 5*sd)
			}
		}
	}
}

// TestSynthZipfSqueeze checks the premise of the sampler's shortcut: the
// distance k - x from a rank to its acceptance edge never falls below its
// value at the first tail rank.
func TestSynthZipfSqueeze(t *testing.T) {
	for _, s := range []float64{0.1, 0.5, 0.99, 1, 1.01, 1.1, 2, 5} {
		z := newZipfSampler(s, 1e12)
		checked := 0
		for k := z.first; k < 1e12; k = math.Ceil(k * 1.01) {
			hk, hInt := z.h(k), z.hInt(k+0.5)
			if hk < 1e-9*hInt {
				// Beyond here H's rounding, over h(k), moves the
				// edge by more than the margin.
				break
			}
			edge := z.hIntInv(hInt - hk)
			// The margin allows for rounding, which grows with k.
			if k-edge < z.squeeze-(1e-6+1e-14*k) {
				t.Fatalf("s=%g k=%g: k - edge = %g < squeeze %g", s, k, k-edge, z.squeeze)
			}
			checked++
		}
		// A steep law never reaches the tail in floating point.
		if s < 2 && checked == 0 {
			t.Errorf("s=%g: no rank checked", s)
		}
	}
}

func TestSynthSmallVocabulary(t *testing.T) {
	// A vocabulary smaller than the alias table, and samples nearly as wide
	// as the vocabulary: every sample must still be distinct features.
	p := SynthParams{Samples: 2000, Features: 12, PerSample: 10, Seed: 5}
	text, st := synthText(t, p)
	parseSynth(t, text, p.Features)
	if st.Samples != p.Samples {
		t.Errorf("%d samples, want %d", st.Samples, p.Samples)
	}
}

func TestSynthSteepZipfTerminates(t *testing.T) {
	// Under s = 6 almost every draw is f0..f3, so distinct features run out:
	// the generator must give up on the rest, not loop.
	p := SynthParams{Samples: 500, Features: 1_000_000, PerSample: 50, Zipf: 6}
	text, st := synthText(t, p)
	parseSynth(t, text, p.Features)
	if st.Nonzeros >= 50*st.Samples {
		t.Errorf("%d nonzeros in %d samples: expected far fewer than 50 a sample", st.Nonzeros, st.Samples)
	}
}

func TestSynthPositiveRate(t *testing.T) {
	const samples = 200000
	for _, c := range []struct{ positive, noise float64 }{
		{0, 0}, // default 0.5
		{0.3, 0.1},
		{0.05, 0},
		{0.9, 0.05},
	} {
		p := SynthParams{Samples: samples, Positive: c.positive, Noise: c.noise, Seed: 2}
		st, err := Synthesize(io.Discard, p)
		if err != nil {
			t.Fatal(err)
		}
		target := c.positive
		if target == 0 {
			target = DefaultSynthPositive
		}
		want := target*(1-c.noise) + (1-target)*c.noise
		if got := float64(st.Positives) / samples; math.Abs(got-want) > 0.015 {
			t.Errorf("Positive=%g Noise=%g: positive rate %.4f, want %.4f", c.positive, c.noise, got, want)
		}
	}
}

// TestSynthLearnable checks the defaults give the planted model a clear
// edge over chance without making the labels nearly deterministic.
func TestSynthLearnable(t *testing.T) {
	st, err := Synthesize(io.Discard, SynthParams{Samples: 50000, Noise: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bayes < 0.75 || st.Bayes > 0.9 {
		t.Errorf("planted model accuracy %.3f, want about 0.8", st.Bayes)
	}
}

func TestSynthPlantedWeight(t *testing.T) {
	const n = 100000
	sum, sumSq, differ := 0.0, 0.0, 0
	for j := int64(0); j < n; j++ {
		w := PlantedWeight(1, j)
		if w < -1 || w >= 1 {
			t.Fatalf("weight of f%d = %g outside [-1, 1)", j, w)
		}
		if w != PlantedWeight(1, j) {
			t.Fatal("PlantedWeight is not deterministic")
		}
		if w != PlantedWeight(2, j) {
			differ++
		}
		sum += w
		sumSq += w * w
	}
	// Uniform on [-1, 1): mean 0, variance 1/3.
	if mean := sum / n; math.Abs(mean) > 0.01 {
		t.Errorf("mean weight %g, want about 0", mean)
	}
	if v := sumSq / n; math.Abs(v-1.0/3) > 0.01 {
		t.Errorf("mean squared weight %g, want about 1/3", v)
	}
	if differ < n-10 {
		t.Errorf("only %d of %d weights depend on the seed", differ, n)
	}
}

func TestSynthValidate(t *testing.T) {
	for _, c := range []struct {
		name  string
		p     SynthParams
		field string // "" means valid
	}{
		{"zero value", SynthParams{}, ""},
		{"huge vocabulary", SynthParams{Samples: 1, Features: 1e12}, ""},
		{"zipf below one", SynthParams{Zipf: 0.5}, ""},
		{"negative samples", SynthParams{Samples: -1}, "Samples"},
		{"negative features", SynthParams{Features: -5}, "Features"},
		{"features beyond float64", SynthParams{Features: 1<<53 + 1}, "Features"},
		{"per sample below one", SynthParams{PerSample: 0.5}, "PerSample"},
		{"per sample NaN", SynthParams{PerSample: math.NaN()}, "PerSample"},
		{"per sample over vocabulary", SynthParams{Features: 10, PerSample: 11}, "PerSample"},
		{"negative zipf", SynthParams{Zipf: -1}, "Zipf"},
		{"infinite zipf", SynthParams{Zipf: math.Inf(1)}, "Zipf"},
		{"negative noise", SynthParams{Noise: -0.1}, "Noise"},
		{"noise one half", SynthParams{Noise: 0.5}, "Noise"},
		{"positive one", SynthParams{Positive: 1}, "Positive"},
		{"negative positive", SynthParams{Positive: -0.2}, "Positive"},
	} {
		err := c.p.Validate()
		var pe *SynthParamError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.name, err)
		case c.field != "" && err == nil:
			t.Errorf("%s: no error", c.name)
		case c.field != "" && (!errors.As(err, &pe) || pe.Field != c.field):
			t.Errorf("%s: error %q is not a *SynthParamError for %s", c.name, err, c.field)
		case c.field != "" && !strings.Contains(err.Error(), c.field):
			t.Errorf("%s: message %q does not name %s", c.name, err, c.field)
		}
		if c.field != "" {
			if _, err := Synthesize(io.Discard, c.p); err == nil {
				t.Errorf("%s: Synthesize accepted invalid params", c.name)
			}
		}
	}
}

// synthFailWriter fails after accepting limit bytes.
type synthFailWriter struct{ limit int }

func (f *synthFailWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n := f.limit
		f.limit = 0
		return n, io.ErrShortWrite
	}
	f.limit -= len(p)
	return len(p), nil
}

func TestSynthWriteError(t *testing.T) {
	s, err := NewSynth(SynthParams{Samples: 100000, Features: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 4} {
		st, err := s.WriteParallel(&synthFailWriter{limit: 1 << 20}, 0, 100000, workers)
		if err != io.ErrShortWrite {
			t.Errorf("%d workers: error %v, want %v", workers, err, io.ErrShortWrite)
		}
		if st.Bytes != 1<<20 {
			t.Errorf("%d workers: %d bytes counted, %d written", workers, st.Bytes, 1<<20)
		}
	}
}

// synthAlloc returns the bytes allocated while writing p to io.Discard.
func synthAlloc(t *testing.T, p SynthParams) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := Synthesize(io.Discard, p); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestSynthConstantMemory checks that what the generator allocates does not
// grow with the number of samples or the size of the vocabulary: the
// buffers are reused, and nothing is kept per sample or per feature.
func TestSynthConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 400k samples")
	}
	small := synthAlloc(t, SynthParams{Samples: 20000, Features: 1e6})
	large := synthAlloc(t, SynthParams{Samples: 400000, Features: 1e6})
	huge := synthAlloc(t, SynthParams{Samples: 20000, Features: 1e12})
	t.Logf("allocated: 20k samples %d KiB, 400k samples %d KiB, 1e12 features %d KiB", small>>10, large>>10, huge>>10)
	// The fixed part is the alias table, calibration and a few blocks per
	// CPU; 20 times the samples may add only per-block bookkeeping.
	const slack = 4 << 20
	if large > small+slack {
		t.Errorf("20x the samples allocated %d bytes against %d", large, small)
	}
	if huge > small+slack {
		t.Errorf("1e12 features allocated %d bytes against %d for 1e6", huge, small)
	}
}

func benchmarkSynth(b *testing.B, p SynthParams, workers int) {
	s, err := NewSynth(p)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	st, err := s.WriteParallel(io.Discard, 0, int64(b.N), workers)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Bytes / int64(b.N))
	b.ReportMetric(float64(st.Nonzeros)/b.Elapsed().Seconds(), "nonzeros/s")
}

// BenchmarkSynthesize measures the generator at the command's defaults on
// every CPU; one op is one sample.
func BenchmarkSynthesize(b *testing.B) {
	benchmarkSynth(b, SynthParams{Noise: 0.05}, runtime.GOMAXPROCS(0))
}

// BenchmarkSynthesizeOneCPU is the same on one goroutine.
func BenchmarkSynthesizeOneCPU(b *testing.B) {
	benchmarkSynth(b, SynthParams{Noise: 0.05}, 1)
}
