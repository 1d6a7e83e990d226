package pipeline

import (
	"fmt"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/dpmr/dpmr/runners"
)

var beamInit sync.Mutex

// InitBeam initializes Beam (beam.Init) for a program that uses this
// package as a library, unless Beam is initialized already, and reports
// whether it did. Beam then writes its own log lines of the given level
// and above to stderr: "warn" keeps out the account every runner gives at
// INFO of every job it runs (Train runs one per pass); "info" or "debug"
// shows it. Train, RunPredict and NewBench call InitBeam("warn") first,
// so a program calls it only to see more; one that calls beam.Init
// itself, as a program whose workers run elsewhere must (see the package
// documentation), sets beamlog.LogLevel before it instead.
func InitBeam(level string) (bool, error) {
	switch level {
	case "debug", "info", "warn", "error":
	default:
		return false, fmt.Errorf("Beam log level %q is not debug, info, warn or error", level)
	}
	beamInit.Lock()
	defer beamInit.Unlock()
	if beam.Initialized() {
		return false, nil
	}
	beamlog.LogLevel = level
	beam.Init()
	return true, nil
}

// runner is r, or runners.Run for nil, with Beam initialized.
func runner(r Runner) Runner {
	InitBeam("warn")
	if r == nil {
		return runners.Run
	}
	return r
}
