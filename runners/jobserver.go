package runners

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PrismPackage is Beam's standalone prism runner: a portable job service
// that runs jobs itself, with workers in LOOPBACK mode.
const PrismPackage = "github.com/apache/beam/sdks/v2/go/cmd/prism"

// jobServerStartTimeout bounds the wait for a started job server to accept
// connections, unless the context given is shorter.
const jobServerStartTimeout = time.Minute

// JobServer is Beam's prism job server running as a separate process,
// listening on a port of the loopback interface only (see BuildPrism). Jobs reach it with --runner=universal
// --endpoint=<Endpoint> --environment_type=LOOPBACK.
type JobServer struct {
	Endpoint string // HOST:PORT of the job service
	Binary   string // the prism executable
	Log      string // file receiving the server's output

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // the process's exit status, once exited is closed
	stopOnce sync.Once
	stopErr  error
}

// BuildPrism builds Beam's prism command, at the Beam version this module
// requires, into dir/prism and returns its path. It builds it from a view
// of the Beam module made in dir that differs from the module cache's in
// the prismEdits: the job service listens on the loopback interface only
// (Beam 2.77's binds ":PORT", every interface, with no option to choose),
// and a PROCESS environment's command gets the worker id as Flink's and
// Spark's job servers pass it. BuildPrism fails if the Beam source is not
// as expected. It needs the go command and must run inside this module (or
// any module requiring the Beam Go SDK); nothing is downloaded if the
// module cache is complete.
func BuildPrism(ctx context.Context, dir string) (string, error) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building prism needs the go command: %v", err)
	}
	build, err := patchedBeam(ctx, gocmd, dir)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "prism")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	bin, err = filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	// -trimpath: the view's path changes with dir, and without it every
	// build would compile the Beam SDK anew instead of using the cache.
	cmd := exec.CommandContext(ctx, gocmd, "build", "-trimpath", "-o", bin, PrismPackage)
	cmd.Dir = build
	// The binary runs here, whatever GOOS/GOARCH the environment holds
	// (the README's cross-compilation commands set them).
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", PrismPackage, err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// sourceEdit replaces Old, which must occur exactly once in File of the
// Beam module, by New.
type sourceEdit struct{ File, Old, New string }

// prismEdits are the changes BuildPrism makes to prism.
var prismEdits = []sourceEdit{
	// The job service's listen address.
	{
		File: "go/pkg/beam/runners/prism/internal/jobservices/server.go",
		Old:  `net.Listen("tcp", fmt.Sprintf(":%d", port))`,
		New:  `net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))`,
	},
	// A PROCESS environment's command: Beam 2.77's prism passes
	// --id='ID', quotes included (no shell removes them), and Beam's Go
	// boot program then asks the provision service for a worker "'ID'"
	// that does not exist. Flink's and Spark's job servers pass --id=ID.
	{
		File: "go/pkg/beam/runners/prism/internal/environments.go",
		Old:  `"--id='"+wk.ID+"'"`,
		New:  `"--id="+wk.ID`,
	},
}

const beamModule = "github.com/apache/beam/sdks/v2"

// patchedBeam makes dir/prism-build, a module to build prism in: the
// current module's go.mod and go.sum, with Beam replaced by dir/beam, a
// view of the module cache's Beam made of symbolic links except along the
// paths to the files prismEdits change, which are edited copies. Each
// edit's text must occur exactly once, or it fails: a Beam whose source
// differs needs this code looked at again. (go build -overlay cannot do
// this: it refuses to replace module cache files.) It returns the build
// module's directory.
func patchedBeam(ctx context.Context, gocmd, dir string) (string, error) {
	golist := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, gocmd, args...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(ee.Stderr))
			}
			return "", fmt.Errorf("go %s: %v", strings.Join(args, " "), err)
		}
		return string(bytes.TrimSpace(out)), nil
	}
	gomod, err := golist("env", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("building prism must run inside a module requiring %s", beamModule)
	}
	beam, err := golist("list", "-m", "-f", "{{.Dir}}", beamModule)
	if err != nil {
		return "", err
	}
	if beam == "" {
		return "", fmt.Errorf("%s: %s is not in the module cache (go mod download %s)", gomod, beamModule, beamModule)
	}
	edited := map[string][]byte{}
	for _, e := range prismEdits {
		path := filepath.Join(beam, filepath.FromSlash(e.File))
		src, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		if n := bytes.Count(src, []byte(e.Old)); n != 1 {
			return "", fmt.Errorf("%s has %d occurrences of %s, want 1: cannot build prism with it replaced by %s", path, n, e.Old, e.New)
		}
		edited[e.File] = bytes.Replace(src, []byte(e.Old), []byte(e.New), 1)
	}
	build, err := filepath.Abs(filepath.Join(dir, "prism-build"))
	if err != nil {
		return "", err
	}
	view := filepath.Join(build, "beam")
	if err := os.RemoveAll(build); err != nil {
		return "", err
	}
	if err := linkView(beam, view, edited); err != nil {
		return "", err
	}
	mod, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	mod = append(mod, fmt.Sprintf("\nreplace %s => ./beam\n", beamModule)...)
	if err := os.WriteFile(filepath.Join(build, "go.mod"), mod, 0o644); err != nil {
		return "", err
	}
	if sum, err := os.ReadFile(strings.TrimSuffix(gomod, ".mod") + ".sum"); err == nil {
		if err := os.WriteFile(filepath.Join(build, "go.sum"), sum, 0o644); err != nil {
			return "", err
		}
	}
	return build, nil
}

