// Package runners chooses and checks the Beam runner a dpmr job runs on:
// the direct runner in the process (the default), prism embedded in the
// process, a portable job service (Flink, Spark, or a standalone prism) or
// Dataflow. It also builds and starts Beam's prism job server as a separate
// process listening on loopback only (StartJobServer), which is how the
// portable path and prism are tested, and it turns a failed job's error
// into the one line a user reads (Summary).
package runners

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/exec/optimized"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/gcpopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
)

// Default is the runner used when --runner is not given. The direct runner
// opens no network port, and on one machine it is the faster of the two
// embedded runners (see README, Runners).
const Default = "direct"

// PrismWarning is printed once, on Warnings, when a job runs on the
// embedded prism runner with no --endpoint: prism then starts Beam's job
// service inside dpmr, and in Beam 2.77 that service listens on every
// network interface, with no authentication, for as long as dpmr runs.
const PrismWarning = "warning: --runner=prism: Beam 2.77's job service listens unauthenticated on all network interfaces while dpmr runs; anyone who can reach this machine can submit work to it (the default runner, direct, opens no port)"

// Warnings receives PrismWarning. Tests may replace it.
var Warnings io.Writer = os.Stderr

var prismWarned sync.Once

// warnEmbeddedPrism prints PrismWarning once per process if the job about
// to run starts prism's own job service.
func warnEmbeddedPrism(runner string) {
	if runner == "prism" && *jobopts.Endpoint == "" {
		prismWarned.Do(func() { fmt.Fprintln(Warnings, PrismWarning) })
	}
}

// Name returns the runner chosen by --runner, or Default.
func Name() string {
	if r := strings.TrimSpace(*runners.Runner); r != "" {
		return strings.ToLower(r)
	}
	return Default
}

// Validate checks, before any work starts, that the chosen runner has
// what it needs, so a mistake costs a message and not a failed job.
func Validate() error {
	if err := validateRunner(Name()); err != nil {
		return err
	}
	if *jobopts.Async {
		return fmt.Errorf("--async cannot be used: the driver must wait for each iteration before the next")
	}
	return nil
}

func validateRunner(r string) error {
	env := strings.ToLower(strings.TrimSpace(*jobopts.EnvironmentType))
	switch r {
	case "prism", "direct":
		return nil
	case "universal", "flink", "spark":
		if *jobopts.Endpoint == "" {
			return fmt.Errorf("--runner=%s needs --endpoint=HOST:PORT of the job service (e.g. Flink's or Spark's job server)", r)
		}
		if _, port, err := net.SplitHostPort(*jobopts.Endpoint); err != nil || !isPort(port) {
			return fmt.Errorf("--endpoint=%s is not HOST:PORT of a job service (e.g. localhost:8099)", *jobopts.Endpoint)
		}
		switch env {
		case "", "docker", "process", "external", "loopback":
		default:
			return fmt.Errorf("--environment_type=%s is not one of DOCKER (the default), PROCESS, EXTERNAL, LOOPBACK", *jobopts.EnvironmentType)
		}
	case "dataflow":
		var missing []string
		if *gcpopts.Project == "" {
			missing = append(missing, "--project")
		}
		if *gcpopts.Region == "" {
			missing = append(missing, "--region")
		}
		staging := lookup("staging_location")
		if staging == "" {
			missing = append(missing, "--staging_location")
		}
		if len(missing) > 0 {
			return fmt.Errorf("--runner=dataflow needs %s", strings.Join(missing, ", "))
		}
		if !strings.HasPrefix(staging, "gs://") {
			return fmt.Errorf("--staging_location=%s must be a gs:// path for --runner=dataflow", staging)
		}
		if env != "" && env != "docker" {
			return fmt.Errorf("--environment_type=%s cannot be used with --runner=dataflow, whose workers run in containers (--sdk_container_image)", *jobopts.EnvironmentType)
		}
	default:
		return fmt.Errorf("--runner=%s is not one of direct (default), prism, universal, flink, spark, dataflow", r)
	}
	return nil
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536
}

func lookup(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// ErrDryRun is what Run returns once Dataflow has translated a pipeline
// under --dry_run: the job was logged, not submitted, so there is nothing
// to wait for and no output to go on from.
var ErrDryRun = errors.New("--dry_run: the pipeline was translated into a Dataflow job, not submitted")

// Run runs p on the chosen runner and waits for it to finish. A job that
// fails returns a *JobError.
func Run(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	if err := Validate(); err != nil {
		return nil, err
	}
	r := Name()
	warnEmbeddedPrism(r)
	pr, err := beam.Run(ctx, r, p)
	if err != nil {
		return pr, &JobError{Runner: r, Err: err}
	}
	if r == "dataflow" && lookup("dry_run") == "true" {
		return nil, ErrDryRun
	}
	return pr, nil
}
