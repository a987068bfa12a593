package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"google.golang.org/api/option"
)

// GCSOptions configures StartGCSWithOptions. The zero value is what StartGCS
// uses.
type GCSOptions struct {
	// Persistent keeps objects on disk (fake-gcs-server's filesystem backend
	// in a temp dir) so that they survive Stop/Start, as outage tests need.
	// The default memory backend starts empty after every Start. The
	// filesystem backend stores an object "a/b" as a file in directory "a",
	// so it cannot hold both "a" and "a/b".
	Persistent bool
}

// GCS is a fake-gcs-server process (Google Cloud Storage JSON and XML API
// emulator) listening on 127.0.0.1 over plain HTTP.
type GCS struct {
	t    testing.TB
	proc *Process
	port int
}

// StartGCS starts fake-gcs-server with its in-memory backend on a free
// loopback port and waits until its JSON API answers. The server is stopped
// by t.Cleanup; its output tail is logged if the test fails.
func StartGCS(t testing.TB) *GCS {
	t.Helper()
	return StartGCSWithOptions(t, GCSOptions{})
}

// StartGCSWithOptions is StartGCS with options.
func StartGCSWithOptions(t testing.TB, opts GCSOptions) *GCS {
	t.Helper()
	bin := ToolPath(t, "fake-gcs-server")
	base := t.TempDir()
	g := &GCS{t: t, port: FreePort(t)}
	args := []string{
		"-scheme", "http",
		"-host", "127.0.0.1",
		"-port", strconv.Itoa(g.port),
		// URLs the server hands out (upload Location, selfLink, mediaLink)
		// and the host it serves the XML/public API on must be this server.
		"-public-host", g.Addr(),
		"-external-url", g.Endpoint(),
		"-log-level", "info",
	}
	if opts.Persistent {
		args = append(args, "-backend", "filesystem", "-filesystem-root", filepath.Join(base, "data"))
	} else {
		args = append(args, "-backend", "memory")
	}
	g.proc = NewProcess(t, ProcessOptions{Name: "fake-gcs-server", Bin: bin, Args: args, Dir: base, LogDir: base,
		ReadyURL: g.Endpoint() + "/storage/v1/b"})
	g.Start()
	return g
}

// Start (re)starts the server on the same port and waits until it answers.
// With the memory backend it starts empty. Call it from the test goroutine:
// it fails the test on error.
func (g *GCS) Start() {
	g.t.Helper()
	g.proc.Start()
}

// Stop terminates the server and waits for it to exit. Stopping a stopped
// server does nothing.
func (g *GCS) Stop() { g.proc.Stop() }

// Running reports whether the server process is up.
func (g *GCS) Running() bool { return g.proc.Running() }

// Addr is the server's host:port, 127.0.0.1:PORT.
func (g *GCS) Addr() string { return "127.0.0.1:" + strconv.Itoa(g.port) }

// Endpoint is the server's base URL, http://127.0.0.1:PORT (the JSON API is
// under /storage/v1/, uploads under /upload/storage/v1/).
func (g *GCS) Endpoint() string { return "http://" + g.Addr() }

// LogPath is the file the server's stdout and stderr are appended to.
func (g *GCS) LogPath() string { return g.proc.LogPath() }

// EmulatorHost is the value for STORAGE_EMULATOR_HOST: host:port without a
// scheme (cloud.google.com/go/storage would accept http://host:port too, but
// gocloud.dev's gcsblob prepends "http://" itself).
func (g *GCS) EmulatorHost() string { return g.Addr() }

// Env returns the environment that points cloud.google.com/go/storage and
// gocloud.dev's gs:// URLs at this server, for child processes.
func (g *GCS) Env() []string {
	return []string{"STORAGE_EMULATOR_HOST=" + g.EmulatorHost()}
}

// SetEmulatorEnv sets STORAGE_EMULATOR_HOST with t.Setenv (restored after the
// test; not usable in parallel tests), so that blob.OpenBucket(ctx,
// "gs://BUCKET") and storage.NewClient talk to this server unauthenticated.
func (g *GCS) SetEmulatorEnv(t testing.TB) {
	t.Helper()
	t.Setenv("STORAGE_EMULATOR_HOST", g.EmulatorHost())
}

// CreateBucket creates bucket through the JSON API, failing the test on
// error.
func (g *GCS) CreateBucket(t testing.TB, bucket string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": bucket})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.Endpoint()+"/storage/v1/b?project=test", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("testserver: create gcs bucket %q: %v", bucket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("testserver: create gcs bucket %q: %s: %s", bucket, resp.Status, msg)
	}
}

// StorageClient returns an unauthenticated cloud.google.com/go/storage client
// for this server, without relying on STORAGE_EMULATOR_HOST. It is closed by
// t.Cleanup.
func (g *GCS) StorageClient(t testing.TB) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(context.Background(),
		option.WithoutAuthentication(),
		option.WithEndpoint(g.Endpoint()+"/storage/v1/"),
		option.WithHTTPClient(&http.Client{}),
	)
	if err != nil {
		t.Fatalf("testserver: gcs storage client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// OpenBucket opens bucket on this server as a gocloud.dev *blob.Bucket (the
// gcsblob driver over the JSON API) without touching the environment. It is
// closed by t.Cleanup.
func (g *GCS) OpenBucket(t testing.TB, bucket string) *blob.Bucket {
	t.Helper()
	c := g.StorageClient(t)
	b, err := gcsblob.OpenBucket(context.Background(), nil, bucket, &gcsblob.Options{Client: c})
	if err != nil {
		t.Fatalf("testserver: open gcs bucket %q: %v", bucket, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func (g *GCS) String() string { return fmt.Sprintf("fake-gcs-server(%s)", g.Endpoint()) }