// linkView makes view a copy of the tree at src in which every entry is a
// symbolic link to src's, except the directories on the way to the files
// named (slash-separated, relative) in edited, which are real, and those
// files, written with edited's contents.
func linkView(src, view string, edited map[string][]byte) error {
	if err := os.MkdirAll(view, 0o755); err != nil {
		return err
	}
	// What each entry of this directory leads to: "" for an edited file,
	// the rest of the path for a directory on the way to one.
	inner := map[string]map[string][]byte{}
	for rel, data := range edited {
		first, rest, deeper := strings.Cut(rel, "/")
		if !deeper {
			if err := os.WriteFile(filepath.Join(view, first), data, 0o644); err != nil {
				return err
			}
			inner[first] = nil
			continue
		}
		if inner[first] == nil {
			inner[first] = map[string][]byte{}
		}
		inner[first][rest] = data
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		sub, special := inner[name]
		switch {
		case !special:
			if err := os.Symlink(filepath.Join(src, name), filepath.Join(view, name)); err != nil {
				return err
			}
		case sub != nil:
			if err := linkView(filepath.Join(src, name), filepath.Join(view, name), sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// StartJobServer builds prism into dir (see BuildPrism), starts it on a
// free loopback port with its web UI off, and returns once the port
// accepts connections. The server's output goes to dir/prism.log. The
// process outlives ctx, which only bounds the build and the start; call
// Stop to end it. On Linux the process is also killed if this one dies.
func StartJobServer(ctx context.Context, dir string) (*JobServer, error) {
	bin, err := BuildPrism(ctx, dir)
	if err != nil {
		return nil, err
	}
	return StartJobServerBinary(ctx, bin, filepath.Join(dir, "prism.log"))
}

// StartJobServerBinary starts an already built prism binary, appending its
// output to logPath, in logPath's directory. See StartJobServer.
func StartJobServerBinary(ctx context.Context, bin, logPath string) (*JobServer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting a job server: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, jobServerStartTimeout)
	defer cancel()
	// The port is free when chosen but may be taken before prism binds
	// it; prism then exits at once, and another port is tried.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var port int
		if port, err = freeLoopbackPort(); err != nil {
			return nil, err
		}
		var s *JobServer
		s, err = startPrism(ctx, bin, port, logPath)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errExitedEarly) {
			return nil, err
		}
	}
	return nil, err
}

var errExitedEarly = errors.New("job server exited before accepting connections")

func startPrism(ctx context.Context, bin string, port int, logPath string) (*JobServer, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin,
		"--job_port="+strconv.Itoa(port),
		"--serve_http=false", // no web UI, so no second port to collide on
		"--log_kind=text",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its working directory is its log's: with PROCESS workers, Beam's
	// boot program, which inherits it, writes pipeline_options.json there.
	cmd.Dir = filepath.Dir(logPath)
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v", bin, err)
	}
	s := &JobServer{
		Endpoint: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Binary:   bin, Log: logPath, cmd: cmd, exited: make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls the port until it accepts a connection, the process
// exits, or ctx ends.
func (s *JobServer) waitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", s.Endpoint, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w (%v): %s", errExitedEarly, s.waitErr, LogTail(s.Log))
		case <-ctx.Done():
			return fmt.Errorf("job server at %s not accepting connections: %v; log: %s", s.Endpoint, ctx.Err(), LogTail(s.Log))
		case <-tick.C:
		}
	}
}

// Stop kills the job server and waits for it to exit. It returns an error
// if the server had exited by itself before. Stop may be called more than
// once.
func (s *JobServer) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			s.stopErr = fmt.Errorf("job server at %s had exited before Stop (%v); log: %s", s.Endpoint, s.waitErr, LogTail(s.Log))
			return
		default:
		}
		if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = err
		}
		<-s.exited
	})
	return s.stopErr
}

// Pid is the server process's id.
func (s *JobServer) Pid() int { return s.cmd.Process.Pid }

// Running tells whether the server process is still alive.
func (s *JobServer) Running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// freeLoopbackPort returns a TCP port nothing listens on at the moment.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LogTail returns the end of a log file, such as a JobServer's, for
// error messages.
func LogTail(path string) string {
	const keep = 2000
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) > keep {
		data = append([]byte("..."), data[len(data)-keep:]...)
	}
	if len(data) == 0 {
		return "(empty)"
	}
	return string(data)
}
