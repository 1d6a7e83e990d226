// Package runners chooses and checks the Beam runner a dpmr job runs on:
// prism embedded in the process (the default), the direct runner, a
// portable job service (Flink, Spark, or a standalone prism) or Dataflow.
package runners

import (
	"context"
	"flag"
	"fmt"
	"strings"

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

// Default is the runner used when --runner is not given.
const Default = "prism"

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
	switch r := Name(); r {
	case "prism", "direct":
		return nil
	case "universal", "flink", "spark":
		if *jobopts.Endpoint == "" {
			return fmt.Errorf("--runner=%s needs --endpoint=HOST:PORT of the job service (e.g. Flink's or Spark's job server)", r)
		}
	case "dataflow":
		var missing []string
		if *gcpopts.Project == "" {
			missing = append(missing, "--project")
		}
		if *gcpopts.Region == "" {
			missing = append(missing, "--region")
		}
		if lookup("staging_location") == "" {
			missing = append(missing, "--staging_location")
		}
		if len(missing) > 0 {
			return fmt.Errorf("--runner=dataflow needs %s", strings.Join(missing, ", "))
		}
	default:
		return fmt.Errorf("--runner=%s is not one of prism (default), direct, universal, flink, spark, dataflow", r)
	}
	if *jobopts.Async {
		return fmt.Errorf("--async cannot be used: the driver must wait for each iteration before the next")
	}
	return nil
}

func lookup(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// Run runs p on the chosen runner and waits for it to finish.
func Run(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	if err := Validate(); err != nil {
		return nil, err
	}
	return beam.Run(ctx, Name(), p)
}
