package model

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// SynthText documents. The SynthZipf set is well conditioned: its features
// are independent and its labels far from separable, so optimizers reach
// the optimum in a few dozen passes. Real text (testdata/real) is not, and
// SynthText reproduces what makes it hard:
//
//   - a long-tailed vocabulary: word j of Features ("w<j>") is drawn with
//     probability proportional to (j+1)^-Zipf;
//   - documents of variable length: 1 + Poisson((PerSample-1) * m) tokens,
//     m log-normal with mean 1, so PerSample is the mean length;
//   - words that co-occur (correlated columns): each document has one of
//     Topics topics, and part of its tokens come from the topic's own Zipf
//     list of words, which are rare in the background law;
//   - n-gram redundancy: most tokens are one of the few usual followers of
//     the token before, and every two consecutive tokens also make a bigram
//     feature "w<a>_w<b>", so bigram columns recur and follow their words';
//   - counts as values (hot words repeat);
//   - labels that are near-separable for a weak lambda: the planted score
//     is a large multiple of the topic's lean plus the mean over the tokens
//     of a sparse weight vector on the non-stop words, so a label is nearly
//     a function of the words; then it is flipped with probability Noise.
//
// The constants were tuned so that the default lbfgs needs about as many
// passes to LIBLINEAR's optimum as on the real sets (README, "dpmr gen").

// Defaults of SynthParams for SynthText, applied to zero fields: a
// vocabulary and document length of the State of the Union set's order.
const (
	DefaultTextWords  = 20000
	DefaultTextTokens = 150
	DefaultTextZipf   = 1.0
	DefaultTextTopics = 64
)

// maxTextWords lets a bigram's two word numbers share one uint64 key.
const maxTextWords = 1 << 31

// The shape of SynthText documents; see the list above.
const (
	// textTopicShare is the probability that a token not drawn as a
	// follower comes from the document's topic rather than the background
	// law.
	textTopicShare = 0.3
	// textFollow is the probability that a token is one of the
	// textFollowers usual followers of the token before it, as words have
	// in a language: their bigrams recur, and a bigram's column is close
	// to a share of its first word's.
	textFollow    = 0.6
	textFollowers = 3
	// textLengthSigma is the log-normal spread of document lengths.
	textLengthSigma = 0.6
	// textStopWords are the hottest words, which carry no label signal.
	textStopWords = 100
	// textSignal is the fraction of other words with a planted weight.
	textSignal = 0.2
	// textLean weighs the topic's lean against the words' mean weight.
	textLean = 1.0
	// textSharpness scales the planted score: large makes labels nearly a
	// function of the document.
	textSharpness = 8.0
)

// textBytesPerToken is about the text a token adds to a line (a unigram
// and a bigram, part of them repeats), for sizing chunks.
const textBytesPerToken = 20

// withTextDefaults fills the zero fields that SynthText defaults apart
// from SynthZipf.
func (p SynthParams) withTextDefaults() SynthParams {
	if p.Features == 0 {
		p.Features = DefaultTextWords
	}
	if p.PerSample == 0 {
		p.PerSample = DefaultTextTokens
	}
	if p.Zipf == 0 {
		p.Zipf = DefaultTextZipf
	}
	if p.Topics == 0 {
		p.Topics = DefaultTextTopics
	}
	return p
}

// Salts of the hashes that fix a data set's topics and weights.
const (
	textSaltTopicWord = 0x70_91c_3
	textSaltLean      = 0x1ea4
	textSaltSignal    = 0x5194a1
	textSaltFollower  = 0xf0110
)

// unigramKey marks a key holding one word; a bigram's key holds both.
const unigramKey = math.MaxUint32

// textScratch is one goroutine's state for drawing documents.
type textScratch struct {
	tokens []uint32
	// keys are the document's distinct features in order of first
	// appearance, a<<32|b for bigram (a, b) and a<<32|unigramKey for word
	// a; counts[k] is how often keys[k] occurs.
	keys   []uint64
	counts []uint32
	// table holds k+1 for keys[k] in open addressing (0 = empty).
	table []int32
}

// topicWord is the word at rank r of topic t's list: a hash, so topics
// need no tables and their hot words are rare in the background law.
func topicWord(seed uint64, t, r, words int64) uint32 {
	h := splitmix64(splitmix64(seed^textSaltTopicWord+uint64(t)*0x9e3779b97f4a7c15) + uint64(r)*0xbf58476d1ce4e5b9)
	return uint32(h % uint64(words))
}

