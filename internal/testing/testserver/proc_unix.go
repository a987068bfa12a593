//go:build unix

package testserver

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the server in its own process group so that stopping it
// also stops anything it spawned (the Lambda emulator runs the function as a
// child process).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(cmd.SysProcAttr)
}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		_ = cmd.Process.Signal(sig)
	}
}
