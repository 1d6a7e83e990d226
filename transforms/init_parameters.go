package transforms

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn4x0[string, func(*FeatureFreq) bool, func(*float64) bool, func(string, model.Row)](&initRowFn{})
	register.Iter1[FeatureFreq]()
	register.Iter1[float64]()
	register.Emitter2[string, model.Row]()
	register.Function2x2[string, model.Row, string, float64](rowWeight)
	register.Function2x0[int64, func(string, float64)](noWeights)
	register.Emitter2[string, float64]()
}

// WarmStart takes the weights of existing parameter rows as the starting
// point of InitParameters. Expects PCollection<KV<string, model.Row>>;
// returns PCollection<KV<string, float64>>.
func WarmStart(s beam.Scope, rows beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("dpmr.WarmStart"), rowWeight, rows)
}

// ColdStart is the empty PCollection<KV<string, float64>> of weights for a
// start from zero.
func ColdStart(s beam.Scope) beam.PCollection {
	s = s.Scope("dpmr.ColdStart")
	return beam.ParDo(s, noWeights, beam.CreateList(s, []int64{}))
}

func rowWeight(name string, r model.Row) (string, float64) { return name, r.W }

func noWeights(int64, func(string, float64)) {}

// InitParameters gives every feature of the training data a parameter row:
// weight 0, or its value in warm when warm has one, and its curvature
// estimate (model.InitialCurvature). A feature found only in warm keeps
// its row too, so a warm start loses nothing. Expects freq
// PCollection<KV<string, FeatureFreq>> (InvertDocuments' frequencies) and warm
// PCollection<KV<string, float64>> (may be empty); returns
// PCollection<KV<string, model.Row>>.
func InitParameters(s beam.Scope, freq, warm beam.PCollection, lambda float64, bias bool) beam.PCollection {
	s = s.Scope("dpmr.InitParameters")
	return beam.ParDo(s, &initRowFn{Lambda: lambda, Bias: bias}, beam.CoGroupByKey(s, freq, warm))
}

type initRowFn struct {
	Lambda float64
	Bias   bool
}

func (f *initRowFn) ProcessElement(name string, freq func(*FeatureFreq) bool, warm func(*float64) bool, emit func(string, model.Row)) {
	var row model.Row
	var ff, sum FeatureFreq
	for freq(&ff) {
		sum.SumSq += ff.SumSq
	}
	var w float64
	for warm(&w) {
		row.W = w
	}
	row.H = model.InitialCurvature(sum.SumSq, f.Lambda, f.Bias && name == model.BiasName)
	emit(name, row)
}
