package model

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// textDoc is one parsed SynthText line: the label, and the count of each
// word and bigram, keyed by word numbers (b = -1 for a word).
type textDoc struct {
	label  int
	counts map[[2]int64]int
	tokens int // sum of the word counts
}

// parseText parses SynthText output independently of the package's
// parser, checking the exact shape the generator promises.
func parseText(t *testing.T, text []byte, words int64) []textDoc {
	t.Helper()
	word := func(n int, s string) int64 {
		j, err := strconv.ParseInt(strings.TrimPrefix(s, "w"), 10, 64)
		if !strings.HasPrefix(s, "w") || err != nil || j < 0 || j >= words {
			t.Fatalf("line %d: word %q outside w0..w%d", n, s, words-1)
		}
		return j
	}
	var out []textDoc
	for n, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		toks := strings.Split(line, " ")
		d := textDoc{counts: map[[2]int64]int{}}
		switch toks[0] {
		case "0":
		case "1":
			d.label = 1
		default:
			t.Fatalf("line %d: label %q", n+1, toks[0])
		}
		bigrams := 0
		for _, tok := range toks[1:] {
			name, val, ok := strings.Cut(tok, ":")
			c, err := strconv.Atoi(val)
			if !ok || err != nil || c < 1 {
				t.Fatalf("line %d: token %q has no count", n+1, tok)
			}
			key := [2]int64{-1, -1}
			if a, b, ok := strings.Cut(name, "_"); ok {
				key = [2]int64{word(n+1, a), word(n+1, b)}
				bigrams += c
			} else {
				key[0] = word(n+1, name)
				d.tokens += c
			}
			if _, dup := d.counts[key]; dup {
				t.Fatalf("line %d: feature %q twice", n+1, name)
			}
			d.counts[key] = c
		}
		// Every two consecutive tokens make one bigram.
		if d.tokens < 1 || bigrams != d.tokens-1 {
			t.Fatalf("line %d: %d tokens but %d bigrams", n+1, d.tokens, bigrams)
		}
		out = append(out, d)
	}
	return out
}

var textTest = SynthParams{Kind: SynthText, Samples: 4000, Noise: 0.05, Seed: 5}

func TestSynthTextDeterministic(t *testing.T) {
	p := textTest
	p.Samples = 2000
	a, _ := synthText(t, p)
	b, _ := synthText(t, p)
	if !bytes.Equal(a, b) {
		t.Fatal("same params gave different bytes")
	}
	p.Seed++
	if c, _ := synthText(t, p); bytes.Equal(a, c) {
		t.Fatal("a different seed gave the same bytes")
	}
	p.Seed--
	s, err := NewSynth(p)
	if err != nil {
		t.Fatal(err)
	}
	var pieces bytes.Buffer
	for _, r := range [][2]int64{{0, 1}, {1, 700}, {700, 2000}} {
		if _, err := s.WriteRange(&pieces, r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a, pieces.Bytes()) {
		t.Error("concatenated ranges differ from the whole")
	}
	for _, workers := range []int{1, 3} {
		var par bytes.Buffer
		if _, err := s.WriteParallel(&par, 0, 2000, workers); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, par.Bytes()) {
			t.Errorf("%d workers: output differs", workers)
		}
	}
}

