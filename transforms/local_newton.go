package transforms

import (
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/model"
)

func init() {
	register.DoFn2x1[SufficientBlock, func(int32, GradPack), error](&newtonSharesFn{})
	register.DoFn4x1[int32, func(*RowPack) bool, func(*GradPack) bool, func(int32, RowPack), error](&setLocalNewtonFn{})
}

// NewtonParams configure LocalNewton.
type NewtonParams struct {
	Lambda float64
	Bias   bool // the intercept's row is not regularized
}

// LocalNewton is subspace's first stage: every sufficient block computes
// its shares of the local-Newton direction at the rows' W, whose margins it
// kept from the pass before (model.Block.NewtonShares), packed per partition as gradient partials
// are; a CoGroupByKey on partition with the rows adds a feature's shares
// exactly and sets its row's U (model.SetLocalNewton). U is then a
// direction at the point the pass searches from, not one pass late, which
// is worth a fifth of the passes for the second trip to the blocks.
// Expects rows PCollection<KV<int32, RowPack>> and PCollection<
// SufficientBlock> from Distribute with NewtonRows, with the margins the
// blocks kept; returns the rows with U,
// PCollection<KV<int32, RowPack>>.
func LocalNewton(s beam.Scope, rows, blocks beam.PCollection, p NewtonParams) beam.PCollection {
	s = s.Scope("dpmr.LocalNewton")
	shares := beam.ParDo(s, &newtonSharesFn{Params: p}, blocks)
	return beam.ParDo(s, &setLocalNewtonFn{Params: p}, beam.CoGroupByKey(s, rows, shares))
}

type newtonSharesFn struct {
	Params NewtonParams
}

func (f *newtonSharesFn) ProcessElement(b SufficientBlock, emit func(int32, GradPack)) error {
	if len(b.Kept.ZW) != len(b.Labels) {
		return fmt.Errorf("dpmr: block %d kept no margins from the pass before (snapshot out of step)", b.Block)
	}
	lam := make([]float64, b.Columns())
	for i := range lam {
		lam[i] = f.Params.Lambda
	}
	if c := b.InterceptColumn(); c >= 0 {
		lam[c] = model.RowStrength(f.Params.Lambda, f.Params.Bias, model.BiasName)
	}
	shares := b.Matrix().NewtonShares(b.Kept.ZW, b.ParamRows, lam)
	emitPacks(b.IDs, 1, GradPack{Newton: shares}, emit)
	return nil
}

type setLocalNewtonFn struct {
	Params NewtonParams
}

func (f *setLocalNewtonFn) ProcessElement(part int32, rows func(*RowPack) bool, shares func(*GradPack) bool, emit func(int32, RowPack)) error {
	sums, err := sumPartials(part, rows, shares)
	if err != nil {
		return err
	}
	out := RowPack{Names: sums.pack.Names, Rows: make([]model.Row, len(sums.pack.Rows))}
	for i, name := range out.Names {
		out.Rows[i] = model.SetLocalNewton(sums.pack.Rows[i], sums.newton.at(i), model.RowStrength(f.Params.Lambda, f.Params.Bias, name))
	}
	emit(part, out)
	return nil
}
