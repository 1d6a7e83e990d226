//go:build !unix

package pipeline

import (
	"os"
	"time"
)

// processCPU is not measured on this system.
func processCPU() time.Duration { return 0 }

// PeakRSS is not known on this system.
func PeakRSS() int64 { return 0 }

// ExitedUsage gives the CPU time of a process that has exited; its peak
// RSS is not known on this system.
func ExitedUsage(ps *os.ProcessState) (peakRSS int64, cpu time.Duration) {
	return 0, ps.UserTime() + ps.SystemTime()
}
