package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/pubsub"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestWorkerSettings: the worker refuses to start without a subscription,
// a bucket URL template and an allow-list, naming each, and with a
// subscription it cannot read.
func TestWorkerSettings(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing set", nil, []string{"THUMBPIPE_SUBSCRIPTION", "THUMBPIPE_BUCKET_URL", "THUMBPIPE_BUCKETS"}},
		{"no {bucket}", map[string]string{"THUMBPIPE_SUBSCRIPTION": "mem://x", "THUMBPIPE_BUCKET_URL": "mem://", "THUMBPIPE_BUCKETS": "images"},
			[]string{"has no {bucket}"}},
		{"a NATS URL without a consumer", map[string]string{"THUMBPIPE_SUBSCRIPTION": "nats://user:secret@127.0.0.1:1/STREAM",
			"THUMBPIPE_BUCKET_URL": "mem://{bucket}", "THUMBPIPE_BUCKETS": "images", "THUMBPIPE_LISTEN": "127.0.0.1:0"},
			[]string{"/STREAM/CONSUMER", "xxxxx"}},
		{"an unknown NATS parameter", map[string]string{"THUMBPIPE_SUBSCRIPTION": "nats://127.0.0.1:1/S/C?ackwait=1s",
			"THUMBPIPE_BUCKET_URL": "mem://{bucket}", "THUMBPIPE_BUCKETS": "images", "THUMBPIPE_LISTEN": "127.0.0.1:0"},
			[]string{`unknown parameter "ackwait"`}},
		{"bad concurrency", map[string]string{"THUMBPIPE_SUBSCRIPTION": "mem://x", "THUMBPIPE_BUCKET_URL": "mem://{bucket}",
			"THUMBPIPE_BUCKETS": "images", "THUMBPIPE_CONCURRENCY": "0"}, []string{"THUMBPIPE_CONCURRENCY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(ctx, t, tc.env, "worker")
			if err == nil {
				t.Fatalf("the worker started\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestWithMaxDeliver(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://n:4222/S/C", "nats://n:4222/S/C?max_deliver=7"},
		{"nats://n:4222/S/C?subject=x", "nats://n:4222/S/C?subject=x&max_deliver=7"},
		{"nats://n:4222/S/C?max_deliver=3", "nats://n:4222/S/C?max_deliver=3"},
		{"mem://topic", "mem://topic"},
	} {
		if got := withMaxDeliver(tc.in, 7); got != tc.want {
			t.Errorf("withMaxDeliver(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestWorkerCommand runs `thumbpipe worker` on an in-memory topic over a
// folder bucket: an event published makes the thumbnail, /metrics counts
// it, and the command returns cleanly when its context ends.
func TestWorkerCommand(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "images", "uploads", "cat.jpg"), pixeltest.JPEG(pixeltest.Photo(400, 300, 1), 85))
	ctx := context.Background()
	topic, err := pubsub.OpenTopic(ctx, "mem://worker-command")
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Shutdown(ctx)
	addr := fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
	envm := map[string]string{
		"THUMBPIPE_SUBSCRIPTION": "mem://worker-command",
		"THUMBPIPE_BUCKET_URL":   "file://" + filepath.ToSlash(dir) + "/{bucket}",
		"THUMBPIPE_BUCKETS":      "images",
		"THUMBPIPE_LISTEN":       addr,
		"THUMBPIPE_LOG_FORMAT":   "json",
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var logs testserver.Buffer
	go func() { done <- run(wctx, []string{"worker"}, func(k string) string { return envm[k] }, &logs, &logs) }()
	if err := testserver.WaitHTTP(ctx, "http://"+addr+"/healthz"); err != nil {
		t.Fatalf("worker: %v\n%s", err, logs.String())
	}
	body, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventName": "s3:ObjectCreated:Put", "eventTime": time.Now().UTC().Format(time.RFC3339Nano),
		"s3": map[string]any{"bucket": map[string]any{"name": "images"}, "object": map[string]any{"key": url.QueryEscape("uploads/cat.jpg"), "eTag": "e1"}},
	}}})
	if err := topic.Send(ctx, &pubsub.Message{Body: body}); err != nil {
		t.Fatal(err)
	}
	thumb := filepath.Join(dir, "images", "thumbnails", "200x200", "uploads", "cat.jpg")
	awaitFor(t, "the thumbnail", 30*time.Second, func() bool { _, err := os.Stat(thumb); return err == nil })
	awaitFor(t, "the event to be counted", 10*time.Second, func() bool {
		v, _ := metricValue("http://"+addr, `thumbpipe_events_total{outcome="processed"}`)
		return v == 1
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the logs:\n%s", logs.String())
	}
}
