//go:build !linux

package transforms

import "time"

// threadCPU falls back to the wall clock where there is no thread CPU
// clock to read: waits then count too.
func threadCPU() int64 { return time.Now().UnixNano() }
