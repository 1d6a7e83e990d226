package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
	"github.com/stretchr/testify/require"
)

// TestBenchPipelines checks the bench's own pipelines on a tiny data set:
// the prefix pipelines run and see every element, the metered pass
// computes the same pass as Pass, and its counts add up to the index's.
func TestBenchPipelines(t *testing.T) {
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 400, Features: 300, PerSample: 6, Seed: 3})
	for _, runner := range []string{"direct", "prism"} {
		t.Run(runner, func(t *testing.T) {
			ctx := context.Background()
			work := filepath.Join(dir, runner)
			b, err := NewBench(BenchConfig{Inputs: []string{data}, WorkDir: work, Shards: 2, Run: runnerFor(runner),
				Train:    model.TrainParams{Lambda: 1, Bias: true, BlockSize: 64},
				Sharding: transforms.ShardingParams{Threshold: 100}})
			require.NoError(t, err)
			_, err = b.Setup(ctx)
			require.NoError(t, err)
			meta := b.Meta()
			_, _, err = b.Step(ctx)
			require.NoError(t, err)

			st, err := b.Stages(ctx, filepath.Join(work, "stages"), 1)
			require.NoError(t, err)
			require.Len(t, st.Stages, len(BenchStages))
			var packs int64
			for _, f := range b.stateAt[0].Rows {
				packs += f.Records
			}
			require.Positive(t, packs)
			require.LessOrEqual(t, packs, int64(meta.Partitions))
			require.Equal(t, packs, st.Stages[4].Out-1, "UpdateParameters: a row pack per partition and the figures")

			flows, _, err := b.Meter(ctx, filepath.Join(work, "meter"))
			require.NoError(t, err)
			metered, err := readFigures(ctx, filepath.Join(work, "meter"))
			require.NoError(t, err)
			f, _, err := b.Step(ctx)
			require.NoError(t, err)
			require.Equal(t, f.J, metered.J)

			got := map[string]Flow{}
			for _, fl := range flows {
				got[fl.Stage+"/"+fl.What] = fl
				require.Positive(t, fl.Bytes, "%s/%s", fl.Stage, fl.What)
			}
			features := b.index.Records("features")
			require.Equal(t, features, got["DistributeParameters/block features"].Elements)
			require.Equal(t, features, got["RestoreDocuments/weights"].Elements, "one weights element per block features element")
			// The inverted blocks are read from the index by each trip's
			// restore, never shuffled.
			require.NotContains(t, got, "RestoreDocuments/blocks")
			require.NotContains(t, got, FirstTrip+"/blocks")
			require.Equal(t, meta.Blocks, got["LineSearch+ComputeGradients/restored blocks"].Elements)
			require.Equal(t, features, got["ReadIndex/block features"].Elements)
			require.Equal(t, packs, got["ReadIndex/rows"].Elements)
			require.Equal(t, packs, got["DistributeParameters/rows"].Elements)
			require.Equal(t, packs, got["UpdateParameters/rows"].Elements)
			require.Equal(t, packs, got["Write/records"].Elements)
			// Subspace's first trip shuffles what the second does, and the
			// row packs once more to set U.
			require.Equal(t, packs, got[FirstTrip+"/rows"].Elements)
			require.Equal(t, packs, got[FirstTrip+"/rows to LocalNewton"].Elements)
			require.Equal(t, features, got[FirstTrip+"/block features"].Elements)
			require.Equal(t, features, got[FirstTrip+"/weights"].Elements)
			last := 0
			for _, fl := range flows {
				k := slices.Index(MeteredStages, fl.Stage)
				require.GreaterOrEqual(t, k, last, "%s/%s: flows out of MeteredStages order", fl.Stage, fl.What)
				last = k
			}
			// A block sends its gradients to each partition it has features
			// in; hot features' block features were moved to shard partitions.
			require.GreaterOrEqual(t, got["UpdateParameters/gradients"].Elements, meta.Blocks)
			require.LessOrEqual(t, got["UpdateParameters/gradients"].Elements, features)
		})
	}
}

// benchData is the data set of the benchmarks: about 200k nonzeros.
func benchData(b *testing.B) ([]string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	st, err := model.Synthesize(f, model.SynthParams{Samples: 10000, Features: 1_000_000, PerSample: 20, Zipf: 1.1, Seed: 1})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	return []string{path}, st.Nonzeros
}

// BenchmarkPass times one iteration (pass 1, after setup and pass 0) of
// the Pass pipeline on the direct runner and reports nonzeros per second.
func BenchmarkPass(b *testing.B) {
	ctx := context.Background()
	paths, nnz := benchData(b)
	work := filepath.Join(b.TempDir(), "work")
	bench, err := NewBench(BenchConfig{Inputs: paths, WorkDir: work, Run: runnerFor("direct"),
		Train: model.TrainParams{Lambda: 1, Bias: true}, Sharding: transforms.ShardingParams{Threshold: -1}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bench.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	if _, _, err := bench.Step(ctx); err != nil {
		b.Fatal(err)
	}
	pp := bench.Next(filepath.Join(work, "pass-bench"))
	for b.Loop() {
		p, s := beam.NewPipelineWithRoot()
		Pass(s, pp)
		if _, err := runnerFor("direct")(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(nnz)*float64(b.N)/b.Elapsed().Seconds(), "nnz/s")
}

// BenchmarkReferencePass times the reference trainer's pass 1 on the same
// data: the in-memory limit BenchmarkPass compares with.
func BenchmarkReferencePass(b *testing.B) {
	paths, nnz := benchData(b)
	ref, err := LoadReference(paths, model.TrainParams{Lambda: 1, Bias: true})
	if err != nil {
		b.Fatal(err)
	}
	tr := ref.Trainer
	for i := 0; i < b.N; i++ {
		// Every timed pass is pass 1 from the same start.
		b.StopTimer()
		tr, err = model.NewTrainer(tr.Data, tr.Params, nil)
		if err != nil {
			b.Fatal(err)
		}
		tr.Pass()
		b.StartTimer()
		tr.Pass()
	}
	b.ReportMetric(float64(nnz)*float64(b.N)/b.Elapsed().Seconds(), "nnz/s")
}
