package testserver

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
)

// NATS is a nats-server process with JetStream on, listening on 127.0.0.1,
// its streams stored in a temp dir that survives Stop/Start.
type NATS struct {
	t       testing.TB
	proc    *Process
	port    int
	monitor int
}

// StartNATS starts nats-server with JetStream on free loopback ports (client
// and monitoring) and waits until its health endpoint answers. The server
// is stopped by t.Cleanup; its output tail is logged if the test fails.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	bin := ToolPath(t, "nats-server")
	base := t.TempDir()
	n := &NATS{t: t, port: FreePort(t), monitor: FreePort(t)}
	args := []string{
		"-a", "127.0.0.1",
		"-p", strconv.Itoa(n.port),
		"-m", strconv.Itoa(n.monitor),
		"-js",
		"-sd", filepath.Join(base, "jetstream"),
		"-n", "thumbpipe-test",
	}
	// /healthz answers 503 until JetStream is ready, so Start waits for it.
	n.proc = NewProcess(t, ProcessOptions{Name: "nats-server", Bin: bin, Args: args, Dir: base, LogDir: base,
		ReadyURL: fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", n.monitor)})
	n.Start()
	return n
}

// Start (re)starts the server on the same ports with the same store and
// waits until it is healthy. Call it from the test goroutine.
func (n *NATS) Start() {
	n.t.Helper()
	n.proc.Start()
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s).
func (n *NATS) Stop() { n.proc.Stop() }

// URL is the client URL, nats://127.0.0.1:PORT.
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Addr is the client address, 127.0.0.1:PORT.
func (n *NATS) Addr() string { return fmt.Sprintf("127.0.0.1:%d", n.port) }

// Process is the underlying process, for tests that kill or inspect it.
func (n *NATS) Process() *Process { return n.proc }
