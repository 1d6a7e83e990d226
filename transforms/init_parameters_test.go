package transforms

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

// initFreq are InvertDocuments' frequencies of TestInvertDocuments' data,
// the intercept's last.
var initFreq = []freqRec{
	{Name: "a", Postings: 3, SumSq: 5.25},
	{Name: "b", Postings: 3, SumSq: 5.25},
	{Name: "c", Postings: 2, SumSq: 10},
	{Name: model.BiasName, Postings: 6, SumSq: 6},
}

func TestInitParameters(t *testing.T) {
	const lambda = 0.5
	// Warm weights: a has one; z is in no sample of the data; so is the
	// intercept when bias is off (a model trained with it).
	warm := []weightRec{{Name: "a", W: 0.5}, {Name: "z", W: -2}, {Name: model.BiasName, W: 1.5}}
	// H = 0.25*sumSq + lambda, without lambda for the intercept when bias
	// is on:
	//   a, b: 0.25*5.25 + 0.5 = 1.8125
	//   c:    0.25*10   + 0.5 = 3
	//   intercept: 0.25*6 = 1.5 (bias on); without bias, no postings:
	//              0 + 0.5 = 0.5, an ordinary regularized row
	//   z: no postings, 0 + 0.5 = 0.5
	const hAB, hC, hBias, hNoPostings = 1.8125, 3, 1.5, 0.5
	for _, c := range []struct {
		sumSq  float64
		isBias bool
		want   float64
	}{{5.25, false, hAB}, {10, false, hC}, {6, true, hBias}, {0, false, hNoPostings}} {
		if got := model.InitialCurvature(c.sumSq, lambda, c.isBias); got != c.want {
			t.Fatalf("hand arithmetic disagrees with model.InitialCurvature(%v, %v, %v) = %v, want %v", c.sumSq, lambda, c.isBias, got, c.want)
		}
	}
	cases := []struct {
		name string
		freq []freqRec
		warm []weightRec
		bias bool
		want []rowRec
	}{
		{
			name: "cold", freq: initFreq, bias: true,
			want: []rowRec{
				{Name: "a", H: hAB}, {Name: "b", H: hAB}, {Name: "c", H: hC}, {Name: model.BiasName, H: hBias},
			},
		},
		{
			name: "warm", freq: initFreq, warm: warm, bias: true,
			want: []rowRec{
				{Name: "a", W: 0.5, H: hAB}, {Name: "b", H: hAB}, {Name: "c", H: hC}, {Name: model.BiasName, W: 1.5, H: hBias},
				{Name: "z", W: -2, H: hNoPostings}, // only in warm: keeps its row
			},
		},
		{
			// Without bias the index has no intercept postings; the warm
			// intercept keeps its row like any feature found only in warm.
			name: "warm/no-bias", freq: initFreq[:3], warm: warm, bias: false,
			want: []rowRec{
				{Name: "a", W: 0.5, H: hAB}, {Name: "b", H: hAB}, {Name: "c", H: hC},
				{Name: "z", W: -2, H: hNoPostings}, {Name: model.BiasName, W: 1.5, H: hNoPostings},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onRunners(t, bothRunners, func(s beam.Scope) {
				w := ColdStart(s)
				if tc.warm != nil {
					w = keyed(s, fromWeightRec, tc.warm)
				}
				rows := InitParameters(s, keyed(s, fromFreqRec, tc.freq), w, lambda, tc.bias)
				passert.EqualsList(s, beam.ParDo(s, toRowRec, rows), tc.want)
			})
		})
	}
}

// TestInitParametersWarmStart starts from the rows of an earlier run: only
// their weights carry over; the gradient, step and history are dropped and
// H is recomputed. With lambda 0, a feature with no postings gets H = 1
// (0.25*0 + 0 would be 0, and InitialCurvature never returns 0).
func TestInitParametersWarmStart(t *testing.T) {
	old := []rowRec{
		{Name: "a", W: 0.75, G: 9, D: 9, H: 9, S: []float64{1}, Y: []float64{2}},
		{Name: "gone", W: 4, G: 1, D: 1, H: 1},
	}
	freq := []freqRec{{Name: "a", Postings: 2, SumSq: 8}, {Name: "new", Postings: 1, SumSq: 4}}
	want := []rowRec{
		{Name: "a", W: 0.75, H: 2}, // 0.25*8
		{Name: "new", H: 1},        // 0.25*4
		{Name: "gone", W: 4, H: 1}, // no postings, lambda 0: H = 1
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		weights := WarmStart(s, keyed(s, fromRowRec, old))
		passert.EqualsList(s, beam.ParDo(s, toWeightRec, weights), []weightRec{{Name: "a", W: 0.75}, {Name: "gone", W: 4}})
		rows := InitParameters(s, keyed(s, fromFreqRec, freq), weights, 0, false)
		passert.EqualsList(s, beam.ParDo(s, toRowRec, rows), want)
	})
}
