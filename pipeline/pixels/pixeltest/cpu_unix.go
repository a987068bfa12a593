//go:build unix

package pixeltest

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the CPU time, user and system, the process has used so far
// (getrusage): around a call, what the call cost in CPU, a resource bound
// rather than a wall-clock timing.
func CPUTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
