// Package testserver starts the real servers that thumbpipe's integration
// tests run against — MinIO (S3), fake-gcs-server (Google Cloud Storage) and
// the AWS Lambda runtime interface emulator — each as a separate process on a
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

// proc runs one server binary, restartable, with its output appended to a
// log file whose tail is logged when the test fails.
type proc struct {
	t       testing.TB
	name    string
	bin     string
	args    []string
	env     []string // added to os.Environ()
	dir     string   // working directory ("" = inherit)
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

func newProc(t testing.TB, name, bin string, args, env []string, logDir string) *proc {
	p := &proc{
		t:       t,
		name:    name,
		bin:     bin,
		args:    args,
		env:     env,
		logPath: filepath.Join(logDir, name+".log"),
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv(VerboseEnv) != "" {
			p.dumpLog(80)
		}
		p.stop()
	})
	return p
}

// start launches the process and waits until readyURL answers. It fails the
// test (with the log tail) if the process exits or does not answer in time.
func (p *proc) start(readyURL string) {
	p.t.Helper()
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		p.t.Fatalf("testserver: %s already running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		p.t.Fatalf("testserver: %s log: %v", p.name, err)
	}
	fmt.Fprintf(f, "=== %s start: %s %s\n", time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), p.env...)
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		p.mu.Unlock()
		p.t.Fatalf("testserver: start %s: %v", p.name, err)
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
	if err := waitHTTP(ctx, readyURL, exited); err != nil {
		p.dumpLog(80)
		p.stop()
		p.t.Fatalf("testserver: %s did not become ready: %v", p.name, err)
	}
}

// stop terminates the process (SIGTERM to its process group, SIGKILL after
// 10 s) and waits for it. It is a no-op when the process is not running.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd, p.exited = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	terminate(cmd)
	select {
	case <-exited:
		return
	case <-time.After(10 * time.Second):
	}
	kill(cmd)
	<-exited
}

// running reports whether the process is started and has not exited.
func (p *proc) running() bool {
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

// dumpLog logs the last n lines of the process output.
func (p *proc) dumpLog(n int) {
	f, err := os.Open(p.logPath)
	if err != nil {
		p.t.Logf("testserver: %s log unavailable: %v", p.name, err)
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
	p.t.Logf("testserver: last %d lines of %s output (%s):\n%s", len(lines), p.name, p.logPath, strings.Join(lines, "\n"))
}
