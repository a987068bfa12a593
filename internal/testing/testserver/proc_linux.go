//go:build linux

package testserver

import "syscall"

// setPdeathsig makes the kernel kill the server if the test process dies
// without running its cleanups (e.g. on a test timeout panic).
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
