package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core"
	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/runners/runnertest"
	"github.com/stretchr/testify/require"
)

// placeholderBucket is the bucket of the placeholder staging location.
const placeholderBucket = "dpmr-placeholder"

// fakeGCS stands in for Cloud Storage, through the Go client's
// STORAGE_EMULATOR_HOST, for the one call a Dataflow dry run still makes:
// reading the staging bucket's metadata to warn about its soft-delete
// policy. With it the dry run reaches nothing but this process, and needs
// no credentials. It returns the paths requested.
func fakeGCS(t *testing.T) func() []string {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.Method == http.MethodGet && r.URL.Path == "/storage/v1/b/"+placeholderBucket {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"kind": "storage#bucket", "name": %q}`, placeholderBucket)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), paths...)
	}
}

// dataflowDryRun sets the flags of
//
//	dpmr train --runner=dataflow --dry_run --project=... --region=...
//	    --staging_location=gs://... --sdk_container_image=apache/beam_go_sdk:VERSION
//	    --worker_binary=...
//
// for the rest of the test, with placeholder values.
func dataflowDryRun(t *testing.T) {
	bin, err := os.Executable()
	require.NoError(t, err)
	restore, err := runnertest.SetFlags(map[string]string{
		"runner":              "dataflow",
		"dry_run":             "true",
		"project":             "dpmr-placeholder-project",
		"region":              "us-central1",
		"staging_location":    "gs://" + placeholderBucket + "/staging",
		"sdk_container_image": "apache/beam_go_sdk:" + core.SdkVersion,
		// Not read by a dry run, which uploads nothing; given as a real
		// submission would give it.
		"worker_binary": bin,
		// Dataflow's workers run in containers; the embedded prism runner
		// sets LOOPBACK once it has run in this process.
		"environment_type":   "",
		"environment_config": "",
	})
	require.NoError(t, err)
	t.Cleanup(restore)
}

// TestDataflowDryRunTranslatesEveryPipeline has the Dataflow runner
// translate every pipeline dpmr runs (training's setup, each pass and the
// export, then prediction) into a Dataflow job, without submitting it. The translation needs
// the pipeline only, but the driver builds each pipeline from the snapshot
// the previous one wrote, so each is then run for real on the direct
// runner.
func TestDataflowDryRunTranslatesEveryPipeline(t *testing.T) {
	requests := fakeGCS(t)
	dataflowDryRun(t)
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 500, Features: 100, PerSample: 6, Seed: 5})

	translated := 0
	run := func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		if _, err := runners.Run(ctx, p); !errors.Is(err, runners.ErrDryRun) {
			return nil, fmt.Errorf("dataflow dry run: %v, want runners.ErrDryRun", err)
		}
		translated++
		return beam.Run(ctx, "direct", p)
	}
	res, err := Train(context.Background(), TrainConfig{
		Inputs: []string{data}, WorkDir: filepath.Join(dir, "work"), Output: filepath.Join(dir, "model"),
		Train:  model.TrainParams{Lambda: 1, Bias: true, BlockSize: 100, Iterations: 2, Tol: -1, GTol: -1, GapTol: -1},
		Shards: 2, Run: run,
	})
	require.NoError(t, err)
	require.Equal(t, 1+len(res.History)+1, translated, "pipelines translated: setup, passes, export")

	_, err = RunPredict(context.Background(), PredictConfig{
		Model: filepath.Join(dir, "model"), Inputs: []string{data},
		Output: filepath.Join(dir, "predictions"), WorkDir: filepath.Join(dir, "predict-work"), Shards: 2, Run: run,
	})
	require.NoError(t, err)
	require.Equal(t, 1+len(res.History)+2, translated, "pipelines translated, prediction's included")

	// Each dry run reads the bucket's metadata twice (staging and temp
	// locations), and nothing else.
	got := requests()
	require.Len(t, got, 2*translated, "requests to Cloud Storage: %v", got)
	for _, r := range got {
		require.Equal(t, "GET /storage/v1/b/"+placeholderBucket, r)
	}
}
