//go:build !unix

package testserver

import (
	"os/exec"
	"syscall"
)

func setProcAttr(*exec.Cmd) {}

// signalGroup kills the process whatever sig is: there are no process groups
// to signal.
func signalGroup(cmd *exec.Cmd, _ syscall.Signal) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
