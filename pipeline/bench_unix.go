//go:build unix

package pipeline

import (
	"os"
	"runtime"
	"syscall"
	"time"
)

// processCPU is the user and system CPU time the process has used, all
// its threads included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS is the process's peak resident set size so far, in bytes (0
// where the system does not say).
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return maxrssBytes(ru.Maxrss)
}

// ExitedUsage is the peak RSS, in bytes, and CPU time of a process that
// has exited, from its rusage.
func ExitedUsage(ps *os.ProcessState) (peakRSS int64, cpu time.Duration) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, ps.UserTime() + ps.SystemTime()
	}
	return maxrssBytes(ru.Maxrss), time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxrssBytes converts rusage's ru_maxrss, which Linux and most BSDs give
// in KiB and Darwin in bytes.
func maxrssBytes(v int64) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return v
	}
	return v * 1024
}
