package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// testToken is a webhook token serve accepts.
const testToken = "serve-test-token-0123456789"

// webhookBody is a MinIO-style event for one key, escaped as MinIO does.
func webhookBody(event, bucket, key string) string {
	return fmt.Sprintf(`{"EventName":%q,"Key":%q,"Records":[{"eventName":%q,"s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`,
		event, bucket+"/"+key, event, bucket, url.QueryEscape(key))
}

// startServe runs `thumbpipe serve` in-process until the test ends and
// returns its base URL once /healthz answers.
func startServe(t *testing.T, envm map[string]string, args ...string) (base string, stop func() error, logs *testserver.Buffer) {
	t.Helper()
	port := testserver.FreePort(t)
	envm["THUMBPIPE_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	logs = &testserver.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), func(k string) string { return envm[k] }, io.Discard, logs)
	}()
	var once bool
	var result error
	stop = func() error {
		if !once {
			once = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { stop() })
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := testserver.WaitHTTP(wctx, base+"/healthz"); err != nil {
		t.Fatalf("serve did not start: %v\n%s", err, logs)
	}
	return base, stop, logs
}

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	return send(t, http.MethodPost, url, token, body)
}

// send makes a request with the bearer token, if any, and returns the
// response's status and body.
func send(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeRefusesBadConfig(t *testing.T) {
	good := map[string]string{
		"THUMBPIPE_WEBHOOK_TOKEN": testToken,
		"THUMBPIPE_BUCKET_URL":    "mem://{bucket}",
		"THUMBPIPE_BUCKETS":       "images",
	}
	tests := []struct {
		name string
		set  map[string]string
		args []string
		want string
	}{
		{"no token", map[string]string{"THUMBPIPE_WEBHOOK_TOKEN": ""}, nil, "THUMBPIPE_WEBHOOK_TOKEN"},
		{"no bucket url", map[string]string{"THUMBPIPE_BUCKET_URL": ""}, nil, "THUMBPIPE_BUCKET_URL"},
		{"no {bucket}", map[string]string{"THUMBPIPE_BUCKET_URL": "mem://"}, nil, "{bucket}"},
		{"no buckets", map[string]string{"THUMBPIPE_BUCKETS": " , "}, nil, "THUMBPIPE_BUCKETS"},
		{"bad workers", map[string]string{"THUMBPIPE_WORKERS": "0"}, nil, "THUMBPIPE_WORKERS"},
		{"bad body limit", map[string]string{"THUMBPIPE_MAX_BODY_BYTES": "lots"}, nil, "THUMBPIPE_MAX_BODY_BYTES"},
		{"bad timeout", map[string]string{"THUMBPIPE_PROCESS_TIMEOUT": "soon"}, nil, "THUMBPIPE_PROCESS_TIMEOUT"},
		{"bad pipeline config", map[string]string{"THUMBPIPE_SIZES": "huge"}, nil, "THUMBPIPE_SIZES"},
		{"token and no auth", nil, []string{"--insecure-no-auth"}, "pick one"},
		{"arguments", nil, []string{"extra"}, "no arguments"},
		{"bad listen address", map[string]string{"THUMBPIPE_LISTEN": "256.0.0.1:1"}, nil, "listen"},
		{"example token", map[string]string{"THUMBPIPE_WEBHOOK_TOKEN": "local-dev-token-change-me"}, nil, "example token"},
		{"short token", map[string]string{"THUMBPIPE_WEBHOOK_TOKEN": "fifteen-chars-x"}, nil, "15 characters; use at least 16"},
		{"log format typo", map[string]string{"THUMBPIPE_LOG_FORMAT": "jsno"}, nil, `THUMBPIPE_LOG_FORMAT: "jsno": want json, text or auto`},
		{"bad metrics address", map[string]string{"THUMBPIPE_METRICS_LISTEN": "256.0.0.1:1"}, nil, "listen for metrics"},
		{"bad attempts", map[string]string{"THUMBPIPE_MAX_ATTEMPTS": "0"}, nil, "THUMBPIPE_MAX_ATTEMPTS"},
		{"bad event age", map[string]string{"THUMBPIPE_MAX_EVENT_AGE": "-1h"}, nil, "THUMBPIPE_MAX_EVENT_AGE"},
		{"bad memory limit", map[string]string{"THUMBPIPE_MEMORY_LIMIT": "0"}, nil, "THUMBPIPE_MEMORY_LIMIT"},
		{"a problem of the settings and one of the webhook", map[string]string{"THUMBPIPE_MAX_RECORDS": "none", "THUMBPIPE_BUCKETS": ""}, nil,
			"THUMBPIPE_BUCKETS (--buckets: the buckets whose events are accepted): the bucket allow-list is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			envm := maps.Clone(good)
			maps.Copy(envm, tc.set)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _, err := runCmd(ctx, t, envm, append([]string{"serve"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestServeMinIOSetupLast checks that serve --minio-setup touches MinIO
// only after the webhook's config is valid and its port is listened on.
func TestServeMinIOSetupLast(t *testing.T) {
	var requests atomic.Int64
	minio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusForbidden)
	}))
	defer minio.Close()
	good := map[string]string{
		"THUMBPIPE_WEBHOOK_TOKEN":  testToken,
		"THUMBPIPE_BUCKET_URL":     "mem://{bucket}",
		"THUMBPIPE_BUCKETS":        "images",
		"THUMBPIPE_MINIO_ENDPOINT": minio.URL,
		"THUMBPIPE_MINIO_WAIT":     "2s",
		"AWS_ACCESS_KEY_ID":        "k",
		"AWS_SECRET_ACCESS_KEY":    "s",
	}
	tests := []struct {
		name      string
		set       map[string]string
		args      []string
		want      string
		reachesIt bool // minio-setup runs
	}{
		{"valid config", nil, nil, "refused the credentials", true},
		{"no {bucket}", map[string]string{"THUMBPIPE_BUCKET_URL": "mem://"}, nil, "{bucket}", false},
		{"token and no auth", nil, []string{"--insecure-no-auth"}, "pick one", false},
		{"bad bucket name", map[string]string{"THUMBPIPE_BUCKETS": "a&b"}, nil, "not valid", false},
		{"bad output bucket", map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "nope://x"}, nil, "nope", false},
		{"bad listen address", map[string]string{"THUMBPIPE_LISTEN": "256.0.0.1:1"}, nil, "listen", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			envm := map[string]string{"THUMBPIPE_LISTEN": fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))}
			maps.Copy(envm, good)
			maps.Copy(envm, tc.set)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			before := requests.Load()
			_, _, err := runCmd(ctx, t, envm, append([]string{"serve", "--minio-setup"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
			if reached := requests.Load() > before; reached != tc.reachesIt {
				t.Errorf("MinIO was asked: %v, want %v", reached, tc.reachesIt)
			}
		})
	}
}

func TestServeFlagsWinOverEnv(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "images", "a.jpg"), pixeltest.JPEG(pixeltest.Photo(300, 200, 1), 85))
	envm := map[string]string{
		"THUMBPIPE_WEBHOOK_TOKEN": "token-from-the-env",
		"THUMBPIPE_BUCKET_URL":    "mem://{bucket}",
		"THUMBPIPE_BUCKETS":       "nothing",
		"THUMBPIPE_SIZES":         "100x100",
	}
	base, stop, logs := startServe(t, envm, "--token", "token-from-the-flag", "--buckets", "images",
		"--bucket-url", "file://"+filepath.ToSlash(dir)+"/{bucket}", "--sizes", "50x50", "--log-format", "json")
	body := webhookBody("s3:ObjectCreated:Put", "images", "a.jpg")
	if status, resp := post(t, base+"/webhook", "token-from-the-env", body); status != 401 {
		t.Errorf("env token: %d %s, want 401", status, resp)
	}
	if status, resp := post(t, base+"/webhook", "token-from-the-flag", body); status != 200 || !strings.Contains(resp, `"processed"`) {
		t.Errorf("flag token: %d %s, want 200 processed", status, resp)
	}
	if _, err := os.Stat(filepath.Join(dir, "images", "thumbnails", "50x50", "a.jpg")); err != nil {
		t.Errorf("the --sizes flag did not win: %v", err)
	}
	if err := stop(); err != nil {
		t.Errorf("serve: %v", err)
	}
	for _, want := range []string{`"msg":"serving"`, `"msg":"done"`, `"outcome":"done"`, `"msg":"stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestServeInsecureNoAuth(t *testing.T) {
	envm := map[string]string{"THUMBPIPE_BUCKET_URL": "mem://{bucket}", "THUMBPIPE_BUCKETS": "images"}
	base, _, logs := startServe(t, envm, "--insecure-no-auth")
	if status, resp := post(t, base+"/webhook", "", `{"Records":[]}`); status != 200 {
		t.Errorf("no token: %d %s, want 200", status, resp)
	}
	if !strings.Contains(logs.String(), "WITHOUT authentication") {
		t.Errorf("no warning in logs:\n%s", logs)
	}
}

// TestServeFinishesInFlight cancels serve's context (as SIGTERM does) while
// a request is being received and checks that it is still answered.
func TestServeFinishesInFlight(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "images", "a.jpg"), pixeltest.JPEG(pixeltest.Photo(400, 300, 1), 85))
	envm := map[string]string{
		"THUMBPIPE_WEBHOOK_TOKEN": testToken,
		"THUMBPIPE_BUCKET_URL":    "file://" + filepath.ToSlash(dir) + "/{bucket}",
		"THUMBPIPE_BUCKETS":       "images",
	}
	base, stop, _ := startServe(t, envm)
	pr, pw := io.Pipe()
	answered := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhook", pr)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()
	body := webhookBody("s3:ObjectCreated:Put", "images", "a.jpg")
	pw.Write([]byte(body[:10]))
	waitMetric(t, base, "thumbpipe_webhook_requests_in_flight", 1)

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Shutdown closes the listener first: new connections are refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := http.Get(base + "/healthz"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections while shutting down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("serve returned (%v) with a request in flight", err)
	default:
	}
	pw.Write([]byte(body[10:]))
	pw.Close()
	if got := <-answered; !strings.HasPrefix(got, "200 ") || !strings.Contains(got, `"processed"`) {
		t.Errorf("in-flight request: %s", got)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// waitMetric polls /metrics until the sample name has value want.
func waitMetric(t *testing.T, base, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := metricValue(base, name)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (%v), want %v", name, got, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricValue reads one sample from /metrics, e.g.
// thumbpipe_events_total{outcome="processed"}.
func metricValue(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(name+" ")); ok {
			var f float64
			_, err := fmt.Sscan(string(v), &f)
			return f, err
		}
	}
	return 0, errors.New("no sample " + name)
}

func TestHealthcheck(t *testing.T) {
	envm := map[string]string{"THUMBPIPE_WEBHOOK_TOKEN": testToken, "THUMBPIPE_BUCKET_URL": "mem://{bucket}", "THUMBPIPE_BUCKETS": "images"}
	base, stop, _ := startServe(t, envm)
	port := base[strings.LastIndex(base, ":")+1:]
	ctx := context.Background()
	for _, listen := range []string{":" + port, "0.0.0.0:" + port, "127.0.0.1:" + port} {
		if _, _, err := runCmd(ctx, t, map[string]string{"THUMBPIPE_LISTEN": listen}, "serve", "--healthcheck"); err != nil {
			t.Errorf("healthcheck of %s: %v", listen, err)
		}
	}
	stop()
	if _, _, err := runCmd(ctx, t, map[string]string{}, "serve", "--healthcheck", "--listen", "127.0.0.1:"+port); err == nil {
		t.Error("healthcheck of a stopped server passed")
	}
	if _, _, err := runCmd(ctx, t, map[string]string{}, "serve", "--healthcheck", "--listen", "nonsense"); !errors.Is(err, errUsage) {
		t.Errorf("healthcheck of a bad address: %v", err)
	}
}
