package runners_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/runners/runnertest"
)

func TestMain(m *testing.M) { runnertest.Main(m, "direct") }

func init() {
	register.Function1x1[string, error](failOn)
	register.Function1x1[string, error](panicOn)
}

// failOn fails as dpmr's DoFns do: one line naming the file and line.
func failOn(path string) error {
	return fmt.Errorf("%s:7: this line is damaged; fix or remove it", path)
}

func panicOn(path string) error {
	panic("cannot go on with " + path)
}

// TestBriefOnRunners runs a pipeline whose DoFn fails on the direct runner
// and on prism (through a loopback job server, as --runner=universal), as
// dpmr does through runners.Run, and requires the line a user reads to be
// dpmr's own prefix and the DoFn's message, nothing of Beam's plan or
// stack, while the error itself keeps all of the runner's detail.
func TestBriefOnRunners(t *testing.T) {
	const path = "/data/part-00003.txt"
	prism, err := runnertest.PrismFlags()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		runner string
		flags  map[string]string
	}{
		{"direct", map[string]string{"runner": "direct", "endpoint": "", "environment_type": ""}},
		{"prism", prism},
	} {
		for _, fn := range []struct {
			name string
			fn   any
			want string
		}{
			{"error", failOn, "pass 3: " + path + ":7: this line is damaged; fix or remove it"},
			{"panic", panicOn, "pass 3: panic: cannot go on with " + path},
		} {
			t.Run(tc.runner+"/"+fn.name, func(t *testing.T) {
				restore, err := runnertest.SetFlags(tc.flags)
				if err != nil {
					t.Fatal(err)
				}
				defer restore()
				p, s := beam.NewPipelineWithRoot()
				beam.ParDo0(s, fn.fn, beam.Create(s, path))
				_, err = runners.Run(context.Background(), p)
				var je *runners.JobError
				if !errors.As(err, &je) {
					t.Fatalf("runners.Run = %v, want a *runners.JobError", err)
				}
				err = fmt.Errorf("pass 3: %w", err)
				got, ok := runners.Brief(err)
				if !ok || got != fn.want {
					t.Errorf("Brief = %q, %v\nwant %q, true\nfrom %d lines:\n%v", got, ok, fn.want, strings.Count(err.Error(), "\n")+1, err)
				}
				if !strings.Contains(err.Error(), "\n") {
					t.Errorf("the full error is one line, where the runner's detail was expected: %v", err)
				}
			})
		}
	}
	// Neither runner, nor the LOOPBACK workers prism's jobs used, left
	// this process listening beyond loopback.
	if runtime.GOOS == "linux" {
		addrs, err := runners.ListeningAddrs(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if !a.Addr().IsLoopback() {
				t.Errorf("the test process listens on %s, beyond loopback", a)
			}
		}
	}
}

func TestBriefWithoutJobError(t *testing.T) {
	err := errors.New("input x.txt matches no files")
	if got, ok := runners.Brief(fmt.Errorf("setup: %w", err)); ok || got != "setup: input x.txt matches no files" {
		t.Errorf("Brief = %q, %v, want the error's own text and false", got, ok)
	}
}

func TestJobErrorSummary(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"direct runner",
			"while executing Process for Plan[plan]:\n80: ParDo[beam.createFn] Out:[45]\n73: ParDo[pipeline.readBlocksFn] Out:[61 72]\n\tcaused by:\n" +
				"DoFn[UID:73, PID:pipeline.readBlocksFn, Name: github.com/dpmr/dpmr/pipeline.readBlocksFn] failed:\n" +
				"reading /proc/self/mem after line 0: read /proc/self/mem: input/output error",
			"reading /proc/self/mem after line 0: read /proc/self/mem: input/output error"},
		{"prism job",
			"job job-001 failed:\nbundle inst004 stage-008 failed:process bundle failed for instruction inst004 using plan stage-008 : while executing Process for Plan[stage-008]:\n" +
				"1: DataSource[S[stage-008_source@localhost:39153], i0] Out:29\n\tcaused by:\nsource failed processing data\n\tcaused by:\n" +
				"DoFn[UID:29, PID:e4, Name: github.com/dpmr/dpmr/pipeline.readBlocksFn] failed:\n" +
				"reading /proc/self/mem after line 0: read /proc/self/mem: input/output error",
			"reading /proc/self/mem after line 0: read /proc/self/mem: input/output error"},
		{"panic", "while executing Process for Plan[plan]:\n1: x\n\tcaused by:\nDoFn[UID:1, PID:f, Name: f] failed:\npanic: boom goroutine 7 [running]:\nruntime/debug.Stack()\n\t/go/x.go:1",
			"panic: boom"},
		{"no DoFn", "while executing Process for Plan[plan]:\n1: x\n\tcaused by:\ncoder failed: short read\nmore", "coder failed: short read"},
		{"one line", "failed to submit job: connection refused", "failed to submit job: connection refused"},
		{"a heading", "job job-002 failed:\nthe worker exited\nmore detail", "job job-002 failed: the worker exited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			je := &runners.JobError{Runner: "direct", Err: errors.New(tc.in)}
			if got := je.Summary(); got != tc.want {
				t.Errorf("Summary() = %q, want %q", got, tc.want)
			}
			if je.Error() != tc.in {
				t.Errorf("Error() changed the runner's text")
			}
		})
	}
}