// TestSynthTextShape checks the stats and the document lengths: the mean
// is PerSample and the spread is the log-normal's, far wider than a
// Poisson's.
func TestSynthTextShape(t *testing.T) {
	text, st := synthText(t, textTest)
	docs := parseText(t, text, DefaultTextWords)
	var nz, pos int64
	var sum, sumSq float64
	for _, d := range docs {
		nz += int64(len(d.counts))
		pos += int64(d.label)
		sum += float64(d.tokens)
		sumSq += float64(d.tokens * d.tokens)
	}
	got := SynthStats{Samples: int64(len(docs)), Nonzeros: nz, Positives: pos, Bytes: int64(len(text)), Bayes: st.Bayes}
	if got != st {
		t.Errorf("stats %+v, output has %+v", st, got)
	}
	n := float64(len(docs))
	mean := sum / n
	sd := math.Sqrt(sumSq/n - mean*mean)
	// Length 1 + Poisson(149 m), m log-normal with mean 1 and log-sd
	// textLengthSigma: its variance is 149^2 (e^(sigma^2) - 1) + 149.
	wantSD := math.Sqrt(149*149*math.Expm1(textLengthSigma*textLengthSigma) + 149)
	if se := wantSD / math.Sqrt(n); math.Abs(mean-DefaultTextTokens) > 5*se {
		t.Errorf("mean length %.1f, want %d ± %.1f", mean, DefaultTextTokens, 5*se)
	}
	t.Logf("length: mean %.1f sd %.1f (want %.1f)", mean, sd, wantSD)
	if sd < 0.8*wantSD || sd > 1.2*wantSD {
		t.Errorf("sd of lengths %.1f, want about %.1f", sd, wantSD)
	}
	if rate := float64(pos) / n; math.Abs(rate-0.5) > 0.05 {
		t.Errorf("positive rate %.3f, want about 0.5", rate)
	}
}

// TestSynthTextLongTail checks the vocabulary's law and its tail: the
// hottest words follow Zipf's law, and most features are rare.
func TestSynthTextLongTail(t *testing.T) {
	text, _ := synthText(t, textTest)
	docs := parseText(t, text, DefaultTextWords)
	words := map[int64]int{}
	df := map[[2]int64]int{}
	for _, d := range docs {
		for k, c := range d.counts {
			if k[1] < 0 {
				words[k[0]] += c
			}
			df[k]++
		}
	}
	for j := int64(1); j < 10; j++ {
		if words[j] > words[0] {
			t.Errorf("w%d (%d tokens) is hotter than w0 (%d)", j, words[j], words[0])
		}
	}
	// Topic words, spread by hashing, add little to the hottest words:
	// w0 against w9 stays near the law's 10^Zipf.
	if r := float64(words[0]) / float64(words[9]); r < 10.0/2 || r > 10*2 {
		t.Errorf("tokens of w0 / w9 = %.2f, want about 10", r)
	}
	t.Logf("w0 %d tokens, w9 %d", words[0], words[9])
	once := 0
	for _, n := range df {
		if n == 1 {
			once++
		}
	}
	frac := float64(once) / float64(len(df))
	t.Logf("%d features, %.2f in one document", len(df), frac)
	if frac < 0.5 {
		t.Errorf("%.2f of %d features occur in one document; a long tail has most", frac, len(df))
	}
}

// corr is Pearson's correlation of the counts of features a and b over
// docs.
func corr(docs []textDoc, a, b [2]int64) float64 {
	var sa, sb, saa, sbb, sab float64
	for _, d := range docs {
		x, y := float64(d.counts[a]), float64(d.counts[b])
		sa += x
		sb += y
		saa += x * x
		sbb += y * y
		sab += x * y
	}
	n := float64(len(docs))
	return (sab/n - sa*sb/n/n) / math.Sqrt((saa/n-sa*sa/n/n)*(sbb/n-sb*sb/n/n))
}

