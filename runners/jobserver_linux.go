package runners

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill the job server if this process dies
// without calling Stop (a test binary hitting its timeout, say).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
