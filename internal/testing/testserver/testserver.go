// Package testserver starts the real servers that thumbpipe's integration
// tests run against — MinIO (S3), fake-gcs-server (Google Cloud Storage),
// the AWS Lambda runtime interface emulator and nats-server (JetStream) — each as a separate process on a
// free loopback port, torn down by t.Cleanup.
//
// The binaries are installed by scripts/install-test-tools.sh (make
// test-tools) into ${THUMBPIPE_TOOLS_DIR:-$HOME/.cache/thumbpipe/tools}. When a
// binary is missing a test is skipped locally, but fails when CI is set, so
// CI can never pass by skipping.
//
// The package is test support only: import it from _test.go files.
package testserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// VerboseEnv, when non-empty, makes every server log the tail of its output
// at cleanup even when the test passed (it is always logged on failure).
const VerboseEnv = "THUMBPIPE_TESTSERVER_LOGS"

// ToolsDirEnv names the environment variable that overrides the tools dir.
const ToolsDirEnv = "THUMBPIPE_TOOLS_DIR"

// ToolsDir returns the directory scripts/install-test-tools.sh installs into:
// $THUMBPIPE_TOOLS_DIR, or $HOME/.cache/thumbpipe/tools.
func ToolsDir() string {
	if d := os.Getenv(ToolsDirEnv); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "thumbpipe", "tools")
}

// ToolPath returns the path of the named test binary (minio, aws-lambda-rie,
// fake-gcs-server), looked up first in ToolsDir and then on PATH. If it is
// missing the test fails when the CI environment variable is non-empty and
// is skipped otherwise.
func ToolPath(t testing.TB, name string) string {
	t.Helper()
	if d := ToolsDir(); d != "" {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("test binary %q not found in %s or on PATH; run `make test-tools` (scripts/install-test-tools.sh)", name, ToolsDir())
	if os.Getenv("CI") != "" {
		t.Fatalf("%s", msg)
	}
	t.Skipf("%s", msg)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (it
// listens on port 0 and closes the listener). Another process may still take
// it before it is used; the start functions notice that as a failed start.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: pick free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitHTTP polls url with GET until it answers with a status below 500, or
// ctx ends. It returns the last error seen when ctx ends.
func WaitHTTP(ctx context.Context, url string) error {
	return waitHTTP(ctx, url, nil)
}

// waitHTTP is WaitHTTP that also gives up early when exited is closed (the
// server process died).
func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	delay := 20 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", url, ctx.Err(), last)
		case <-exited:
			return fmt.Errorf("waiting for %s: server process exited (last: %v)", url, last)
		case <-time.After(delay):
		}
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

// startTimeout bounds how long a server may take to answer after start.
const startTimeout = 60 * time.Second

// ProcessOptions describes a server process for NewProcess.
type ProcessOptions struct {
	Name     string   // names the log file (Name.log) and the messages
	Bin      string   // the binary to run
	Args     []string // its arguments
	Env      []string // KEY=value, added to os.Environ()
	Dir      string   // working directory ("" = inherit)
	LogDir   string   // where the log file goes ("" = a t.TempDir())
	ReadyURL string   // Start waits until a GET of it answers below 500
}

// Process runs one server binary in its own process group (killed with the
// test process on Linux), restartable, with its output appended to a log
// file whose tail is logged when the test fails. Stopping signals the whole
// group, so anything the server spawned ends with it.
type Process struct {
	t       testing.TB
	opts    ProcessOptions
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// NewProcess prepares a process; Start runs it. t.Cleanup stops it and, if
// the test failed (or VerboseEnv is set), logs the tail of its output.
func NewProcess(t testing.TB, opts ProcessOptions) *Process {
	if opts.LogDir == "" {
		opts.LogDir = t.TempDir()
	}
	p := &Process{t: t, opts: opts, logPath: filepath.Join(opts.LogDir, opts.Name+".log")}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv(VerboseEnv) != "" {
			p.dumpLog(80)
		}
		p.Stop()
	})
	return p
}

// Start launches the process and waits until ReadyURL answers. It fails the
// test (with the log tail) if the process exits or does not answer in time.
// Call it from the test goroutine.
func (p *Process) Start() {
	p.t.Helper()
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		p.t.Fatalf("testserver: %s already running", p.opts.Name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		p.t.Fatalf("testserver: %s log: %v", p.opts.Name, err)
	}
	fmt.Fprintf(f, "=== %s start: %s %s\n", time.Now().Format(time.RFC3339Nano), p.opts.Bin, strings.Join(p.opts.Args, " "))
	cmd := exec.Command(p.opts.Bin, p.opts.Args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Dir = p.opts.Dir
	cmd.Env = append(os.Environ(), p.opts.Env...)
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		p.mu.Unlock()
		p.t.Fatalf("testserver: start %s: %v", p.opts.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== %s exit: %v\n", time.Now().Format(time.RFC3339Nano), err)
		f.Close()
		close(exited)
	}()
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitHTTP(ctx, p.opts.ReadyURL, exited); err != nil {
		p.dumpLog(80)
		p.Stop()
		p.t.Fatalf("testserver: %s did not become ready: %v", p.opts.Name, err)
	}
}

// Stop terminates the process with SIGTERM; see StopWith.
func (p *Process) Stop() { p.StopWith(syscall.SIGTERM) }

// StopWith sends sig to the process group, sends SIGKILL if the process has
// not exited 10 s later, and waits for it. It is a no-op when the process is
// not running. (Where there are no signals the process is killed.)
func (p *Process) StopWith(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd, p.exited = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	signalGroup(cmd, sig)
	select {
	case <-exited:
		return
	case <-time.After(10 * time.Second):
	}
	signalGroup(cmd, syscall.SIGKILL)
	<-exited
}

// Running reports whether the process is started and has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// PID is the process ID of the running process, or 0 when it is stopped.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// LogPath is the file the process's stdout and stderr are appended to, over
// every start.
func (p *Process) LogPath() string { return p.logPath }

// dumpLog logs the last n lines of the process output.
func (p *Process) dumpLog(n int) {
	f, err := os.Open(p.logPath)
	if err != nil {
		p.t.Logf("testserver: %s log unavailable: %v", p.opts.Name, err)
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = append(lines[:0], lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	p.t.Logf("testserver: last %d lines of %s output (%s):\n%s", len(lines), p.opts.Name, p.logPath, strings.Join(lines, "\n"))
}
