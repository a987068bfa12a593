//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/testserver"
)

// serveProc is `thumbpipe serve` running as a process of its own, so that a
// test can measure its memory and kill it with SIGKILL. It can be started
// again after it stops; peakRSS covers every life.
type serveProc struct {
	t       *testing.T
	bin     string
	env     []string
	addr    string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	lives   int
	peakKiB int64 // highest VmHWM seen over every life
}

// buildThumbpipe builds this package's binary, without the race detector,
// into a temp dir.
func buildThumbpipe(t *testing.T) string {
	t.Helper()
	return testserver.GoBuild(t, ".", "thumbpipe")
}

// newServeProc prepares `bin serve` with env (KEY=value, added to the test's
// environment) on a free loopback port; start runs it.
func newServeProc(t *testing.T, bin string, env map[string]string) *serveProc {
	t.Helper()
	p := &serveProc{t: t, bin: bin, addr: fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)),
		logPath: filepath.Join(t.TempDir(), "serve.log")}
	p.env = append(p.env, "THUMBPIPE_LISTEN="+p.addr, "THUMBPIPE_LOG_FORMAT=json")
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog(40)
		}
	})
	return p
}

func (p *serveProc) base() string { return "http://" + p.addr }

// start runs the server and waits until /healthz answers.
func (p *serveProc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, "serve")
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("start serve: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.lives++
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := testserver.WaitHTTP(ctx, p.base()+"/healthz"); err != nil {
		p.dumpLog(40)
		p.t.Fatalf("serve did not start: %v", err)
	}
}

// pid returns the running server's process ID, or 0.
func (p *serveProc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
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

// end signals the server and waits for it to exit (SIGKILL after 10 s).
func (p *serveProc) end(sig syscall.Signal) {
	p.sample()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
		return
	case <-time.After(10 * time.Second):
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// kill ends the server with SIGKILL: requests in flight are lost.
func (p *serveProc) kill() { p.end(syscall.SIGKILL) }

// stop ends the server with SIGTERM, as an orchestrator does.
func (p *serveProc) stop() { p.end(syscall.SIGTERM) }

// log returns the server's output so far.
func (p *serveProc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *serveProc) dumpLog(n int) {
	lines := strings.Split(strings.TrimSpace(p.log()), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	p.t.Logf("last lines of serve's output:\n%s", strings.Join(lines, "\n"))
}
