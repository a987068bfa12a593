package miniohook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/functions/miniohook"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/door/doortest"
	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/internal/events/eventstest"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

const token = "s3cret-token"

// fixture is a handler over in-memory buckets.
type fixture struct {
	h      *miniohook.Handler
	cache  *buckets.Cache
	logs   *testserver.Buffer
	faults *faultblob.Faults
}

// faultyOpener opens buckets through a cache and wraps them with faults.
type faultyOpener struct {
	cache  *buckets.Cache
	faults *faultblob.Faults
}

func (o faultyOpener) Open(ctx context.Context, url string) (*blob.Bucket, error) {
	b, err := o.cache.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return faultblob.Wrap(b, o.faults), nil
}

func newFixture(t *testing.T, edit func(*miniohook.Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, edit, nil)
}

// newFixtureWith is newFixture whose thumbnailer's config editPipeline
// changes, when it is not nil.
func newFixtureWith(t *testing.T, edit func(*miniohook.Config), editPipeline func(*pipeline.Config)) *fixture {
	t.Helper()
	f := &fixture{cache: &buckets.Cache{}, logs: &testserver.Buffer{}, faults: faultblob.New(1)}
	t.Cleanup(func() { f.cache.Close() })
	cfg := miniohook.Config{
		Token:     token,
		BucketURL: "mem://{bucket}",
		Buckets:   []string{"images", "other"},
		Workers:   2,
		Logger:    slog.New(slog.NewJSONHandler(f.logs, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	pc := pipeline.DefaultConfig()
	pc.Sizes = []pipeline.Size{{Width: 64, Height: 64, Mode: "fit"}, {Width: 32, Height: 32, Mode: "fill"}}
	if editPipeline != nil {
		editPipeline(&pc)
	}
	th, err := pipeline.NewThumbnailer(pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.h, err = miniohook.New(cfg, th, faultyOpener{f.cache, f.faults})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) bucket(t *testing.T, name string) *blob.Bucket {
	t.Helper()
	b, err := f.cache.Open(context.Background(), "mem://"+name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if err := f.bucket(t, bucket).WriteAll(context.Background(), key, data, nil); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) keys(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	it := f.bucket(t, bucket).List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, obj.Key)
	}
}

// record is one record of a MinIO-style event.
type record struct{ name, bucket, key string }

// event builds a webhook body the way MinIO does: the key query-escaped.
func event(recs ...record) []byte {
	type obj struct {
		Key string `json:"key"`
	}
	var out struct {
		EventName string
		Key       string
		Records   []map[string]any
	}
	out.Records = []map[string]any{}
	for _, r := range recs {
		out.Records = append(out.Records, map[string]any{
			"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": r.name,
			"s3": map[string]any{"bucket": map[string]any{"name": r.bucket}, "object": obj{url.QueryEscape(r.key)}},
		})
	}
	if len(recs) > 0 {
		out.EventName, out.Key = recs[0].name, recs[0].bucket+"/"+recs[0].key
	}
	b, _ := json.Marshal(out)
	return b
}

func (f *fixture) post(t *testing.T, auth string, body []byte) (int, miniohook.Response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var resp miniohook.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("response %q is not JSON: %v", rec.Body.String(), err)
	}
	return rec.Code, resp
}

func outcomes(resp miniohook.Response) []miniohook.Outcome {
	var out []miniohook.Outcome
	for _, r := range resp.Records {
		out = append(out, r.Outcome)
	}
	return out
}

func jpeg(seed uint64) []byte { return pixeltest.JPEG(pixeltest.Photo(120, 80, seed), 85) }

func TestRecords(t *testing.T) {
	const put, del = "s3:ObjectCreated:Put", "s3:ObjectRemoved:Delete"
	tests := []struct {
		name     string
		objects  map[string][]byte // in bucket "images" before the request
		records  []record
		faults   []faultblob.Rule
		status   int
		outcomes []miniohook.Outcome
		keys     []string // in bucket "images" afterwards
	}{
		{name: "created", objects: map[string][]byte{"uploads/my photo+1.jpg": jpeg(1)},
			records: []record{{put, "images", "uploads/my photo+1.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Processed},
			keys: []string{"thumbnails/32x32/uploads/my photo+1.jpg", "thumbnails/64x64/uploads/my photo+1.jpg",
				"thumbnails/manifests/uploads/my photo+1.jpg.json", "uploads/my photo+1.jpg"}},
		{name: "aws spelling", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{"ObjectCreated:Put", "images", "a.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Processed},
			keys:     []string{"a.jpg", "thumbnails/32x32/a.jpg", "thumbnails/64x64/a.jpg", "thumbnails/manifests/a.jpg.json"}},
		{name: "duplicate is up to date", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{put, "images", "a.jpg"}, {put, "images", "a.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Processed, miniohook.UpToDate},
			keys:     []string{"a.jpg", "thumbnails/32x32/a.jpg", "thumbnails/64x64/a.jpg", "thumbnails/manifests/a.jpg.json"}},
		{name: "thumbnail event is skipped", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{put, "images", "a.jpg"}, {put, "images", "thumbnails/64x64/a.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Processed, miniohook.Skipped},
			keys:     []string{"a.jpg", "thumbnails/32x32/a.jpg", "thumbnails/64x64/a.jpg", "thumbnails/manifests/a.jpg.json"}},
		{name: "removed", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{put, "images", "a.jpg"}, {del, "images", "gone.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Processed, miniohook.Deleted},
			keys:     []string{"a.jpg", "thumbnails/32x32/a.jpg", "thumbnails/64x64/a.jpg", "thumbnails/manifests/a.jpg.json"}},
		{name: "corrupt is acknowledged", objects: map[string][]byte{"bad.jpg": jpeg(1)[:200]},
			records: []record{{put, "images", "bad.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.FailedPermanent}, keys: []string{"bad.jpg", "thumbnails/failures/bad.jpg.json"}},
		{name: "source gone is acknowledged",
			records: []record{{put, "images", "missing.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.FailedPermanent}},
		{name: "other events are ignored", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{"s3:ObjectAccessed:Get", "images", "a.jpg"}, {"s3:ObjectTagging:Put", "nope", "../x"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Ignored, miniohook.Ignored}, keys: []string{"a.jpg"}},
		{name: "foreign bucket is refused", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{put, "private", "a.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Refused}, keys: []string{"a.jpg"}},
		{name: "dot-dot key is refused", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{put, "images", "x/../a.jpg"}, {del, "images", "../a.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Refused, miniohook.Refused}, keys: []string{"a.jpg"}},
		{name: "control character is refused", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{put, "images", "a\n.jpg"}}, status: 200,
			outcomes: []miniohook.Outcome{miniohook.Refused}, keys: []string{"a.jpg"}},
		{name: "storage down is retried", objects: map[string][]byte{"a.jpg": jpeg(1)},
			records: []record{{put, "images", "a.jpg"}},
			faults:  []faultblob.Rule{{Op: faultblob.Attributes, Times: 1}}, status: 500,
			outcomes: []miniohook.Outcome{miniohook.FailedTransient}, keys: []string{"a.jpg"}},
		{name: "one transient failure retries the batch",
			objects: map[string][]byte{"a.jpg": jpeg(1), "b.jpg": jpeg(2)},
			records: []record{{put, "images", "a.jpg"}, {put, "images", "b.jpg"}},
			faults:  []faultblob.Rule{{Op: faultblob.Close, KeyPrefix: "thumbnails/64x64/b", Times: 1}}, status: 500,
			outcomes: []miniohook.Outcome{miniohook.Processed, miniohook.FailedTransient},
			keys:     []string{"a.jpg", "b.jpg", "thumbnails/32x32/a.jpg", "thumbnails/64x64/a.jpg", "thumbnails/manifests/a.jpg.json"}},
		{name: "no records", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			for k, v := range tc.objects {
				f.put(t, "images", k, v)
			}
			for _, r := range tc.faults {
				f.faults.Add(r)
			}
			status, resp := f.post(t, "Bearer "+token, event(tc.records...))
			if status != tc.status {
				t.Errorf("status = %d, want %d (%+v)", status, tc.status, resp)
			}
			if got := outcomes(resp); fmt.Sprint(got) != fmt.Sprint(tc.outcomes) {
				t.Errorf("outcomes = %v, want %v (%+v)", got, tc.outcomes, resp)
			}
			if got := f.keys(t, "images"); fmt.Sprint(got) != fmt.Sprint(tc.keys) {
				t.Errorf("keys = %q, want %q", got, tc.keys)
			}
			if got := f.keys(t, "private"); len(got) != 0 {
				t.Errorf("foreign bucket touched: %q", got)
			}
			if lines := strings.Count(f.logs.String(), `"outcome":"`); lines != len(tc.records) {
				t.Errorf("%d event log lines for %d records:\n%s", lines, len(tc.records), f.logs)
			}
		})
	}
}

func TestDeleteRemovesVariants(t *testing.T) {
	f := newFixture(t, nil)
	f.put(t, "images", "dir/a b.jpg", jpeg(3))
	if status, resp := f.post(t, "Bearer "+token, event(record{"s3:ObjectCreated:Put", "images", "dir/a b.jpg"})); status != 200 || resp.Records[0].Variants != 2 {
		t.Fatalf("create: %d %+v", status, resp)
	}
	if err := f.bucket(t, "images").Delete(context.Background(), "dir/a b.jpg"); err != nil {
		t.Fatal(err)
	}
	status, resp := f.post(t, "Bearer "+token, event(record{"s3:ObjectRemoved:Delete", "images", "dir/a b.jpg"}))
	if status != 200 || resp.Records[0].Outcome != miniohook.Deleted || resp.Records[0].Variants != 2 {
		t.Fatalf("delete: %d %+v", status, resp)
	}
	if keys := f.keys(t, "images"); len(keys) != 0 {
		t.Errorf("left behind: %q", keys)
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer s3cret-tokem", 401},
		{"shorter token", "Bearer s3cret", 401},
		{"longer token", "Bearer " + token + "x", 401},
		{"empty token", "Bearer ", 401},
		{"other scheme", "Basic " + token, 401},
		{"token alone", token, 401},
		{"right token", "Bearer " + token, 200},
		{"scheme in lower case", "bearer " + token, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.put(t, "images", "a.jpg", jpeg(1))
			status, _ := f.post(t, tc.auth, event(record{"s3:ObjectCreated:Put", "images", "a.jpg"}))
			if status != tc.status {
				t.Errorf("status = %d, want %d", status, tc.status)
			}
			if n := len(f.keys(t, "images")); tc.status == 401 && n != 1 {
				t.Errorf("unauthorized request wrote: %q", f.keys(t, "images"))
			}
		})
	}
}

// TestUnauthorizedClosesConnection: a 401 ends the connection, so a client
// without the token cannot hold it open by dribbling its body.
func TestUnauthorizedClosesConnection(t *testing.T) {
	f := newFixture(t, nil)
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader([]byte("{}")))
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("Connection") != "close" {
		t.Errorf("status %d, Connection %q; want 401 and close", rec.Code, rec.Header().Get("Connection"))
	}
}

func TestInsecureNoAuth(t *testing.T) {
	f := newFixture(t, func(c *miniohook.Config) { c.Token, c.InsecureNoAuth = "", true })
	f.put(t, "images", "a.jpg", jpeg(1))
	if status, resp := f.post(t, "", event(record{"s3:ObjectCreated:Put", "images", "a.jpg"})); status != 200 {
		t.Errorf("status = %d (%+v), want 200", status, resp)
	}
}

func TestBadRequests(t *testing.T) {
	big := event(record{"s3:ObjectCreated:Put", "images", strings.Repeat("k", 2000)})
	tests := []struct {
		name   string
		body   []byte
		status int
	}{
		{"over the limit", big, 413},
		{"not json", []byte("hello"), 400},
		{"truncated", []byte(`{"Records":[{"eventName":`), 400},
		{"no records", []byte(`{"EventName":"s3:ObjectCreated:Put"}`), 400},
		{"two documents", []byte(`{"Records":[]}{"Records":[]}`), 400},
		{"empty", nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *miniohook.Config) { c.MaxBodyBytes = 1024 })
			status, resp := f.post(t, "Bearer "+token, tc.body)
			if status != tc.status || resp.Error == "" {
				t.Errorf("status = %d %+v, want %d with an error", status, resp, tc.status)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/metrics", 200, `thumbpipe_events_total{outcome="processed"} 0`},
		{"GET", "/webhook", 405, ""},
		{"POST", "/", 404, ""},
		{"PUT", "/healthz", 405, ""},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

func metric(t *testing.T, h http.Handler, name string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no metric %s in\n%s", name, rec.Body)
	return ""
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, nil)
	src := jpeg(5)
	f.put(t, "images", "a.jpg", src)
	f.post(t, "Bearer "+token, event(record{"s3:ObjectCreated:Put", "images", "a.jpg"}, record{"s3:ObjectCreated:Put", "images", "a.jpg"}))
	f.post(t, "Bearer wrong", nil)
	f.post(t, "Bearer "+token, event(record{"s3:ObjectCreated:Put", "elsewhere", "a.jpg"}))
	for name, want := range map[string]string{
		`thumbpipe_events_total{outcome="processed"}`:              "1",
		`thumbpipe_events_total{outcome="up_to_date"}`:             "1",
		`thumbpipe_events_total{outcome="unauthorized"}`:           "1",
		`thumbpipe_events_total{outcome="refused"}`:                "1",
		`thumbpipe_events_total{outcome="busy"}`:                   "0",
		`thumbpipe_variants_written_total`:                         "2",
		`thumbpipe_source_bytes_read_total`:                        fmt.Sprint(len(src)),
		`thumbpipe_event_duration_seconds_count{action="created"}`: "3",
	} {
		if got := metric(t, f.h, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if out := metric(t, f.h, "thumbpipe_thumbnail_bytes_written_total"); out == "0" {
		t.Error("no thumbnail bytes counted")
	}
	// Two handlers in one process keep their own counts.
	if got := metric(t, newFixture(t, nil).h, `thumbpipe_events_total{outcome="processed"}`); got != "0" {
		t.Errorf("a new handler starts at %s", got)
	}
}

func TestLogLine(t *testing.T) {
	f := newFixture(t, func(c *miniohook.Config) { c.MaxEventAge = -1 }) // the captured event is old
	f.put(t, "images", "uploads/my photo+1.jpg", jpeg(1))
	body, err := os.ReadFile("../../testdata/events/minio-put.json")
	if err != nil {
		t.Fatal(err)
	}
	if status, resp := f.post(t, "Bearer "+token, body); status != 200 || resp.Records[0].Outcome != miniohook.Processed {
		t.Fatalf("captured event: %d %+v", status, resp)
	}
	// One line for the record, one for the request.
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), f.logs)
	}
	var line struct {
		Msg, Bucket, Key, Outcome string
		MS                        *float64
		Written                   int
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("log %q: %v", f.logs, err)
	}
	if line.Msg != "done" || line.Bucket != "images" || line.Key != "uploads/my photo+1.jpg" ||
		line.Outcome != "done" || line.MS == nil || line.Written != 2 {
		t.Errorf("log line %+v", line)
	}
	var summary struct {
		Msg       string
		Records   int
		Processed int
	}
	if err := json.Unmarshal([]byte(lines[1]), &summary); err != nil || summary.Msg != "request" || summary.Records != 1 || summary.Processed != 1 {
		t.Errorf("summary line %s: %+v %v", lines[1], summary, err)
	}
}

// TestBusy holds the only worker with a request whose body never ends and
// checks that the next request is turned away at once.
func TestBusy(t *testing.T) {
	f := newFixture(t, func(c *miniohook.Config) { c.Workers = 1 })
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	pr, pw := io.Pipe()
	first := make(chan int)
	go func() {
		req, _ := http.NewRequest("POST", srv.URL+"/webhook", pr)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	pw.Write([]byte(`{"Records":`))
	deadline := time.Now().Add(5 * time.Second)
	for metric(t, f.h, "thumbpipe_webhook_requests_in_flight") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("first request never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	status, resp := f.post(t, "Bearer "+token, event())
	if status != 503 || time.Since(start) > time.Second {
		t.Errorf("second request: %d %+v after %v, want 503 at once", status, resp, time.Since(start))
	}
	pw.Write([]byte(`[]}`))
	pw.Close()
	if got := <-first; got != 200 {
		t.Errorf("first request = %d, want 200", got)
	}
	if status, _ := f.post(t, "Bearer "+token, event()); status != 200 {
		t.Errorf("after the first finished: %d, want 200", status)
	}
	if got := metric(t, f.h, `thumbpipe_events_total{outcome="busy"}`); got != "1" {
		t.Errorf("busy = %s, want 1", got)
	}
}

// TestMemoryBusy: a record whose decode cannot get its memory in time is
// answered 503 with Retry-After, as when every worker is busy, and is
// processed once the memory is free.
func TestMemoryBusy(t *testing.T) {
	gate := pipeline.NewMemoryGate(1<<20, 0)
	f := newFixtureWith(t, nil, func(c *pipeline.Config) { c.Admit = gate })
	f.put(t, "images", "a.jpg", pixeltest.JPEG(pixeltest.Photo(64, 48, 1), 85))
	hold, err := gate.Admit(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	body := event(record{"s3:ObjectCreated:Put", "images", "a.jpg"})
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "busy") {
		t.Errorf("memory held: %d %q (Retry-After %q), want 503 saying busy", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	hold()
	if status, resp := f.post(t, "Bearer "+token, body); status != http.StatusOK || outcomes(resp)[0] != miniohook.Processed {
		t.Errorf("memory free: %d %+v, want 200 processed", status, resp)
	}
}

func TestNewRejects(t *testing.T) {
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := miniohook.Config{Token: "t", BucketURL: "mem://{bucket}", Buckets: []string{"images"}}
	tests := []struct {
		name string
		edit func(*miniohook.Config)
	}{
		{"no token", func(c *miniohook.Config) { c.Token = "" }},
		{"token and no auth", func(c *miniohook.Config) { c.InsecureNoAuth = true }},
		{"token with a space", func(c *miniohook.Config) { c.Token = "Bearer x" }},
		{"no {bucket}", func(c *miniohook.Config) { c.BucketURL = "mem://" }},
		{"no buckets", func(c *miniohook.Config) { c.Buckets = nil }},
		{"bad bucket name", func(c *miniohook.Config) { c.Buckets = []string{"a?endpoint=x"} }},
		{"negative workers", func(c *miniohook.Config) { c.Workers = -1 }},
	}
	for _, tc := range tests {
		cfg := ok
		tc.edit(&cfg)
		if _, err := miniohook.New(cfg, th, &buckets.Cache{}); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	h, err := miniohook.New(ok, th, &buckets.Cache{})
	if err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if c := h.Config(); c.Workers < 1 || c.MaxBodyBytes != miniohook.DefaultMaxBodyBytes || c.ProcessTimeout != miniohook.DefaultProcessTimeout {
		t.Errorf("defaults not filled in: %+v", c)
	}
}

// webhookDoor delivers the suite's events as MinIO does, as POSTs to the
// webhook.
type webhookDoor struct{ h *miniohook.Handler }

func (d webhookDoor) Deliver(t *testing.T, dl doortest.Delivery) doortest.Answer {
	name := "s3:ObjectCreated:Put"
	if dl.Action == door.Removed {
		name = "s3:ObjectRemoved:Delete"
	}
	body, _ := json.Marshal(map[string]any{"EventName": name, "Key": "images/" + dl.Key, "Records": []any{map[string]any{
		"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": name,
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano),
		"s3": map[string]any{"bucket": map[string]any{"name": "images"},
			"object": map[string]any{"key": url.QueryEscape(dl.Key), "eTag": dl.Version, "sequencer": "17A0"}},
	}}})
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	d.h.ServeHTTP(rec, req)
	var resp miniohook.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("response %q: %v", rec.Body, err)
	}
	a := doortest.Answer{Retry: rec.Code >= 500}
	if rec.Code != http.StatusOK && !a.Retry {
		t.Fatalf("answered %d %+v", rec.Code, resp)
	}
	for _, r := range resp.Records {
		switch r.Outcome {
		case miniohook.Processed:
			a.Written += r.Variants
		case miniohook.FailedPermanent:
			a.Failed = r.Error
		}
	}
	return a
}

// TestDeliveries runs the delivery conformance suite against the webhook.
func TestDeliveries(t *testing.T) {
	doortest.Run(t, func(t *testing.T, src *blob.Bucket) doortest.Door {
		th, err := pipeline.NewThumbnailer(doortest.Config(), nil)
		if err != nil {
			t.Fatal(err)
		}
		open := buckets.OpenerFunc(func(_ context.Context, u string) (*blob.Bucket, error) {
			if u != "mem://images" {
				return nil, fmt.Errorf("unexpected bucket %s", u)
			}
			return src, nil
		})
		h, err := miniohook.New(miniohook.Config{Token: token, BucketURL: "mem://{bucket}", Buckets: []string{"images"},
			Workers: 8, Logger: slog.New(slog.DiscardHandler)}, th, open)
		if err != nil {
			t.Fatal(err)
		}
		return webhookDoor{h}
	})
}

// recordAt is a MinIO record for images/a.jpg with an eTag, a sequencer and
// an event time.
func recordAt(at time.Time) map[string]any {
	return map[string]any{
		"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": "s3:ObjectCreated:Put",
		"eventTime": at.UTC().Format(time.RFC3339Nano),
		"s3": map[string]any{"bucket": map[string]any{"name": "images"},
			"object": map[string]any{"key": "a.jpg", "eTag": "0f343b0931126a20f133d67c2b018a3b", "sequencer": "17A2B3C4D5E6F708"}},
	}
}

func body(recs ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return b
}

// TestNoEventLivesForever: a record older than MaxEventAge, and a record
// that failed MaxAttempts times, are dropped: logged and acknowledged, so
// that MinIO stops sending them.
func TestNoEventLivesForever(t *testing.T) {
	t.Run("too old", func(t *testing.T) {
		f := newFixture(t, func(c *miniohook.Config) { c.MaxEventAge = time.Hour })
		f.put(t, "images", "a.jpg", jpeg(1))
		status, resp := f.post(t, "Bearer "+token, body(recordAt(time.Now().Add(-2*time.Hour))))
		if status != 200 || fmt.Sprint(outcomes(resp)) != "[dropped]" || !strings.Contains(resp.Records[0].Error, "older than") {
			t.Errorf("old record: %d %+v, want 200 and dropped", status, resp)
		}
		if keys := f.keys(t, "images"); len(keys) != 1 {
			t.Errorf("an old record was processed: %q", keys)
		}
		if !strings.Contains(f.logs.String(), `"level":"ERROR","msg":"dropped; acknowledged`) {
			t.Errorf("no dropped line:\n%s", f.logs)
		}
	})
	t.Run("by default, a day", func(t *testing.T) {
		f := newFixture(t, nil)
		f.put(t, "images", "a.jpg", jpeg(1))
		if status, resp := f.post(t, "Bearer "+token, body(recordAt(time.Now().Add(-25*time.Hour)))); status != 200 || fmt.Sprint(outcomes(resp)) != "[dropped]" {
			t.Errorf("a 25 hour old record: %d %+v, want dropped", status, resp)
		}
		if status, resp := f.post(t, "Bearer "+token, body(recordAt(time.Now().Add(-23*time.Hour)))); status != 200 || fmt.Sprint(outcomes(resp)) != "[processed]" {
			t.Errorf("a 23 hour old record: %d %+v, want processed", status, resp)
		}
	})
	t.Run("failing too often", func(t *testing.T) {
		f := newFixture(t, func(c *miniohook.Config) { c.MaxAttempts = 3 })
		f.put(t, "images", "a.jpg", jpeg(1))
		f.faults.Add(faultblob.Rule{Op: faultblob.Attributes, Times: 1000})
		rec := recordAt(time.Now())
		for i, want := range []int{500, 500, 200} {
			status, resp := f.post(t, "Bearer "+token, body(rec))
			if status != want {
				t.Errorf("attempt %d: %d %+v, want %d", i+1, status, resp, want)
			}
			if want == 200 && (fmt.Sprint(outcomes(resp)) != "[dropped]" || !strings.Contains(resp.Records[0].Error, "failed 3 times")) {
				t.Errorf("attempt %d: %+v, want dropped after 3 failures", i+1, resp)
			}
		}
		if got := metric(t, f.h, `thumbpipe_events_total{outcome="dropped"}`); got != "1" {
			t.Errorf("dropped = %s, want 1", got)
		}
	})
}

// TestFanOut: a body of many records is refused whole, at once, with one
// log line and a small answer, instead of a line and an answer per record.
func TestFanOut(t *testing.T) {
	f := newFixture(t, nil)
	var b bytes.Buffer
	b.WriteString(`{"Records":[{}`)
	for b.Len() < miniohook.DefaultMaxBodyBytes-16 {
		b.WriteString(`,{}`)
	}
	b.WriteString(`]}`)
	req := httptest.NewRequest(http.MethodPost, "/webhook", &b)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || rec.Body.Len() > 1024 || !strings.Contains(rec.Body.String(), "more than the 10") {
		t.Errorf("answered %d with %d bytes: %.200s", rec.Code, rec.Body.Len(), rec.Body.String())
	}
	if n := strings.Count(f.logs.String(), "\n"); n != 1 {
		t.Errorf("%d log lines, want 1", n)
	}
	// At the limit, every record is handled.
	recs := make([]record, miniohook.DefaultMaxRecords)
	for i := range recs {
		recs[i] = record{"s3:ObjectAccessed:Get", "images", "a.jpg"}
	}
	if status, resp := f.post(t, "Bearer "+token, event(recs...)); status != 200 || len(resp.Records) != len(recs) {
		t.Errorf("%d records: %d with %d answers", len(recs), status, len(resp.Records))
	}
}

// TestBucketNameRules: a name in the allow-list that breaks S3's naming
// rules is refused too: it never reaches a URL.
func TestBucketNameRules(t *testing.T) {
	opened := 0
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	open := buckets.OpenerFunc(func(context.Context, string) (*blob.Bucket, error) { opened++; return nil, fmt.Errorf("no") })
	h, err := miniohook.New(miniohook.Config{Token: token, BucketURL: "mem://{bucket}", Buckets: []string{"Images_2"},
		Logger: slog.New(slog.DiscardHandler)}, th, open)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{h: h}
	status, resp := f.post(t, "Bearer "+token, event(record{"s3:ObjectCreated:Put", "Images_2", "a.jpg"}))
	if status != 200 || fmt.Sprint(outcomes(resp)) != "[refused]" || opened != 0 {
		t.Errorf("%d %+v, opened %d; want refused before any open", status, resp, opened)
	}
}

// TestCompletionEvents: a delete publishes its completion event; while the
// topic cannot be published to, the record is answered 500, so that MinIO
// sends it again.
func TestCompletionEvents(t *testing.T) {
	tp := eventstest.NewTopic(t)
	pub, err := events.New(tp.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	down, _ := events.New("mem://down")
	down.Close()
	for _, tc := range []struct {
		name   string
		pub    *events.Publisher
		status int
		want   miniohook.Outcome
	}{
		{"published", pub, http.StatusOK, miniohook.Deleted},
		{"topic down", down, http.StatusInternalServerError, miniohook.FailedTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *miniohook.Config) { c.Events = tc.pub })
			f.put(t, "images", "dir/a b.jpg", jpeg(3))
			f.post(t, "Bearer "+token, event(record{"s3:ObjectCreated:Put", "images", "dir/a b.jpg"}))
			if err := f.bucket(t, "images").Delete(context.Background(), "dir/a b.jpg"); err != nil {
				t.Fatal(err)
			}
			status, resp := f.post(t, "Bearer "+token, event(record{"s3:ObjectRemoved:Delete", "images", "dir/a b.jpg"}))
			if status != tc.status || resp.Records[0].Outcome != tc.want {
				t.Fatalf("delete: %d %+v", status, resp)
			}
			if tc.pub != pub {
				return
			}
			// The upload's event, with its manifest, and the deletion's, in
			// whichever order the topic delivers them.
			created, ev := tp.Receive(t), tp.Receive(t)
			if created.Type != events.TypeCreated {
				created, ev = ev, created
			}
			if ev := created; ev.Type != events.TypeCreated || ev.Subject != "dir/a b.jpg" ||
				!strings.Contains(string(ev.Data), `"key":"thumbnails/64x64/dir/a b.jpg"`) {
				t.Errorf("event %+v %s", ev, ev.Data)
			}
			if ev.Type != events.TypeDeleted || ev.Subject != "dir/a b.jpg" || ev.Source != "//thumbpipe/images" ||
				!strings.Contains(string(ev.Data), `"removed":["thumbnails/`) {
				t.Errorf("event %+v %s", ev, ev.Data)
			}
		})
	}
}
