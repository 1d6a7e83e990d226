// Package runnertest helps tests run pipelines on a chosen Beam runner: it
// sets Beam's process-wide runner flags for a while, starts a prism job
// server as a separate process for the length of a test, and runs
// pipelines on prism through one such server shared by a test binary
// (Prism), so that tests open no port beyond loopback: Beam 2.77's
// embedded prism runner listens on every interface.
package runnertest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
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
	inMain = true
	code := ptest.MainRetWithDefault(m, runner)
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "runnertest: the shared prism job server: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

// inMain tells whether the tests run under Main, which removes the shared
// prism build at the end.
var inMain bool

// The prism binary the tests' job servers run (built by the first that
// needs one), and the job server Prism runs pipelines on (started by the
// first call); Main stops the server and removes the binary when the
// tests end.
var shared struct {
	sync.Mutex
	dir    string
	bin    string
	binErr error
	server *runners.JobServer
	err    error
}

// prismBinary builds prism (runners.BuildPrism: loopback only) once per
// test binary and returns its path. Only for tests run under Main.
func prismBinary() (string, error) {
	shared.Lock()
	defer shared.Unlock()
	if shared.bin == "" && shared.binErr == nil {
		shared.dir, shared.binErr = os.MkdirTemp("", "dpmr-prism-")
		if shared.binErr == nil {
			shared.bin, shared.binErr = runners.BuildPrism(context.Background(), shared.dir)
		}
		if shared.binErr != nil {
			shared.binErr = fmt.Errorf("building prism: %w", shared.binErr)
		}
	}
	return shared.bin, shared.binErr
}

// SharedJobServer returns the test binary's prism job server, starting it
// on the first call (see runners.StartJobServer: it listens on loopback
// only). Main stops it when the tests end; tests that use it must run
// under Main.
func SharedJobServer() (*runners.JobServer, error) {
	if !inMain {
		return nil, fmt.Errorf("runnertest: the shared prism job server needs runnertest.Main as the package's TestMain")
	}
	bin, err := prismBinary()
	if err != nil {
		return nil, err
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.server == nil && shared.err == nil {
		shared.server, shared.err = runners.StartJobServerBinary(context.Background(), bin, filepath.Join(shared.dir, "prism.log"))
		if shared.err != nil {
			shared.err = fmt.Errorf("starting the shared prism job server: %w", shared.err)
		}
	}
	return shared.server, shared.err
}

func stopShared() error {
	shared.Lock()
	defer shared.Unlock()
	var err error
	if shared.server != nil {
		err = shared.server.Stop()
		shared.server = nil
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return err
}

// PrismFlags are the runner flags that send a job to the shared prism job
// server (starting it if need be), with LOOPBACK workers in this process:
// the same prism engine as --runner=prism, reached through the portable
// job API on a loopback port instead of a server on every interface.
func PrismFlags() (map[string]string, error) {
	s, err := SharedJobServer()
	if err != nil {
		return nil, err
	}
	return map[string]string{"runner": "universal", "endpoint": s.Endpoint, "environment_type": "LOOPBACK"}, nil
}

// Prism runs p on prism through the shared job server (see PrismFlags)
// and waits for it. The runner flags are set for the call only.
func Prism(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	values, err := PrismFlags()
	if err != nil {
		return nil, err
	}
	restore, err := SetFlags(values)
	if err != nil {
		return nil, err
	}
	defer restore()
	return beam.Run(ctx, "universal", p)
}

// Run runs p on runner, where "prism" means Prism: tests that name the
// embedded prism runner get the same engine without its open port.
func Run(ctx context.Context, runner string, p *beam.Pipeline) (beam.PipelineResult, error) {
	if runner == "prism" {
		return Prism(ctx, p)
	}
	return beam.Run(ctx, runner, p)
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

// JobServer starts a prism job server of its own for t, from the test
// binary's prism build (see runners.StartJobServer), and stops it when t
// ends. t fails if the server cannot start or died during the test; the
// server's log is shown when t has failed.
func JobServer(t testing.TB) *runners.JobServer {
	t.Helper()
	var bin string
	var err error
	if inMain {
		bin, err = prismBinary()
	} else {
		// No Main to remove a shared build at the end: build for t.
		bin, err = runners.BuildPrism(context.Background(), t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := runners.StartJobServerBinary(context.Background(), bin, filepath.Join(t.TempDir(), "prism.log"))
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
