package transforms

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/dpmr/dpmr/model"
)

// initParts partitions the features of these tests: "" and c in 0, z in
// 1, a and b in 2.
const initParts = 3

var initPartitions = map[FeatureKey]int32{
	{Name: model.BiasName}: 0, {Name: "c"}: 0, {Name: "z"}: 1, {Name: "a"}: 2, {Name: "b"}: 2,
}

// initFreq are frequencies of features a, b, c and the intercept.
var initFreq = []featureFreq{
	{Name: "a", Postings: 3, SumSq: 5.25},
	{Name: "b", Postings: 3, SumSq: 5.25},
	{Name: "c", Postings: 2, SumSq: 10},
	{Name: model.BiasName, Postings: 6, SumSq: 6},
}

func TestInitParameters(t *testing.T) {
	requirePartitions(t, initParts, initPartitions)
	// Every feature of the frequencies gets a row: weight 0, or its warm
	// weight. Warm weights: a has one; z is in no sample of the data (and
	// alone in its partition, which has no frequencies); so is the
	// intercept when the data has no intercept postings (a model trained
	// with it, training without). H and the rest start at 0: pass 0
	// measures the curvature.
	warm := []weightRec{{Name: "a", W: 0.5}, {Name: "z", W: -2}, {Name: model.BiasName, W: 1.5}}
	cases := []struct {
		name string
		freq []featureFreq
		warm []weightRec
		want []rowPackRec
	}{
		{
			name: "cold", freq: initFreq,
			want: []rowPackRec{
				{Part: 0, Names: []string{model.BiasName, "c"}, Rows: []model.Row{{}, {}}},
				{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{{}, {}}},
			},
		},
		{
			name: "warm", freq: initFreq, warm: warm,
			want: []rowPackRec{
				{Part: 0, Names: []string{model.BiasName, "c"}, Rows: []model.Row{{W: 1.5}, {}}},
				{Part: 1, Names: []string{"z"}, Rows: []model.Row{{W: -2}}}, // only in warm: keeps its row
				{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{{W: 0.5}, {}}},
			},
		},
		{
			// Without bias the index has no intercept postings; the warm
			// intercept keeps its row like any feature found only in warm.
			name: "warm/no-bias", freq: initFreq[:3], warm: warm,
			want: []rowPackRec{
				{Part: 0, Names: []string{model.BiasName, "c"}, Rows: []model.Row{{W: 1.5}, {}}},
				{Part: 1, Names: []string{"z"}, Rows: []model.Row{{W: -2}}},
				{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{{W: 0.5}, {}}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onRunners(t, bothRunners, func(s beam.Scope) {
				w := ColdStart(s)
				if tc.warm != nil {
					w = PackWeights(s, keyed(s, fromWeightRec, tc.warm), initParts)
				}
				rows := InitParameters(s, keyed(s, fromFreqRec, freqPacks(initParts, tc.freq...)), w)
				passert.EqualsList(s, beam.ParDo(s, toRowPackRec, rows), tc.want)
			})
		})
	}
}

// TestInitParametersWarmStart starts from the rows of an earlier run: only
// their weights carry over; the gradient, step, curvature and history are
// dropped.
func TestInitParametersWarmStart(t *testing.T) {
	const parts = 2
	requirePartitions(t, parts, map[FeatureKey]int32{{Name: "a"}: 0, {Name: "gone"}: 0, {Name: "new"}: 0, {Name: "b"}: 1})
	old := []rowPackRec{
		{Part: 0, Names: []string{"a", "gone"}, Rows: []model.Row{
			{W: 0.75, G: 9, D: 9, H: 9, S: []float64{1}, Y: []float64{2}},
			{W: 4, G: 1, D: 1, H: 1},
		}},
		{Part: 1, Names: []string{"b"}, Rows: []model.Row{{W: -1, G: 2, D: 3, H: 4, S: []float64{5}, Y: []float64{6}}}},
	}
	wantWeights := []rowPackRec{
		{Part: 0, Names: []string{"a", "gone"}, Rows: []model.Row{{W: 0.75}, {W: 4}}},
		{Part: 1, Names: []string{"b"}, Rows: []model.Row{{W: -1}}},
	}
	freq := freqPacks(parts, featureFreq{Name: "a", Postings: 2, SumSq: 8}, featureFreq{Name: "new", Postings: 1, SumSq: 4},
		featureFreq{Name: "b", Postings: 3, SumSq: 12})
	want := []rowPackRec{
		{Part: 0, Names: []string{"a", "gone", "new"}, Rows: []model.Row{{W: 0.75}, {W: 4}, {}}},
		{Part: 1, Names: []string{"b"}, Rows: []model.Row{{W: -1}}},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		weights := WarmStart(s, keyed(s, fromRowPackRec, old))
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, weights), wantWeights)
		rows := InitParameters(s, keyed(s, fromFreqRec, freq), weights)
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, rows), want)
	})
}

