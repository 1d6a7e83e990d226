package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/runners/runnertest"
	"github.com/stretchr/testify/require"
)

// TestFailedJobIsOneLine runs the real dpmr on an input that fails while
// the job reads it (Linux's /proc/self/mem: it exists, and every read of
// it fails) on the direct runner and on prism (a loopback prism job
// server, as --runner=universal), and requires one line on stderr that
// names the file, with the runner's plan dump only under --verbose.
func TestFailedJobIsOneLine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's /proc/self/mem, a file whose reads fail")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dpmr")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	server := runnertest.JobServer(t)

	const want = "dpmr train: setup pipeline: reading /proc/self/mem after line 0: read /proc/self/mem: input/output error (--verbose shows the runner's detail)"
	for _, tc := range []struct {
		runner string
		flags  []string
	}{
		{"direct", nil},
		{"prism", []string{"--runner=universal", "--endpoint=" + server.Endpoint, "--environment_type=LOOPBACK"}},
	} {
		for _, verbose := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/verbose=%v", tc.runner, verbose), func(t *testing.T) {
				args := append([]string{"train", "--input", "/proc/self/mem", "--output", filepath.Join(t.TempDir(), "model"), "--iterations", "1"}, tc.flags...)
				if verbose {
					args = append(args, "--verbose")
				}
				cmd := exec.Command(bin, args...)
				cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				require.True(t, errors.As(err, &ee) && ee.ExitCode() == 1, "exit: %v\n%s", err, stderr.String())
				if !verbose {
					require.Equal(t, want+"\n", stderr.String())
					return
				}
				require.Contains(t, stderr.String(), "DoFn[", "the runner's detail under --verbose")
				require.Contains(t, stderr.String(), "reading /proc/self/mem after line 0")
			})
		}
	}
}

func TestErrorLine(t *testing.T) {
	job := &runners.JobError{Runner: "direct", Err: errors.New("while executing Process for Plan[plan]:\n1: ParDo[f]\n\tcaused by:\n" +
		"DoFn[UID:1, PID:f, Name: f] failed:\n/data/x.txt:3: the line is damaged")}
	err := fmt.Errorf("pass 2: %w", job)
	require.Equal(t, "pass 2: /data/x.txt:3: the line is damaged (--verbose shows the runner's detail)", errorLine(err, false))
	require.Equal(t, err.Error(), errorLine(err, true))
	plain := errors.New("input x.txt matches no files")
	require.Equal(t, plain.Error(), errorLine(plain, false))
}
