package runners

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
)

func TestJobServer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Now()
	bin, err := BuildPrism(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %.1fs", bin, time.Since(t0).Seconds())

	t.Run("serves the job API until Stop", func(t *testing.T) {
		t0 := time.Now()
		s, err := StartJobServerBinary(ctx, bin, filepath.Join(dir, "serve.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		t.Logf("job server at %s accepting connections after %.2fs", s.Endpoint, time.Since(t0).Seconds())
		if host, _, _ := net.SplitHostPort(s.Endpoint); host != "127.0.0.1" {
			t.Errorf("endpoint %s is not on the loopback interface", s.Endpoint)
		}
		requireLoopbackOnly(t, s.Pid())
		cc, err := grpcx.Dial(ctx, s.Endpoint, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		jobs, err := jobpb.NewJobServiceClient(cc).GetJobs(ctx, &jobpb.GetJobsRequest{})
		if err != nil {
			t.Fatalf("GetJobs: %v", err)
		}
		if n := len(jobs.GetJobInfo()); n != 0 {
			t.Errorf("a new job server lists %d jobs", n)
		}
		if err := s.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if s.Running() {
			t.Error("the process is still running after Stop")
		}
		if c, err := net.DialTimeout("tcp", s.Endpoint, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Stop", s.Endpoint)
		}
		if err := s.Stop(); err != nil {
			t.Errorf("a second Stop: %v", err)
		}
	})

	t.Run("two servers side by side", func(t *testing.T) {
		a, err := StartJobServerBinary(ctx, bin, filepath.Join(dir, "a.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Stop()
		b, err := StartJobServerBinary(ctx, bin, filepath.Join(dir, "b.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Stop()
		if a.Endpoint == b.Endpoint {
			t.Fatalf("both servers on %s", a.Endpoint)
		}
	})

	t.Run("a server that died is reported by Stop", func(t *testing.T) {
		s, err := StartJobServerBinary(ctx, bin, filepath.Join(dir, "killed.log"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-s.exited
		if err := s.Stop(); err == nil || !strings.Contains(err.Error(), "had exited before Stop") {
			t.Errorf("Stop after the process died = %v, want an error saying so", err)
		}
	})

	t.Run("a binary that exits at once", func(t *testing.T) {
		// Any command that exits without listening stands for a prism that
		// could not bind its port; "false" is on every Unix.
		bad, err := exec.LookPath("false")
		if err != nil {
			t.Skipf("no 'false' command to stand for a failing server: %v", err)
		}
		_, err = StartJobServerBinary(ctx, bad, filepath.Join(dir, "bad.log"))
		if !errors.Is(err, errExitedEarly) {
			t.Errorf("StartJobServerBinary(%s) = %v, want errExitedEarly", bad, err)
		}
	})

	t.Run("a start that times out", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		if _, err := StartJobServerBinary(ctx, bin, filepath.Join(dir, "late.log")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("StartJobServerBinary with an expired context = %v, want context.DeadlineExceeded", err)
		}
	})
}

// requireLoopbackOnly requires process pid to listen on at least one port,
// and on loopback addresses only (read from /proc, nothing is sent).
func requireLoopbackOnly(t *testing.T, pid int) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Log("listening addresses are only checked on Linux")
		return
	}
	addrs, err := ListeningAddrs(pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) == 0 {
		t.Fatalf("process %d listens on no TCP port", pid)
	}
	for _, a := range addrs {
		if !a.Addr().IsLoopback() {
			t.Errorf("process %d listens on %s, beyond loopback (all: %v)", pid, a, addrs)
		}
	}
}

func TestPatchedBeamChangesOnlyTheEdits(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("building Beam's prism needs the go command: %v", err)
	}
	build, err := patchedBeam(context.Background(), gocmd, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	orig, err := filepath.EvalSymlinks(filepath.Join(build, "beam", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range prismEdits {
		view := filepath.Join(build, "beam", e.File)
		got, err := os.ReadFile(view)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(view); err != nil || fi.Mode()&os.ModeSymlink != 0 {
			t.Fatalf("%s is not a file of its own: %v", view, err)
		}
		src, err := os.ReadFile(filepath.Join(filepath.Dir(orig), e.File))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Replace(string(src), e.Old, e.New, 1); string(got) != want || want == string(src) {
			t.Errorf("%s is not Beam's with %s replaced", view, e.Old)
		}
		// Its neighbours are links to the module cache's, or directories
		// on the way to another edited file.
		entries, err := os.ReadDir(filepath.Dir(view))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range entries {
			if n.Type()&os.ModeSymlink == 0 && n.Name() != filepath.Base(view) && !onEditPath(filepath.Join(filepath.Dir(e.File), n.Name())) {
				t.Errorf("%s: a copy, not a link to Beam's", filepath.Join(filepath.Dir(view), n.Name()))
			}
		}
	}
}

// onEditPath tells whether rel is a file prismEdits change or a directory
// holding one.
func onEditPath(rel string) bool {
	for _, e := range prismEdits {
		if e.File == rel || strings.HasPrefix(e.File, rel+"/") {
			return true
		}
	}
	return false
}

func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0050":                         "0.0.0.0:80",
		"00000000000000000000000000000000:1F91": "[::]:8081",
		"00000000000000000000000001000000:1F92": "[::1]:8082",
		"0000000000000000FFFF00000100007F:1F93": "127.0.0.1:8083",
	} {
		a, err := parseProcAddr(in)
		if err != nil || a.String() != want {
			t.Errorf("parseProcAddr(%s) = %v, %v, want %s", in, a, err, want)
		}
	}
}

func TestPrismWarningOnce(t *testing.T) {
	var buf strings.Builder
	old, oldEndpoint := Warnings, *jobopts.Endpoint
	defer func() { Warnings, *jobopts.Endpoint, prismWarned = old, oldEndpoint, sync.Once{} }()
	Warnings, prismWarned = &buf, sync.Once{}

	*jobopts.Endpoint = ""
	warnEmbeddedPrism("direct")
	*jobopts.Endpoint = "127.0.0.1:8073"
	warnEmbeddedPrism("prism") // a job service of the user's own
	if buf.Len() != 0 {
		t.Fatalf("warned %q for direct and for prism with an endpoint", buf.String())
	}
	*jobopts.Endpoint = ""
	warnEmbeddedPrism("prism")
	warnEmbeddedPrism("prism")
	if got := buf.String(); got != PrismWarning+"\n" {
		t.Errorf("warned %q, want PrismWarning once, one line", got)
	}
	if strings.Contains(PrismWarning, "\n") {
		t.Error("PrismWarning is more than one line")
	}
}
