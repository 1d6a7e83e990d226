//go:build !linux

package runners

import "os/exec"

// setDeathSignal does nothing here: only Linux can tie a child's life to
// its parent's, so a job server outlives a process that dies without Stop.
func setDeathSignal(*exec.Cmd) {}
