package transforms

import (
	"context"
	"runtime"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// A keyed stage built to time its keys (DistributeParams.KeyLoads, and the
// pipeline's RestoreFromIndex) reports each key's cost as a counter of its
// own: the CPU time its call took, which is what a worker holding that key
// spends on it. dpmr bench reads them to check dpmr plan, which predicts
// the same loads from the index's counts. A counter per key is too many
// for a production job, so training never sets it.

// The stages whose keys are timed, as their counters name them.
const (
	DistributeStage = "DistributeParameters" // keyed by parameter partition
	RestoreStage    = "RestoreDocuments"     // keyed by index block shard
)

const keyLoadMark = ".key_cpu_ns/"

// KeyLoad is one key's call being timed.
type KeyLoad struct{ t0 int64 }

// StartKeyLoad starts timing a call: it locks the goroutine to its thread
// and reads the thread's CPU clock (threadCPU), so that neither the time
// spent waiting (on the runner, on other bundles) nor other goroutines'
// work counts, only this call's, downstream work fused into it included.
func StartKeyLoad() KeyLoad {
	runtime.LockOSThread()
	return KeyLoad{threadCPU()}
}

// Report adds the call's CPU time to key's counter in stage and unlocks
// the thread. A key's calls in several steps of a pass (subspace's two
// trips) add up.
func (l KeyLoad) Report(ctx context.Context, stage string, key int32) {
	ns := threadCPU() - l.t0
	runtime.UnlockOSThread()
	beam.NewCounter(MetricsNamespace, stage+keyLoadMark+strconv.Itoa(int(key))).Inc(ctx, ns)
}

// ParseKeyLoad reads a counter's name as Report writes it.
func ParseKeyLoad(name string) (stage string, key int32, ok bool) {
	stage, k, ok := strings.Cut(name, keyLoadMark)
	if !ok {
		return "", 0, false
	}
	n, err := strconv.ParseInt(k, 10, 32)
	return stage, int32(n), err == nil
}