// TestPackWeights gathers a model's weights into partitions, names
// ascending, and ColdStart is empty.
func TestPackWeights(t *testing.T) {
	requirePartitions(t, initParts, initPartitions)
	weights := []weightRec{{Name: "z", W: 1}, {Name: "b", W: -0.5}, {Name: "c", W: 2}, {Name: "a", W: 0.25}, {Name: model.BiasName, W: 3}}
	want := []rowPackRec{
		{Part: 0, Names: []string{model.BiasName, "c"}, Rows: []model.Row{{W: 3}, {W: 2}}},
		{Part: 1, Names: []string{"z"}, Rows: []model.Row{{W: 1}}},
		{Part: 2, Names: []string{"a", "b"}, Rows: []model.Row{{W: 0.25}, {W: -0.5}}},
	}
	onRunners(t, bothRunners, func(s beam.Scope) {
		packs := PackWeights(s, keyed(s, fromWeightRec, weights), initParts)
		passert.EqualsList(s, beam.ParDo(s, toRowPackRec, packs), want)
		passert.Empty(s, ColdStart(s))
	})
}

func TestInitParametersErrors(t *testing.T) {
	requirePartitions(t, initParts, initPartitions)
	t.Run("frequencies-twice", func(t *testing.T) {
		// Two frequency packs of partition 2 both list a (the index is
		// corrupt: InvertDocuments emits one pack per partition).
		freq := []freqRec{
			{Part: 2, Names: []string{"a", "b"}, Postings: []int64{1, 1}, SumSq: []float64{1, 1}},
			{Part: 2, Names: []string{"a"}, Postings: []int64{2}, SumSq: []float64{4}},
		}
		failsOnRunners(t, bothRunners, `partition 2 lists feature "a" twice in its frequencies`, func(s beam.Scope) {
			InitParameters(s, keyed(s, fromFreqRec, freq), ColdStart(s))
		})
	})
	t.Run("starting-weight-twice", func(t *testing.T) {
		// Two starting packs of partition 2 both weigh a (PackWeights
		// emits one pack per partition).
		warm := []rowPackRec{
			{Part: 2, Names: []string{"b"}, Rows: []model.Row{{W: 1}}},
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 2}}},
			{Part: 2, Names: []string{"a"}, Rows: []model.Row{{W: 3}}},
		}
		freq := []freqRec{{Part: 2, Names: []string{"a"}, Postings: []int64{1}, SumSq: []float64{1}}}
		failsOnRunners(t, bothRunners, `partition 2 has two starting weights for feature "a"`, func(s beam.Scope) {
			InitParameters(s, keyed(s, fromFreqRec, freq), keyed(s, fromRowPackRec, warm))
		})
	})
	t.Run("weight-twice", func(t *testing.T) {
		weights := []weightRec{{Name: "a", W: 1}, {Name: "b", W: 2}, {Name: "a", W: 1}}
		failsOnRunners(t, bothRunners, `feature "a" has two weights`, func(s beam.Scope) {
			PackWeights(s, keyed(s, fromWeightRec, weights), initParts)
		})
	})
}
