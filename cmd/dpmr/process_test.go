package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
// copy of the binary behind. Then a third run's pass-2 worker process is
// killed with SIGKILL as soon as it starts: the pass must be rerun after
// --pass-timeout into the same model, the rerun counted in model.json.
func TestProcessWorkersMatchEmbedded(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("building dpmr and Beam's boot program needs the go command: %v", err)
	}
	dir := t.TempDir()
	bin, boot := dpmrBinary(t), filepath.Join(dir, "boot")
	t0 := time.Now()
	out, err := exec.Command(gocmd, "build", "-o", boot, bootPackage).CombinedOutput()
	require.NoError(t, err, "go build %s: %s", bootPackage, out)
	t.Logf("built %s in %.1fs", bootPackage, time.Since(t0).Seconds())
	server := runnertest.JobServer(t)
	// Workers outlive their job: boot exits and leaves them, idle, to
	// init. Stop those of this server's jobs when the test ends.
	t.Cleanup(func() {
		for pid := range endpointWorkers(server.Endpoint) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
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
	requireSameFiles(t, embedded.Files, process.Files)

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

	// A worker killed with SIGKILL in the middle of pass 2. Prism then
	// waits for it forever, so --pass-timeout fails the job, and the
	// driver reruns the pass from its snapshot into the same model.
	// The killed worker cannot remove the copy of dpmr boot made for it
	// (/tmp/binNNN/worker, 300 MB): remove what this run leaves.
	t.Cleanup(func() {
		for f := range bootCopies() {
			if !before[f] {
				os.RemoveAll(filepath.Dir(f))
			}
		}
	})
	killed := filepath.Join(dir, "killed")
	cmd := exec.Command(bin, "train", "--input", data, "--output", killed, "--iterations", "2",
		"--tol", "-1", "--gtol", "-1", "--gap", "-1", "--block-size", "1000", "--shards", "3",
		"--runner=universal", "--endpoint="+server.Endpoint, "--environment_type=PROCESS", "--environment_config="+string(config),
		"--worker_binary="+bin, "--retries", "2", "--pass-timeout", "30s")
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	victim := killWorkerOfPass(t, killed+".work", 2, server.Binary)
	require.NoError(t, cmd.Wait(), "%s", log.String())
	t.Logf("killed worker %d in pass 2; the driver said:\n%s", victim, log.String())
	info, err := pipeline.ReadModel(context.Background(), killed)
	require.NoError(t, err)
	require.Equal(t, 1, info.Retries, "reruns")
	require.Equal(t, "pass 2", info.RetryLog[0].Stage)
	require.Contains(t, info.RetryLog[0].Error, "--pass-timeout")
	requireSameFiles(t, embedded.Files, info.Files)
}

// requireSameFiles requires two models' weights files to hold the same
// bytes.
func requireSameFiles(t *testing.T, want, got []pipeline.ShardFile) {
	t.Helper()
	require.Equal(t, len(want), len(got), "weights files")
	for i, f := range want {
		a, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		b, err := os.ReadFile(got[i].Path)
		require.NoError(t, err)
		require.True(t, bytes.Equal(a, b), "%s differs", filepath.Base(f.Path))
	}
}

// killWorkerOfPass waits until pass `pass` of the run in work is due (the
// pass before it is complete), then SIGKILLs the first worker process
// started after that: a Go SDK worker (argv[0] .../worker, --worker=true)
// whose parent, the boot program, the prism server binary started. It
// returns the worker's pid.
func killWorkerOfPass(t *testing.T, work string, pass int, server string) int {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	prev := filepath.Join(work, fmt.Sprintf("pass-%05d", pass-1), pipeline.ManifestName)
	for {
		if _, err := os.Stat(prev); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "pass %d never completed", pass-1)
		time.Sleep(2 * time.Millisecond)
	}
	old := serverWorkers(server)
	for {
		for pid := range serverWorkers(server) {
			if !old[pid] {
				require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
				return pid
			}
		}
		require.True(t, time.Now().Before(deadline), "no worker of pass %d started", pass)
		time.Sleep(2 * time.Millisecond)
	}
}

// endpointWorkers lists the running Go SDK workers whose control
// endpoint is on endpoint's port, from /proc.
func endpointWorkers(endpoint string) map[int]bool {
	out := map[int]bool{}
	_, port, _ := strings.Cut(endpoint, ":")
	for pid, args := range workerArgs() {
		if slices.ContainsFunc(args, func(a string) bool {
			return strings.HasPrefix(a, "--control_endpoint=") && strings.HasSuffix(a, ":"+port)
		}) {
			out[pid] = true
		}
	}
	return out
}

// workerArgs is the command line of every running Go SDK worker (argv[0]
// .../worker, --worker=true), by pid, from /proc.
func workerArgs() map[int][]string {
	out := map[int][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == "worker" && slices.Contains(args, "--worker=true") {
			out[pid] = args
		}
	}
	return out
}

// serverWorkers lists the running Go SDK workers whose boot program the
// process running server's binary started, from /proc.
func serverWorkers(server string) map[int]bool {
	out := map[int]bool{}
	for pid := range workerArgs() {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", parentPID(parentPID(pid)))); err == nil && exe == server {
			out[pid] = true
		}
	}
	return out
}

// parentPID reads a process's parent from /proc/PID/stat (0 if gone).
func parentPID(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces, never ")".
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}
