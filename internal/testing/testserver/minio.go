package testserver

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIORegion is the region MinIO runs as and BucketURL/Env announce.
const MinIORegion = "us-east-1"

// MinIOOptions configures StartMinIO. The zero value is fine.
type MinIOOptions struct {
	// RootUser and RootPassword are the server's root credentials, also used
	// as the S3 access key and secret key. Default minioadmin/minioadmin.
	RootUser     string
	RootPassword string
	// Env is extra environment for the server process, e.g. the
	// MINIO_NOTIFY_WEBHOOK_ENABLE_<ID>/MINIO_NOTIFY_WEBHOOK_ENDPOINT_<ID>
	// variables that configure bucket notification targets.
	Env map[string]string
}

// MinIO is a real MinIO server process listening on 127.0.0.1.
type MinIO struct {
	t        testing.TB
	proc     *Process
	port     int
	dataDir  string
	user     string
	password string
	client   *minio.Client
}

// StartMinIO starts `minio server` on a free loopback port with a fresh data
// dir under t.TempDir() and waits until /minio/health/live answers. The
// server is stopped by t.Cleanup; its output goes to a log file whose tail is
// logged if the test fails.
func StartMinIO(t testing.TB, opts MinIOOptions) *MinIO {
	t.Helper()
	bin := ToolPath(t, "minio")
	if opts.RootUser == "" {
		opts.RootUser = "minioadmin"
	}
	if opts.RootPassword == "" {
		opts.RootPassword = "minioadmin"
	}
	base := t.TempDir()
	m := &MinIO{
		t:        t,
		port:     FreePort(t),
		dataDir:  filepath.Join(base, "data"),
		user:     opts.RootUser,
		password: opts.RootPassword,
	}
	for _, d := range []string{m.dataDir, filepath.Join(base, "certs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testserver: %v", err)
		}
	}
	consolePort := FreePort(t)
	args := []string{
		"server", m.dataDir,
		"--address", m.Addr(),
		"--console-address", "127.0.0.1:" + strconv.Itoa(consolePort),
		"--certs-dir", filepath.Join(base, "certs"),
	}
	env := []string{
		"MINIO_ROOT_USER=" + m.user,
		"MINIO_ROOT_PASSWORD=" + m.password,
		"MINIO_REGION=" + MinIORegion,
		"MINIO_UPDATE=off",
		"MINIO_BROWSER=off",
	}
	keys := make([]string, 0, len(opts.Env))
	for k := range opts.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+opts.Env[k])
	}
	m.proc = NewProcess(t, ProcessOptions{Name: "minio", Bin: bin, Args: args, Env: env, LogDir: base,
		ReadyURL: m.Endpoint() + "/minio/health/live"})
	m.Start()

	client, err := minio.New(m.Addr(), &minio.Options{
		Creds:  credentials.NewStaticV4(m.user, m.password, ""),
		Secure: false,
		Region: MinIORegion,
	})
	if err != nil {
		t.Fatalf("testserver: minio client: %v", err)
	}
	m.client = client
	return m
}

// Start (re)starts the server on the same port and data dir and waits until
// it is live. Data written before Stop is still there. Call it from the test
// goroutine: it fails the test on error.
func (m *MinIO) Start() {
	m.t.Helper()
	m.proc.Start()
}

// Stop terminates the server and waits for it to exit; requests fail until
// Start is called. Stopping a stopped server does nothing.
func (m *MinIO) Stop() { m.proc.Stop() }

// Running reports whether the server process is up.
func (m *MinIO) Running() bool { return m.proc.Running() }

// Addr is the server's host:port, 127.0.0.1:PORT.
func (m *MinIO) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

// Endpoint is the server's base URL, http://127.0.0.1:PORT.
func (m *MinIO) Endpoint() string { return "http://" + m.Addr() }

// Port is the server's TCP port.
func (m *MinIO) Port() int { return m.port }

// DataDir is the directory the server keeps its data in.
func (m *MinIO) DataDir() string { return m.dataDir }

// LogPath is the file the server's stdout and stderr are appended to.
func (m *MinIO) LogPath() string { return m.proc.LogPath() }

// Credentials returns the access key and secret key (the root user).
func (m *MinIO) Credentials() (accessKey, secretKey string) { return m.user, m.password }

// Client returns a minio-go client for the server, authenticated as root.
func (m *MinIO) Client() *minio.Client { return m.client }

// BucketURL returns a gocloud.dev s3blob URL for bucket on this server:
//
//	s3://BUCKET?endpoint=http://127.0.0.1:PORT&region=us-east-1&use_path_style=true&disable_https=true
//
// Opening it needs the credentials in the environment: see SetAWSEnv / Env.
func (m *MinIO) BucketURL(bucket string) string {
	q := url.Values{}
	q.Set("endpoint", m.Endpoint())
	q.Set("region", MinIORegion)
	q.Set("use_path_style", "true")
	q.Set("disable_https", "true")
	return (&url.URL{Scheme: "s3", Host: bucket, RawQuery: q.Encode()}).String()
}

// Env returns the AWS SDK environment that makes BucketURL open against this
// server: static credentials, the region, and no shared config/profile or
// instance-metadata lookups. Use it for child processes (exec.Cmd.Env).
func (m *MinIO) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + m.user,
		"AWS_SECRET_ACCESS_KEY=" + m.password,
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + MinIORegion,
		"AWS_DEFAULT_REGION=" + MinIORegion,
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SetAWSEnv sets Env in the current process with t.Setenv (restored after
// the test; not usable in parallel tests).
func (m *MinIO) SetAWSEnv(t testing.TB) {
	t.Helper()
	for _, kv := range m.Env() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				t.Setenv(kv[:i], kv[i+1:])
				break
			}
		}
	}
}

// CreateBucket creates bucket on the server, failing the test on error.
func (m *MinIO) CreateBucket(t testing.TB, bucket string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: MinIORegion}); err != nil {
		t.Fatalf("testserver: create minio bucket %q: %v", bucket, err)
	}
}

func (m *MinIO) String() string { return fmt.Sprintf("minio(%s)", m.Endpoint()) }
