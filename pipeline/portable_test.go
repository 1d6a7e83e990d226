package pipeline

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/runners/runnertest"
	"github.com/dpmr/dpmr/transforms"
	"github.com/stretchr/testify/require"
)

// universalRunner runs each pipeline the way
//
//	dpmr train --runner=universal --endpoint=ENDPOINT --environment_type=LOOPBACK
//
// does: through runners.Run, on the job service at endpoint, with the SDK
// workers in this process. The flags are set for the call only, since
// other tests set the same process-wide flags for their runs.
func universalRunner(endpoint string) Runner {
	return func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		restore, err := runnertest.SetFlags(map[string]string{
			"runner": "universal", "endpoint": endpoint, "environment_type": "LOOPBACK",
		})
		if err != nil {
			return nil, err
		}
		defer restore()
		return runners.Run(ctx, p)
	}
}

// TestPortableJobServerMatchesEmbedded trains and predicts through
// runners.Run and the portable job API, on a prism job server started for
// this test as a separate process, and requires the very model the tests'
// prism runner trains (runnerFor("prism"): the same engine, on the test
// binary's shared loopback server, since the embedded prism runner would
// listen on every interface): the same weights to the bit, the same
// history, and the same predictions, byte for byte.
func TestPortableJobServerMatchesEmbedded(t *testing.T) {
	// Each LOOPBACK job leaves an empty "beamloopbackworker-*" file in the
	// temp dir (the SDK creates it and never removes it); keep them in the
	// test's own.
	t.Setenv("TMPDIR", t.TempDir())
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 2000, Features: 300, PerSample: 8, Seed: 11, Noise: 0.05})
	server := runnertest.JobServer(t)

	cfg := TrainConfig{
		Inputs: []string{data},
		Train:  model.TrainParams{Lambda: 1, Bias: true, BlockSize: 50, Iterations: 4, Tol: -1, GTol: -1, GapTol: -1},
		// A low threshold shards the frequent features, so the hot-feature
		// side input crosses the job API too.
		Sharding: transforms.ShardingParams{Threshold: 150},
		Shards:   3,
	}
	embedded := portableTrain(t, cfg, filepath.Join(dir, "embedded"), runnerFor("prism"))
	require.Empty(t, serverJobs(t, server.Endpoint), "jobs the shared prism runner sent to this test's job server")
	portable := portableTrain(t, cfg, filepath.Join(dir, "portable"), universalRunner(server.Endpoint))
	requireSameModel(t, embedded, portable)
	index, err := ReadManifest(context.Background(), filepath.Join(dir, "portable", "work", "index"))
	require.NoError(t, err)
	require.NotZero(t, index.Records("hot"), "sharded features")

	// Every pipeline of the portable run, and only those, went to the
	// server: the setup, one per pass, the export.
	jobs := serverJobs(t, server.Endpoint)
	require.Len(t, jobs, 1+len(portable.History)+1, "jobs on the job server")
	for _, j := range jobs {
		require.Equal(t, jobpb.JobState_DONE, j.GetState(), "job %s", j.GetJobName())
	}

	// Each model scores the training data on its own runner; the
	// predictions must be the same bytes.
	embeddedPred := portablePredict(t, filepath.Join(dir, "embedded"), data, runnerFor("prism"))
	portablePred := portablePredict(t, filepath.Join(dir, "portable"), data, universalRunner(server.Endpoint))
	require.Equal(t, embeddedPred.Samples, portablePred.Samples)
	require.Equal(t, shardFilesByName(embeddedPred.Files), shardFilesByName(portablePred.Files), "predictions files")
	require.Len(t, serverJobs(t, server.Endpoint), len(jobs)+1, "jobs on the job server after prediction")
}

// portablePredict scores data with the model portableTrain wrote in dir,
// running run, into dir/predictions (work dir dir/work).
func portablePredict(t *testing.T, dir, data string, run Runner) *PredictionsInfo {
	t.Helper()
	t0 := time.Now()
	info, err := RunPredict(context.Background(), PredictConfig{
		Model: filepath.Join(dir, "model"), Inputs: []string{data},
		Output: filepath.Join(dir, "predictions"), WorkDir: filepath.Join(dir, "work"), Shards: 2, Run: run,
	})
	require.NoError(t, err)
	t.Logf("%s: %d predictions in %.1fs", dir, info.Samples, time.Since(t0).Seconds())
	return info
}

// shardFilesByName keys files by base name, their directory left out.
func shardFilesByName(files []ShardFile) map[string]ShardFile {
	m := map[string]ShardFile{}
	for _, f := range files {
		base := filepath.Base(f.Path)
		f.Path = ""
		m[base] = f
	}
	return m
}

// serverJobs lists the jobs the job service at endpoint has run.
func serverJobs(t *testing.T, endpoint string) []*jobpb.JobInfo {
	t.Helper()
	ctx := context.Background()
	cc, err := grpcx.Dial(ctx, endpoint, 10*time.Second)
	require.NoError(t, err)
	defer cc.Close()
	resp, err := jobpb.NewJobServiceClient(cc).GetJobs(ctx, &jobpb.GetJobsRequest{})
	require.NoError(t, err)
	return resp.GetJobInfo()
}

// portableTrain trains cfg with run into dir/model (work dir dir/work).
func portableTrain(t *testing.T, cfg TrainConfig, dir string, run Runner) *TrainResult {
	t.Helper()
	cfg.WorkDir, cfg.Output, cfg.Run = filepath.Join(dir, "work"), filepath.Join(dir, "model"), run
	t0 := time.Now()
	res, err := Train(context.Background(), cfg)
	require.NoError(t, err)
	t.Logf("%s: %d iterations in %.1fs", dir, res.Model.Iterations, time.Since(t0).Seconds())
	return res
}

// requireSameModel requires two trainings to agree exactly: every figure
// of every pass (timings aside), the stop reason, every weight to the bit,
// and the weights files byte for byte (by size and CRC-32C).
func requireSameModel(t *testing.T, want, got *TrainResult) {
	t.Helper()
	require.Equal(t, len(want.History), len(got.History), "passes")
	for i := range want.History {
		w, g := want.History[i], got.History[i]
		w.Seconds, g.Seconds = 0, 0
		require.Equal(t, w, g, "figures of pass %d", i)
	}
	require.Equal(t, want.Model.StopReason, got.Model.StopReason)
	require.Equal(t, want.Index, got.Index)

	ww, gw := readModelWeights(t, want.Model), readModelWeights(t, got.Model)
	require.Equal(t, len(ww), len(gw), "features")
	for name, w := range ww {
		g, ok := gw[name]
		require.True(t, ok, "feature %q missing", name)
		require.Equal(t, math.Float64bits(w), math.Float64bits(g), "feature %q: %v, %v", name, w, g)
	}
	require.Equal(t, shardFilesByName(want.Model.Files), shardFilesByName(got.Model.Files), "weights files")
}
