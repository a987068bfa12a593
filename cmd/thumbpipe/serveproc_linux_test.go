//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
)

// serveProc is `thumbpipe serve` running as a process of its own, so that a
// test can measure its memory and kill it with SIGKILL. It can be started
// again after it stops; peakRSS covers every life.
type serveProc struct {
	t    *testing.T
	bin  string
	env  []string // may be added to until the first start
	addr string
	proc *testserver.Process // made by the first start

	mu      sync.Mutex
	lives   int
	peakKiB int64 // highest VmHWM seen over every life
}

// buildThumbpipe builds this package's binary, without the race detector,
// into a temp dir.
func buildThumbpipe(t testing.TB) string {
	t.Helper()
	return testserver.GoBuild(t, ".", "thumbpipe")
}

// newServeProc prepares `bin serve` with env (KEY=value, added to the test's
// environment) on a free loopback port; start runs it. Its output's tail is
// logged if the test fails.
func newServeProc(t *testing.T, bin string, env map[string]string) *serveProc {
	t.Helper()
	p := &serveProc{t: t, bin: bin, addr: fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))}
	p.env = append(p.env, "THUMBPIPE_LISTEN="+p.addr, "THUMBPIPE_LOG_FORMAT=json")
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	return p
}

func (p *serveProc) base() string { return "http://" + p.addr }

// start runs the server and waits until /healthz answers.
func (p *serveProc) start() {
	p.t.Helper()
	if p.proc == nil {
		p.proc = testserver.NewProcess(p.t, testserver.ProcessOptions{Name: "serve", Bin: p.bin,
			Args: []string{"serve"}, Env: p.env, ReadyURL: p.base() + "/healthz"})
	}
	p.proc.Start()
	p.mu.Lock()
	p.lives++
	p.mu.Unlock()
}

// pid returns the running server's process ID, or 0.
func (p *serveProc) pid() int {
	if p.proc == nil {
		return 0
	}
	return p.proc.PID()
}

// status reads a "kB" field of /proc/<pid>/status (VmRSS, VmHWM), in KiB.
func (p *serveProc) status(field string) int64 {
	pid := p.pid()
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// sample records the current life's peak RSS (VmHWM only grows within a
// life, so sampling right before the process ends catches its peak).
func (p *serveProc) sample() {
	hwm := p.status("VmHWM")
	p.mu.Lock()
	p.peakKiB = max(p.peakKiB, hwm)
	p.mu.Unlock()
}

// peakRSS is the highest resident set size of any life so far, in bytes.
func (p *serveProc) peakRSS() int64 {
	p.sample()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peakKiB * 1024
}

// end samples the peak RSS, then signals the server and waits for it to
// exit (SIGKILL after 10 s).
func (p *serveProc) end(sig syscall.Signal) {
	p.sample()
	if p.proc != nil {
		p.proc.StopWith(sig)
	}
}

// kill ends the server with SIGKILL: requests in flight are lost.
func (p *serveProc) kill() { p.end(syscall.SIGKILL) }