// TestSynthTextCorrelated checks the two sources of correlated columns:
// words of one topic co-occur, words of different topics do not; and a
// word's column and that of its bigram with its usual follower move
// together, more than the bigram's and another word's as hot (through
// document length alone).
func TestSynthTextCorrelated(t *testing.T) {
	p := textTest
	text, _ := synthText(t, p)
	docs := parseText(t, text, DefaultTextWords)
	w := func(j int64) [2]int64 { return [2]int64{j, -1} }

	same, other := 0.0, 0.0
	const topics = 16
	for k := int64(0); k < topics; k++ {
		a := topicWord(p.Seed, k, 0, DefaultTextWords)
		b := topicWord(p.Seed, k, 1, DefaultTextWords)
		c := topicWord(p.Seed, k+1, 0, DefaultTextWords)
		same += corr(docs, w(int64(a)), w(int64(b))) / topics
		other += corr(docs, w(int64(a)), w(int64(c))) / topics
	}
	t.Logf("correlation of words: same topic %.3f, two topics %.3f", same, other)
	if !(same >= 0.3 && other <= 0.1) {
		t.Errorf("mean correlation of a topic's two hottest words %.3f (want > 0.3), of two topics' %.3f (want < 0.1)", same, other)
	}

	s, err := NewSynth(p)
	if err != nil {
		t.Fatal(err)
	}
	var pair, unrelated float64
	const hot = 10
	for j := int64(0); j < hot; j++ {
		bigram := [2]int64{j, int64(s.follower(uint32(j), 0))}
		pair += corr(docs, w(j), bigram) / hot
		unrelated += corr(docs, w(j+hot), bigram) / hot
	}
	t.Logf("correlation with a word's bigram: the word %.3f, another %.3f", pair, unrelated)
	// Written so that a NaN (a column that never occurs) fails.
	if !(pair >= 0.4 && pair >= unrelated+0.2) {
		t.Errorf("mean correlation of a hot word and its bigram with its follower %.3f, with another word %.3f", pair, unrelated)
	}
}

// TestSynthTextNearSeparable checks that a label is nearly a function of
// the document: the planted model's accuracy comes near the ceiling that
// the label noise leaves.
func TestSynthTextNearSeparable(t *testing.T) {
	for _, noise := range []float64{0, 0.05} {
		p := textTest
		p.Noise = noise
		_, st := synthText(t, p)
		t.Logf("noise %g: planted model accuracy %.3f", noise, st.Bayes)
		if ceiling := 1 - noise; st.Bayes < ceiling-0.1 || st.Bayes > ceiling {
			t.Errorf("noise %g: planted model accuracy %.3f, want within 0.1 below %g", noise, st.Bayes, ceiling)
		}
	}
}

func TestSynthTextParsesAsSamples(t *testing.T) {
	p := textTest
	p.Samples = 300
	text, st := synthText(t, p)
	var s Sample
	var nz int64
	for i, line := range bytes.SplitAfter(bytes.TrimSuffix(text, []byte("\n")), []byte("\n")) {
		ok, err := ParseLine(&s, "synth", int64(i+1), line)
		if err != nil || !ok {
			t.Fatalf("line %d: ok=%v err=%v", i+1, ok, err)
		}
		nz += int64(len(s.Features))
	}
	if nz != st.Nonzeros {
		t.Errorf("parsed %d nonzeros, stats say %d", nz, st.Nonzeros)
	}
}

func TestSynthTextValidate(t *testing.T) {
	for _, c := range []struct {
		name  string
		p     SynthParams
		field string // "" means valid
	}{
		{"defaults", SynthParams{Kind: SynthText}, ""},
		{"documents longer than the vocabulary", SynthParams{Kind: SynthText, Features: 10, PerSample: 50}, ""},
		{"one topic", SynthParams{Kind: SynthText, Topics: 1}, ""},
		{"negative topics", SynthParams{Kind: SynthText, Topics: -1}, "Topics"},
		{"too many words", SynthParams{Kind: SynthText, Features: maxTextWords + 1}, "Features"},
		{"unknown kind", SynthParams{Kind: 7}, "Kind"},
	} {
		err := c.p.Validate()
		var pe *SynthParamError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.name, err)
		case c.field != "" && (!errors.As(err, &pe) || pe.Field != c.field):
			t.Errorf("%s: error %v, want a *SynthParamError for %s", c.name, err, c.field)
		}
	}
	// Short documents over a tiny vocabulary still keep every line's
	// features distinct and its counts consistent.
	p := SynthParams{Kind: SynthText, Samples: 200, Features: 10, PerSample: 50, Topics: 1}
	text, _ := synthText(t, p)
	parseText(t, text, p.Features)
}

func TestParseSynthKind(t *testing.T) {
	for _, k := range []SynthKind{SynthZipf, SynthText} {
		if got, err := ParseSynthKind(k.String()); err != nil || got != k {
			t.Errorf("ParseSynthKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseSynthKind("bogus"); err == nil {
		t.Error(`ParseSynthKind("bogus") gave no error`)
	}
}
