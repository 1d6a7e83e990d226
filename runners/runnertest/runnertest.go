// Package runnertest helps tests run pipelines on a chosen Beam runner: it
// sets Beam's process-wide runner flags for a while, and starts a prism job
// server as a separate process for the length of a test.
package runnertest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/dpmr/dpmr/runners"
)

// Main is the TestMain of a package that runs pipelines, on runner unless
// --runner says otherwise. Every prism job leaves an empty
// beamloopbackworker-* file in the temp dir (Beam's SDK never removes it),
// so the tests get a temp dir of their own, removed at exit.
func Main(m *testing.M, runner string) {
	beamlog.LogLevel = "warn" // the runners log every job's plan at INFO
	tmp, err := os.MkdirTemp("", "dpmr-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", tmp)
	code := ptest.MainRetWithDefault(m, runner)
	os.RemoveAll(tmp)
	os.Exit(code)
}

// SetFlags sets flags of the process-wide flag set by name, as
// --name=value on the command line would, and returns a func that puts the
// previous values back. Beam keeps its runner options (--runner,
// --endpoint, --environment_type, --project, ...) in such flags, so a test
// that needs a runner for one call sets them around that call. Nothing is
// changed if a name is unknown or a value is refused.
func SetFlags(values map[string]string) (restore func(), err error) {
	old := map[string]string{}
	restore = func() {
		for name, v := range old {
			flag.Lookup(name).Value.Set(v)
		}
	}
	for name, v := range values {
		f := flag.Lookup(name)
		if f == nil {
			restore()
			return nil, fmt.Errorf("no flag --%s is registered", name)
		}
		prev := f.Value.String()
		if err := f.Value.Set(v); err != nil {
			restore()
			return nil, fmt.Errorf("--%s=%s: %v", name, v, err)
		}
		old[name] = prev
	}
	return restore, nil
}

// JobServer starts a prism job server for t (see runners.StartJobServer),
// building it in a temporary directory, and stops it when t ends. t fails
// if the server cannot start or died during the test; the server's log is
// shown when t has failed.
func JobServer(t testing.TB) *runners.JobServer {
	t.Helper()
	s, err := runners.StartJobServer(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("starting a prism job server: %v", err)
	}
	t.Logf("prism job server at %s (log %s)", s.Endpoint, s.Log)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("job server log:\n%s", runners.LogTail(s.Log))
		}
	})
	return s
}
