package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestWarnsAboutUnknownVariables: every command warns at start about a
// THUMBPIPE_* variable it does not read, naming the closest known one, and
// stays quiet about the ones it reads and the tests' own.
func TestWarnsAboutUnknownVariables(t *testing.T) {
	tests := []struct {
		args    []string
		environ []string
		want    string // in stderr; "" = no warning
	}{
		{[]string{"process", "--bucket", "mem://", "a.jpg"}, []string{"THUMBPIPE_SIZE=64x64"}, "THUMBPIPE_SIZE is not a thumbpipe setting and is ignored; did you mean THUMBPIPE_SIZES?"},
		{[]string{"backfill", "--bucket", "mem://"}, []string{"THUMBPIPE_CONCURENCY=2"}, "did you mean THUMBPIPE_CONCURRENCY?"},
		{[]string{"watch", "--bucket", "mem://", "--once"}, []string{"THUMBPIPE_BACKFILL_PREFIX=x"}, "THUMBPIPE_BACKFILL_PREFIX is a setting of backfill, not of watch"},
		{[]string{"serve"}, []string{"THUMBPIPE_LISTN=:1"}, "did you mean THUMBPIPE_LISTEN?"},
		{[]string{"minio-setup"}, []string{"THUMBPIPE_MINIO_WAITS=1s"}, "did you mean THUMBPIPE_MINIO_WAIT?"},
		{[]string{"backfill", "--bucket", "mem://"}, []string{"THUMBPIPE_SIZES=64x64", "THUMBPIPE_TOOLS_DIR=/tmp", "THUMBPIPE_SOAK_N=3", "HOME=/root"}, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			envm := map[string]string{}
			for _, kv := range tc.environ {
				k, v, _ := strings.Cut(kv, "=")
				envm[k] = v
			}
			var stdout, stderr testserver.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Each command stops soon: a missing setting, a missing key, or
			// an empty bucket.
			runEnv(ctx, tc.args, env{getenv: func(k string) string { return envm[k] }, environ: tc.environ, stdout: &stdout, stderr: &stderr})
			got := stderr.String()
			if tc.want == "" {
				if strings.Contains(got, "THUMBPIPE_") && strings.Contains(got, "ignored") {
					t.Errorf("unexpected warning:\n%s", got)
				}
				return
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, got)
			}
		})
	}
}

// TestBackfillFlagGivenEmptyWins: --prefix= clears THUMBPIPE_BACKFILL_PREFIX
// (an empty flag used to fall back to the variable), and the variable
// applies when the flag is not given.
func TestBackfillFlagGivenEmptyWins(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "uploads", "a.jpg"), pixeltest.JPEG(pixeltest.Photo(300, 200, 1), 85))
	writeFile(t, filepath.Join(dir, "other", "b.jpg"), pixeltest.JPEG(pixeltest.Photo(300, 200, 2), 85))
	tests := []struct {
		args      []string
		processed string
	}{
		{nil, "processed 1,"},                   // the variable: uploads/ only
		{[]string{"--prefix="}, "processed 2,"}, // given empty: every key
	}
	for _, tc := range tests {
		out, _, err := runCmd(context.Background(), t, map[string]string{"THUMBPIPE_BACKFILL_PREFIX": "uploads/", "THUMBPIPE_CONCURRENCY": "2"},
			append([]string{"backfill", "--bucket", dir, "--dry-run"}, tc.args...)...)
		if err != nil || !strings.Contains(out, tc.processed) {
			t.Errorf("%q: %v\n%s\nwant %q", tc.args, err, out, tc.processed)
		}
	}
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	status, _ := send(t, http.MethodGet, url, token, "")
	return status
}

// TestServeMetrics: /metrics is open on the main port only when neither a
// token nor an address of its own is set; with a token it asks for it, and
// with an address it is served there and nowhere else.
func TestServeMetrics(t *testing.T) {
	const metricsToken = "metrics-token-0123456789"
	tests := []struct {
		name        string
		token       bool
		ownPort     bool
		mainNoAuth  int // GET /metrics on the main port without a token
		mainAuth    int // ... with the metrics token
		ownNoAuth   int // GET /metrics on its own port without a token
		ownAuth     int
		ownHealthz  int // another path on the metrics port
		warnsOpened bool
	}{
		{"open", false, false, 200, 200, 0, 0, 0, true},
		{"token", true, false, 401, 200, 0, 0, 0, false},
		{"own port", false, true, 404, 404, 200, 200, 404, false},
		{"own port and token", true, true, 404, 404, 401, 200, 404, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			envm := map[string]string{"THUMBPIPE_WEBHOOK_TOKEN": testToken, "THUMBPIPE_BUCKET_URL": "mem://{bucket}", "THUMBPIPE_BUCKETS": "images"}
			if tc.token {
				envm["THUMBPIPE_METRICS_TOKEN"] = metricsToken
			}
			own := ""
			if tc.ownPort {
				own = fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
				envm["THUMBPIPE_METRICS_LISTEN"] = own
			}
			base, stop, logs := startServe(t, envm, "--log-format", "json")
			if got := get(t, base+"/metrics", ""); got != tc.mainNoAuth {
				t.Errorf("main port, no token: %d, want %d", got, tc.mainNoAuth)
			}
			if got := get(t, base+"/metrics", metricsToken); got != tc.mainAuth {
				t.Errorf("main port, token: %d, want %d", got, tc.mainAuth)
			}
			if got := get(t, base+"/metrics", testToken); tc.token && got == 200 {
				t.Error("the webhook token opened /metrics")
			}
			if got := get(t, base+"/healthz", ""); got != 200 {
				t.Errorf("main port /healthz: %d", got)
			}
			if tc.ownPort {
				if got := get(t, "http://"+own+"/metrics", ""); got != tc.ownNoAuth {
					t.Errorf("own port, no token: %d, want %d", got, tc.ownNoAuth)
				}
				if got := get(t, "http://"+own+"/metrics", metricsToken); got != tc.ownAuth {
					t.Errorf("own port, token: %d, want %d", got, tc.ownAuth)
				}
				if got := get(t, "http://"+own+"/healthz", ""); got != tc.ownHealthz {
					t.Errorf("own port /healthz: %d, want %d", got, tc.ownHealthz)
				}
			}
			if err := stop(); err != nil {
				t.Errorf("serve: %v", err)
			}
			if warned := strings.Contains(logs.String(), "/metrics is open"); warned != tc.warnsOpened {
				t.Errorf("warned about open metrics: %v, want %v\n%s", warned, tc.warnsOpened, logs)
			}
		})
	}
}
