package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"github.com/dpmr/dpmr/pipeline"
	"github.com/dpmr/dpmr/runners/runnertest"
	"github.com/stretchr/testify/require"
)

// bootPackage is Beam's Go boot program: what a PROCESS (or container)
// environment runs, which fetches the staged worker binary and runs it.
const bootPackage = "github.com/apache/beam/sdks/v2/go/container"

// TestProcessWorkersMatchEmbedded takes the README's steps for Flink's and
// Spark's PROCESS environment, on a prism job server: it builds dpmr and
// Beam's boot program, and runs
//
//	dpmr train --runner=universal --endpoint=E --environment_type=PROCESS \
//	    --environment_config='{"command":"BOOT"}' --worker_binary=DPMR ...
//
// so that the driver, the job server and every job's worker are processes
// of their own, the worker being the staged dpmr binary. The model must be
// the default (embedded) run's, bit for bit, and the workers must leave no
// copy of the binary behind.
func TestProcessWorkersMatchEmbedded(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("building dpmr and Beam's boot program needs the go command: %v", err)
	}
	dir := t.TempDir()
	bin, boot := filepath.Join(dir, "dpmr"), filepath.Join(dir, "boot")
	for _, b := range [][]string{{"-o", bin, "."}, {"-o", boot, bootPackage}} {
		t0 := time.Now()
		out, err := exec.Command(gocmd, append([]string{"build"}, b...)...).CombinedOutput()
		require.NoError(t, err, "go build %s: %s", b[2], out)
		t.Logf("built %s in %.1fs", b[2], time.Since(t0).Seconds())
	}
	server := runnertest.JobServer(t)
	bootCopies := func() map[string]bool {
		m := map[string]bool{}
		found, _ := filepath.Glob("/tmp/bin*/worker")
		for _, f := range found {
			m[f] = true
		}
		return m
	}
	before := bootCopies()

	data, err := filepath.Abs("../../testdata/synth/train.txt")
	require.NoError(t, err)
	train := func(name string, runnerFlags ...string) *pipeline.ModelInfo {
		out := filepath.Join(dir, name)
		args := append([]string{"train", "--input", data, "--output", out, "--iterations", "2",
			"--tol", "-1", "--gtol", "-1", "--gap", "-1", "--block-size", "1000", "--shards", "3"}, runnerFlags...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
		t0 := time.Now()
		log, err := cmd.CombinedOutput()
		require.NoError(t, err, "dpmr %s:\n%s", strings.Join(args, " "), log)
		t.Logf("%s: trained in %.1fs", name, time.Since(t0).Seconds())
		info, err := pipeline.ReadModel(context.Background(), out)
		require.NoError(t, err)
		return info
	}
	embedded := train("embedded")
	config, err := json.Marshal(map[string]string{"command": boot})
	require.NoError(t, err)
	process := train("process", "--runner=universal", "--endpoint="+server.Endpoint,
		"--environment_type=PROCESS", "--environment_config="+string(config), "--worker_binary="+bin)

	require.Equal(t, len(embedded.History), len(process.History), "passes")
	for i, w := range embedded.History {
		g := process.History[i]
		require.Equal(t, w.J, g.J, "J of pass %d", i)
		require.Equal(t, w.GradNorm, g.GradNorm, "|g| of pass %d", i)
	}
	require.Equal(t, len(embedded.Files), len(process.Files))
	for i, f := range embedded.Files {
		a, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		b, err := os.ReadFile(process.Files[i].Path)
		require.NoError(t, err)
		require.True(t, bytes.Equal(a, b), "%s differs", filepath.Base(f.Path))
	}

	// Every job (setup, passes, export) ran on the server, each in a
	// worker that boot started: boot prints its provision info to the
	// server's output before it hands its log to the job.
	cc, err := grpcx.Dial(context.Background(), server.Endpoint, 10*time.Second)
	require.NoError(t, err)
	defer cc.Close()
	jobs, err := jobpb.NewJobServiceClient(cc).GetJobs(context.Background(), &jobpb.GetJobsRequest{})
	require.NoError(t, err)
	require.Len(t, jobs.GetJobInfo(), 1+len(process.History)+1)
	for _, j := range jobs.GetJobInfo() {
		require.Equal(t, jobpb.JobState_DONE, j.GetState(), "job %s", j.GetJobName())
	}
	serverLog, err := os.ReadFile(server.Log)
	require.NoError(t, err)
	require.Equal(t, len(jobs.GetJobInfo()), strings.Count(string(serverLog), "Provision info:"), "workers boot started")

	// Boot writes pipeline_options.json in its working directory, the
	// server's: not in this package's source.
	_, err = os.Stat("pipeline_options.json")
	require.True(t, os.IsNotExist(err), "boot wrote pipeline_options.json here: %v", err)
	for f := range bootCopies() {
		require.True(t, before[f], "%s: a worker binary boot copied and the worker left", f)
	}
}