// topicLean is topic t's contribution to the planted score, in [-1, 1).
func topicLean(seed uint64, t int64) float64 {
	return 2*synthUnit(splitmix64(seed^textSaltLean+uint64(t)*0x9e3779b97f4a7c15)) - 1
}

// textWeight returns the planted weight of word w<j> in every SynthText
// set made with seed: 0 for the textStopWords hottest words and for most
// others, else PlantedWeight(seed, j).
func textWeight(seed uint64, j int64) float64 {
	if j < textStopWords || synthUnit(splitmix64(seed^textSaltSignal+uint64(j)*0x9e3779b97f4a7c15)) >= textSignal {
		return 0
	}
	return PlantedWeight(seed, j)
}

// textNormal draws a standard normal by Box-Muller (one of the pair).
func textNormal(rng *rand.PCG) float64 {
	u := 1 - synthUnit(rng.Uint64()) // in (0, 1]: the log is finite
	v := synthUnit(rng.Uint64())
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// drawText fills g.text with one document, from g.rng as seeded by draw,
// and returns its planted score without the intercept.
func (g *synthScratch) drawText(s *Synth) float64 {
	p := &s.p
	seed := p.Seed
	x := &g.text
	topic := int64(synthUnit(g.rng.Uint64()) * float64(p.Topics))
	m := math.Exp(textLengthSigma*textNormal(&g.rng) - textLengthSigma*textLengthSigma/2)
	// The cap only bounds memory: m > 8 is rarer than 1 in 10,000.
	n := 1 + min(synthPoisson(&g.rng, s.lambda*m), int64(8*p.PerSample))

	x.tokens = x.tokens[:0]
	for int64(len(x.tokens)) < n {
		if k := len(x.tokens); k > 0 && synthUnit(g.rng.Uint64()) < textFollow {
			c := g.rng.Uint64() % textFollowers
			x.tokens = append(x.tokens, s.follower(x.tokens[k-1], c))
			continue
		}
		if synthUnit(g.rng.Uint64()) >= textTopicShare {
			x.tokens = append(x.tokens, uint32(s.zipf.draw(&g.rng)))
			continue
		}
		x.tokens = append(x.tokens, topicWord(seed, topic, s.zipf.draw(&g.rng), p.Features))
	}

	// A document has at most 2n-1 distinct features: a table of 4n
	// stays at most half full.
	size := 32
	for size < 4*len(x.tokens) {
		size *= 2
	}
	if len(x.table) < size {
		x.table = make([]int32, size)
	}
	clear(x.table[:size])
	x.keys, x.counts = x.keys[:0], x.counts[:0]
	sum := 0.0
	for k, w := range x.tokens {
		x.count(uint64(w)<<32|unigramKey, size)
		if k > 0 {
			x.count(uint64(x.tokens[k-1])<<32|uint64(w), size)
		}
		sum += textWeight(seed, int64(w))
	}
	return textSharpness * (textLean*topicLean(seed, topic) + sum/math.Sqrt(float64(n)))
}

// count adds one occurrence of key, in a table of size slots.
func (x *textScratch) count(key uint64, size int) {
	mask := uint64(size - 1)
	h := (key * 0x9e3779b97f4a7c15) >> 32 & mask
	for x.table[h] != 0 {
		if k := x.table[h] - 1; x.keys[k] == key {
			x.counts[k]++
			return
		}
		h = (h + 1) & mask
	}
	x.keys = append(x.keys, key)
	x.counts = append(x.counts, 1)
	x.table[h] = int32(len(x.keys))
}

// follower is the c-th usual follower of word w: a word drawn from the
// background law by a generator seeded from (seed, w, c), so every data set
// of a seed has the same bigrams.
func (s *Synth) follower(w uint32, c uint64) uint32 {
	var rng rand.PCG
	rng.Seed(splitmix64(s.p.Seed^textSaltFollower+uint64(w)), splitmix64(uint64(w)<<8|c))
	return uint32(s.zipf.draw(&rng))
}

// appendText appends the document's features, " w<a>:<count>" and
// " w<a>_w<b>:<count>", in order of first appearance.
func (g *synthScratch) appendText(dst []byte) []byte {
	x := &g.text
	for k, key := range x.keys {
		dst = append(dst, ' ', 'w')
		dst = strconv.AppendUint(dst, key>>32, 10)
		if b := key & math.MaxUint32; b != unigramKey {
			dst = append(dst, '_', 'w')
			dst = strconv.AppendUint(dst, b, 10)
		}
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(x.counts[k]), 10)
	}
	return dst
}
