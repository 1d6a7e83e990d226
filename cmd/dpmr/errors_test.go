package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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
	bin := dpmrBinary(t)
	server := runnertest.JobServer(t)

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
					// The message is read_input.go's; what matters here
					// is its form: one line, the file, no Beam detail.
					line := stderr.String()
					require.True(t, strings.HasSuffix(line, "\n") && strings.Count(line, "\n") == 1, "want one line on stderr, got:\n%s", line)
					require.True(t, strings.HasPrefix(line, "dpmr train: setup pipeline: "), line)
					require.Contains(t, line, "/proc/self/mem")
					require.True(t, strings.HasSuffix(line, " (--verbose shows the runner's detail)\n"), line)
					for _, beam := range []string{"DoFn[", "Plan[", "caused by", "goroutine"} {
						require.NotContains(t, line, beam)
					}
					return
				}
				require.Contains(t, stderr.String(), "DoFn[", "the runner's detail under --verbose")
				require.Contains(t, stderr.String(), "/proc/self/mem")
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
