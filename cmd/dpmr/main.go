// Command dpmr trains and serves sparse logistic regression with Distributed
// Parameter Map-Reduce on Apache Beam.
//
// Usage:
//
//	dpmr <command> [flags]
//
// Run "dpmr help" for the list of commands and "dpmr <command> -h" for the
// flags of one. The binary doubles as its own Beam worker: when a runner
// starts it with worker flags and no command, it serves as a worker.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/dpmr/dpmr/runners"
)

// command is one sub-command of dpmr. run receives the flag set already
// parsed; flags are registered on the process-wide flag set so Beam's own
// runner flags (--runner, --endpoint, --project, ...) parse alongside.
type command struct {
	name    string
	summary string
	// setup registers the command's flags on fs and returns the function
	// that runs it after parsing.
	setup func(fs *flag.FlagSet) func() error
	// args, if set, names the positional arguments the command takes after
	// its flags (fs.Args()); other commands refuse any.
	args string
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// errUsage marks an error caused by how the command was called; main prints
// it with the usage hint and exits with status 2.
var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		// Worker mode (the runner re-executes this binary with its own
		// flags) or a bare invocation.
		removeBootCopy()
		flag.Parse()
		beam.Init()
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "help" || name == "--help" {
		usage(os.Stdout)
		return
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "dpmr: unknown command %q\n\n", name)
		usage(os.Stderr)
		os.Exit(2)
	}
	fs := flag.CommandLine
	fs.Init("dpmr "+name, flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dpmr %s [flags]\n\n%s\n\nflags:\n", name, c.summary)
		printOwnFlags(fs)
		fmt.Fprintf(fs.Output(), "\nBeam runner flags (--runner, --endpoint, --project, ...) are accepted too; see README.md.\n")
	}
	own := snapshotFlagNames(fs)
	verbose := fs.Bool("verbose", false, "show the Beam runner's own log lines, and a failed job's whole error (the runner's plan and stack)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole process (driver, runner and in-process workers) to `FILE`")
	run := c.setup(fs)
	if f := fs.Lookup("runner"); f != nil {
		f.Usage = "Beam runner: direct (embedded), prism (embedded; opens an unauthenticated port on every interface), universal (with --endpoint), flink, spark or dataflow"
		f.DefValue = runners.Default
	}
	ownFlags = newFlagNames(fs, own)
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 && c.args == "" {
		fmt.Fprintf(os.Stderr, "dpmr %s: unexpected argument %q\n", name, fs.Arg(0))
		os.Exit(2)
	}
	if !*verbose {
		// Prism and the SDK log every job's life cycle at INFO; a driver
		// that runs a job per iteration would drown its own lines.
		beamlog.LogLevel = "warn"
	}
	beam.Init()
	if !*verbose {
		// What is left at WARN and above is the runner's detail of a
		// failure (prism logs a failed bundle's whole plan, several times)
		// that the error dpmr prints sums up in one line.
		slog.SetDefault(slog.New(slog.DiscardHandler))
	}
	// Beam's SDK leaves an empty beamloopbackworker-* file in the temp dir
	// for every job it submits with LOOPBACK workers, as the embedded
	// prism runner does for every pipeline: training would leave one per
	// iteration. Give this process a temp dir of its own, removed at exit.
	if tmp, err := os.MkdirTemp("", "dpmr-"+name+"-"); err == nil {
		os.Setenv("TMPDIR", tmp)
		cleanup := func() { os.RemoveAll(tmp) }
		atExit = append(atExit, cleanup)
		defer cleanup()
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dpmr %s: %v\n", name, err)
			os.Exit(1)
		}
		defer stop()
	}
	if err := run(); err != nil {
		if errors.Is(err, runners.ErrDryRun) {
			fmt.Fprintf(os.Stderr, "dpmr %s: dry run: the first pipeline was translated and not submitted\n", name)
			exit(0)
		}
		fmt.Fprintf(os.Stderr, "dpmr %s: %s\n", name, errorLine(err, *verbose))
		code := 1
		if errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "run 'dpmr %s -h' for help\n", name)
			code = 2
		}
		exit(code)
	}
}

// errorLine is what dpmr prints of a failure. A job that failed on the
// runner carries the runner's whole account (with Beam, the failed
// bundle's plan, often 80 lines, around the one that matters): unless
// verbose, only dpmr's own message of what went wrong is kept, on one
// line (runners.Brief), with a pointer to --verbose.
func errorLine(err error, verbose bool) string {
	if verbose {
		return err.Error()
	}
	if brief, ok := runners.Brief(err); ok {
		return brief + " (--verbose shows the runner's detail)"
	}
	return err.Error()
}

// removeBootCopy removes this executable if it is the copy Beam's Go boot
// program (2.77) made to run it: boot, which starts the worker in a
// PROCESS or container environment, copies the staged binary to a new
// /tmp/binNNN/worker each time and never removes it, and the runner kills
// the worker at the end of its job. On a machine running PROCESS workers
// that is the whole binary (300 MB) left in /tmp for every job, which is
// every iteration. A running program's file can go: the kernel keeps it
// until the process exits.
func removeBootCopy() {
	exe, err := os.Executable()
	if err != nil || filepath.Base(exe) != "worker" {
		return
	}
	dir := filepath.Dir(exe)
	if filepath.Dir(dir) != "/tmp" || !isBootDir(filepath.Base(dir)) {
		return
	}
	os.RemoveAll(dir)
}

// isBootDir tells whether name is one os.MkdirTemp("/tmp/", "bin*") makes:
// "bin" and digits.
func isBootDir(name string) bool {
	digits, ok := strings.CutPrefix(name, "bin")
	if !ok || digits == "" {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// exit runs the deferred clean-ups main registered (a profile to flush)
// before exiting.
var atExit []func()

func exit(code int) {
	for _, f := range atExit {
		f()
	}
	os.Exit(code)
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	stop := func() { pprof.StopCPUProfile(); f.Close() }
	atExit = append(atExit, stop)
	return stop, nil
}

// ownFlags are the names of the flags the chosen command registered, so
// its help lists them apart from Beam's many global flags.
var ownFlags map[string]bool

func snapshotFlagNames(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

func newFlagNames(fs *flag.FlagSet, before map[string]bool) map[string]bool {
	m := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		if !before[f.Name] {
			m[f.Name] = true
		}
	})
	return m
}

func printOwnFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if !ownFlags[f.Name] && f.Name != "runner" {
			return
		}
		name, help := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(fs.Output(), "%s\n    \t%s", line, strings.ReplaceAll(help, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(fs.Output(), " (default %s)", f.DefValue)
		}
		fmt.Fprintln(fs.Output())
	})
}

func usage(w *os.File) {
	fmt.Fprintln(w, "usage: dpmr <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nrun 'dpmr <command> -h' for the flags of one command")
}
