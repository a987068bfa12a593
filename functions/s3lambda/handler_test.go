package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	completion "github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/internal/events/eventstest"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// memBuckets opens mem://<name> URLs, one memblob bucket per URL, like
// buckets.Cache does for real URLs; a test may wrap a bucket in faults.
type memBuckets struct {
	mu sync.Mutex
	m  map[string]*blob.Bucket
}

func (mb *memBuckets) Open(_ context.Context, url string) (*blob.Bucket, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.m == nil {
		mb.m = map[string]*blob.Bucket{}
	}
	if b, ok := mb.m[url]; ok {
		return b, nil
	}
	b := memblob.OpenBucket(nil)
	mb.m[url] = b
	return b, nil
}

func (mb *memBuckets) bucket(t *testing.T, name string) *blob.Bucket {
	t.Helper()
	b, err := mb.Open(context.Background(), memURL(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// faulty wraps bucket name in faults from now on.
func (mb *memBuckets) faulty(t *testing.T, name string, rules ...faultblob.Rule) {
	t.Helper()
	f := faultblob.New(1)
	for _, r := range rules {
		f.Add(r)
	}
	b := faultblob.Wrap(mb.bucket(t, name), f)
	mb.mu.Lock()
	mb.m[memURL(name)] = b
	mb.mu.Unlock()
}

func memURL(name string) string { return "mem://" + name }

func testConfig() pipeline.Config {
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 64, Height: 64, Mode: "fill"}}
	return cfg
}

// invoke runs payload through the handler as the Lambda runtime does
// (lambda.NewHandler), with a request ID in the context, and returns the
// response, the error and the log lines.
func invoke(t *testing.T, h *handler, payload []byte) ([]byte, error, []map[string]any) {
	t.Helper()
	var logs bytes.Buffer
	h.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-7c1e"})
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, payload)
	var lines []map[string]any
	sc := bufio.NewScanner(&logs)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		lines = append(lines, m)
	}
	return out, err, lines
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// payload is an inline S3 notification with one record.
func payload(eventName, bucket, escapedKey string) []byte {
	ev := map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
		"eventTime": "2026-03-01T09:30:12.451Z", "eventName": eventName,
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"bucket":          map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object":          map[string]any{"key": escapedKey, "size": 1000, "sequencer": "0A"},
		},
	}}}
	data, _ := json.Marshal(ev)
	return data
}

func put(t *testing.T, b *blob.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.WriteAll(context.Background(), key, data, nil); err != nil {
		t.Fatal(err)
	}
}

func keys(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var out []string
	it := b.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err != nil {
			break
		}
		out = append(out, obj.Key)
	}
	slices.Sort(out)
	return out
}

// photo is small: the pixel code is slow under the race detector.
var photo = pixeltest.JPEG(pixeltest.Photo(240, 160, 1), 85)

func TestHandle(t *testing.T) {
	const src = "photos-eu"
	tests := []struct {
		name    string
		payload []byte
		setup   func(t *testing.T, mb *memBuckets)
		// want: the response (direct invocations), the transient error,
		// and the keys in the source bucket afterwards.
		wantResp  response
		wantErr   bool
		wantKeys  []string
		wantLevel string // a log line at this level must exist ("" = only INFO)
	}{
		{
			name:    "put",
			payload: fixture(t, "s3-put.json"),
			setup: func(t *testing.T, mb *memBuckets) {
				put(t, mb.bucket(t, src), "uploads/2026/beach.jpg", photo)
			},
			wantResp: response{Records: []outcome{{Bucket: src, Key: "uploads/2026/beach.jpg", Action: "created", Written: 2,
				Thumbnails: []string{"thumbnails/200x200/uploads/2026/beach.jpg", "thumbnails/64x64/uploads/2026/beach.jpg"}}}},
			wantKeys: []string{"thumbnails/200x200/uploads/2026/beach.jpg", "thumbnails/64x64/uploads/2026/beach.jpg",
				"thumbnails/manifests/uploads/2026/beach.jpg.json", "uploads/2026/beach.jpg"},
		},
		{
			name:    "put, thumbnails already there",
			payload: fixture(t, "s3-put.json"),
			setup: func(t *testing.T, mb *memBuckets) {
				b := mb.bucket(t, src)
				put(t, b, "uploads/2026/beach.jpg", photo)
				th, _ := pipeline.NewThumbnailer(testConfig(), nil)
				if _, err := th.Process(context.Background(), b, "uploads/2026/beach.jpg"); err != nil {
					t.Fatal(err)
				}
			},
			wantResp: response{Records: []outcome{{Bucket: src, Key: "uploads/2026/beach.jpg", Action: "created", Written: 0,
				Thumbnails: []string{"thumbnails/200x200/uploads/2026/beach.jpg", "thumbnails/64x64/uploads/2026/beach.jpg"}}}},
			wantKeys: []string{"thumbnails/200x200/uploads/2026/beach.jpg", "thumbnails/64x64/uploads/2026/beach.jpg",
				"thumbnails/manifests/uploads/2026/beach.jpg.json", "uploads/2026/beach.jpg"},
		},
		{
			name:    "put, key with + and %2B",
			payload: fixture(t, "s3-put-plus.json"),
			setup: func(t *testing.T, mb *memBuckets) {
				put(t, mb.bucket(t, src), "uploads/my photo+1.jpg", photo)
			},
			wantResp: response{Records: []outcome{{Bucket: src, Key: "uploads/my photo+1.jpg", Action: "created", Written: 2,
				Thumbnails: []string{"thumbnails/200x200/uploads/my photo+1.jpg", "thumbnails/64x64/uploads/my photo+1.jpg"}}}},
			wantKeys: []string{"thumbnails/200x200/uploads/my photo+1.jpg", "thumbnails/64x64/uploads/my photo+1.jpg",
				"thumbnails/manifests/uploads/my photo+1.jpg.json", "uploads/my photo+1.jpg"},
		},
		{
			name:    "delete",
			payload: fixture(t, "s3-delete.json"),
			setup: func(t *testing.T, mb *memBuckets) {
				b := mb.bucket(t, src)
				put(t, b, "uploads/2026/beach.jpg", photo)
				th, _ := pipeline.NewThumbnailer(testConfig(), nil)
				if _, err := th.Process(context.Background(), b, "uploads/2026/beach.jpg"); err != nil {
					t.Fatal(err)
				}
				put(t, b, "thumbnails/200x200/uploads/other.jpg", photo) // not the deleted source's
				if err := b.Delete(context.Background(), "uploads/2026/beach.jpg"); err != nil {
					t.Fatal(err)
				}
			},
			wantResp: response{Records: []outcome{{Bucket: src, Key: "uploads/2026/beach.jpg", Action: "removed",
				Removed: []string{"thumbnails/200x200/uploads/2026/beach.jpg", "thumbnails/64x64/uploads/2026/beach.jpg"}}}},
			wantKeys: []string{"thumbnails/200x200/uploads/other.jpg"},
		},
		{
			name:     "test event",
			payload:  fixture(t, "s3-test-event.json"),
			wantResp: response{TestEvent: true, Records: []outcome{}},
		},
		{
			name:    "corrupt image: permanent, acknowledged",
			payload: fixture(t, "s3-put.json"),
			setup: func(t *testing.T, mb *memBuckets) {
				put(t, mb.bucket(t, src), "uploads/2026/beach.jpg", photo[:len(photo)/3])
			},
			wantResp: response{Records: []outcome{{Bucket: src, Key: "uploads/2026/beach.jpg", Action: "created",
				Thumbnails: []string{"thumbnails/200x200/uploads/2026/beach.jpg", "thumbnails/64x64/uploads/2026/beach.jpg"},
				Error:      "*"}}},
			wantKeys:  []string{"thumbnails/failures/uploads/2026/beach.jpg.json", "uploads/2026/beach.jpg"},
			wantLevel: "ERROR",
		},
		{
			name:    "source already gone: permanent, acknowledged",
			payload: fixture(t, "s3-put.json"),
			wantResp: response{Records: []outcome{{Bucket: src, Key: "uploads/2026/beach.jpg", Action: "created",
				Error: "*source object not found*"}}},
			wantLevel: "ERROR",
		},
		{
			name:    "storage unavailable: transient, returned",
			payload: fixture(t, "s3-put.json"),
			setup: func(t *testing.T, mb *memBuckets) {
				put(t, mb.bucket(t, src), "uploads/2026/beach.jpg", photo)
				mb.faulty(t, src, faultblob.Rule{Op: faultblob.Attributes, Times: 100})
			},
			wantErr:   true,
			wantKeys:  []string{"uploads/2026/beach.jpg"},
			wantLevel: "WARN",
		},
		{
			name:    "thumbnail's own event: skipped",
			payload: payload("ObjectCreated:Put", src, "thumbnails/200x200/uploads/2026/beach.jpg"),
			wantResp: response{Records: []outcome{{Bucket: src, Key: "thumbnails/200x200/uploads/2026/beach.jpg", Action: "created",
				Skipped: "under the output prefix thumbnails/"}}},
		},
		{
			name:    "tagging event: skipped",
			payload: payload("ObjectTagging:Put", src, "uploads/a.jpg"),
			wantResp: response{Records: []outcome{{Bucket: src, Key: "uploads/a.jpg", Action: "other",
				Skipped: "event ObjectTagging:Put neither creates nor removes an object"}}},
		},
		{
			name:    "unsafe key: permanent, acknowledged",
			payload: payload("ObjectCreated:Put", src, "uploads/../../etc/passwd"),
			wantResp: response{Records: []outcome{{Bucket: src, Key: "uploads/../../etc/passwd", Action: "created",
				Error: "*unsafe object key*"}}},
			wantLevel: "ERROR",
		},
		{
			name:    "invalid bucket name: permanent, acknowledged",
			payload: payload("ObjectCreated:Put", "Not_A_Bucket", "uploads/a.jpg"),
			wantResp: response{Records: []outcome{{Bucket: "Not_A_Bucket", Key: "uploads/a.jpg", Action: "created",
				Error: "*not a valid S3 bucket name*"}}},
			wantLevel: "ERROR",
		},
		{
			name:      "unknown payload: acknowledged",
			payload:   []byte(`{"version":"0","detail-type":"Object Created","source":"aws.s3"}`),
			wantResp:  response{Ignored: "*not an S3 notification*", Records: []outcome{}},
			wantLevel: "ERROR",
		},
		{
			name:      "malformed records: acknowledged",
			payload:   []byte(`{"Records":[{"eventSource":"aws:s3","s3":"photos-eu/a.jpg"}]}`),
			wantResp:  response{Ignored: "*", Records: []outcome{}},
			wantLevel: "ERROR",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mb := &memBuckets{}
			if tc.setup != nil {
				tc.setup(t, mb)
			}
			h := newHandler(testConfig(), mb, memURL, nil)
			out, err, logs := invoke(t, h, tc.payload)
			if tc.wantErr {
				var te *TransientError
				if !errors.As(err, &te) {
					t.Fatalf("err = %v, want a *TransientError", err)
				}
				if !pipeline.Retryable(err) || !errors.Is(err, faultblob.ErrInjected) {
					t.Errorf("err %v: Retryable %v, want the injected fault, retryable", err, pipeline.Retryable(err))
				}
			} else {
				if err != nil {
					t.Fatalf("Invoke: %v", err)
				}
				var got response
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("response %s: %v", out, err)
				}
				matchResponse(t, got, tc.wantResp)
			}
			if got := keys(t, mb.bucket(t, src)); !reflect.DeepEqual(got, tc.wantKeys) {
				t.Errorf("keys in bucket:\n got %q\nwant %q", got, tc.wantKeys)
			}
			checkLogs(t, logs, tc.wantLevel)
		})
	}
}

// matchResponse compares responses; a wanted Error or Ignored of "*x*"
// matches any text containing x ("*" alone: any non-empty text).
func matchResponse(t *testing.T, got, want response) {
	t.Helper()
	match := func(what, got, want string) {
		if inner, ok := strings.CutPrefix(want, "*"); ok {
			if got == "" || !strings.Contains(got, strings.TrimSuffix(inner, "*")) {
				t.Errorf("%s = %q, want it to contain %q", what, got, strings.TrimSuffix(inner, "*"))
			}
		} else if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	match("ignored", got.Ignored, want.Ignored)
	if len(got.Records) != len(want.Records) {
		t.Fatalf("records:\n got %+v\nwant %+v", got.Records, want.Records)
	}
	for i := range got.Records {
		match("error", got.Records[i].Error, want.Records[i].Error)
		got.Records[i].Error, want.Records[i].Error = "", ""
	}
	got.Ignored, want.Ignored = "", ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("response:\n got %+v\nwant %+v", got, want)
	}
}

// checkLogs checks every line carries the request ID and Lambda's field
// names, and that a line at level wantLevel exists (none above INFO when
// wantLevel is empty).
func checkLogs(t *testing.T, logs []map[string]any, wantLevel string) {
	t.Helper()
	if len(logs) == 0 {
		t.Fatal("nothing logged")
	}
	found := false
	for _, l := range logs {
		if l["requestId"] != "req-7c1e" || l["message"] == nil || l["timestamp"] == nil {
			t.Errorf("log line without requestId, message or timestamp: %v", l)
		}
		switch l["level"] {
		case wantLevel:
			found = true
		case "INFO":
		default:
			t.Errorf("unexpected log line: %v", l)
		}
	}
	if wantLevel != "" && !found {
		t.Errorf("no %s log line in %v", wantLevel, logs)
	}
}

func TestHandleSQSBatch(t *testing.T) {
	mb := &memBuckets{}
	b := mb.bucket(t, "photos-eu")
	put(t, b, "uploads/2026/beach.jpg", photo)
	put(t, b, "uploads/poison.jpg", photo)
	put(t, b, "uploads/my photo+1.jpg", photo)
	// The poisoned message's object cannot be read: a transient failure.
	mb.faulty(t, "photos-eu", faultblob.Rule{Op: faultblob.Read, KeyPrefix: "uploads/poison", Times: 1000})

	h := newHandler(testConfig(), mb, memURL, nil)
	out, err, logs := invoke(t, h, fixture(t, "sqs-batch.json"))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var got events.SQSEventResponse
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	want := []events.SQSBatchItemFailure{{ItemIdentifier: "a9d2c6a1-8c3e-4d5e-9f10-5b1d7e2c3a02"}}
	if !reflect.DeepEqual(got.BatchItemFailures, want) {
		t.Errorf("batch item failures = %+v, want %+v (only the poisoned message)", got.BatchItemFailures, want)
	}
	wantKeys := []string{
		"thumbnails/200x200/uploads/2026/beach.jpg", "thumbnails/200x200/uploads/my photo+1.jpg",
		"thumbnails/64x64/uploads/2026/beach.jpg", "thumbnails/64x64/uploads/my photo+1.jpg",
		"thumbnails/manifests/uploads/2026/beach.jpg.json", "thumbnails/manifests/uploads/my photo+1.jpg.json",
		"uploads/2026/beach.jpg", "uploads/my photo+1.jpg", "uploads/poison.jpg",
	}
	if got := keys(t, mb.bucket(t, "photos-eu")); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("keys in bucket:\n got %q\nwant %q", got, wantKeys)
	}
	// Each message's lines name it (the invocation's summary line names
	// none); the truncated body is logged as ignored.
	var ignored, retried bool
	for _, l := range logs {
		if l["requestId"] != "req-7c1e" || l["messageId"] == nil && l["message"] != "invocation done" {
			t.Errorf("log line without requestId or messageId: %v", l)
		}
		ignored = ignored || (l["message"] == "message ignored" && l["messageId"] == "a9d2c6a1-8c3e-4d5e-9f10-5b1d7e2c3a03")
		retried = retried || (l["level"] == "WARN" && l["messageId"] == "a9d2c6a1-8c3e-4d5e-9f10-5b1d7e2c3a02")
	}
	if !ignored || !retried {
		t.Errorf("logs: truncated message ignored %v, poisoned message retried %v:\n%v", ignored, retried, logs)
	}

	// Redelivered once the storage is back, the poisoned message goes through.
	mb.mu.Lock()
	mb.m[memURL("photos-eu")] = b
	mb.mu.Unlock()
	out, err, _ = invoke(t, h, fixture(t, "sqs-batch.json"))
	if err != nil || !strings.Contains(string(out), `"batchItemFailures":[]`) {
		t.Fatalf("redelivery: %s, %v; want no failures", out, err)
	}
	if _, err := b.Attributes(context.Background(), "thumbnails/64x64/uploads/poison.jpg"); err != nil {
		t.Errorf("poisoned message's thumbnail after redelivery: %v", err)
	}
}

func TestHandleOutputBucket(t *testing.T) {
	mb := &memBuckets{}
	put(t, mb.bucket(t, "photos-eu"), "uploads/2026/beach.jpg", photo)
	cfg := testConfig()
	h := newHandler(cfg, mb, memURL, nil)
	h.setOutput(memURL("photos-eu-thumbs"))
	if _, err, _ := invoke(t, h, fixture(t, "s3-put.json")); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, mb.bucket(t, "photos-eu")), []string{"uploads/2026/beach.jpg"}; !reflect.DeepEqual(got, want) {
		t.Errorf("source bucket: %q, want %q", got, want)
	}
	want := []string{"thumbnails/200x200/uploads/2026/beach.jpg", "thumbnails/64x64/uploads/2026/beach.jpg", "thumbnails/manifests/uploads/2026/beach.jpg.json"}
	if got := keys(t, mb.bucket(t, "photos-eu-thumbs")); !reflect.DeepEqual(got, want) {
		t.Errorf("output bucket: %q, want %q", got, want)
	}
}

func TestShapeOf(t *testing.T) {
	tests := []struct {
		payload string
		want    shape
	}{
		{string(fixture(t, "s3-put.json")), s3Shape},
		{string(fixture(t, "s3-delete.json")), s3Shape},
		{string(fixture(t, "s3-test-event.json")), testShape},
		{string(fixture(t, "sqs-batch.json")), sqsShape},
		{`{"Records":[]}`, s3Shape},
		{`{}`, unknownShape},
		{`[]`, unknownShape},
		{`"hello"`, unknownShape},
		{`{"Records":`, unknownShape},
	}
	for _, tc := range tests {
		if got := shapeOf([]byte(tc.payload)); got != tc.want {
			t.Errorf("shapeOf(%.60s) = %v, want %v", tc.payload, got, tc.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantURL   string // of bucket "photos-eu"
		wantOut   string
		wantErrIn string
	}{
		{name: "defaults", env: map[string]string{}, wantURL: "s3://photos-eu"},
		{name: "endpoint override", env: map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"},
			wantURL: "s3://photos-eu?use_path_style=true"},
		{name: "global endpoint override", env: map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566"},
			wantURL: "s3://photos-eu?use_path_style=true"},
		{name: "output bucket", env: map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "s3://photos-eu-thumbs"},
			wantURL: "s3://photos-eu", wantOut: "s3://photos-eu-thumbs"},
		{name: "output bucket, endpoint override",
			env:     map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "s3://photos-eu-thumbs", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"},
			wantURL: "s3://photos-eu?use_path_style=true", wantOut: "s3://photos-eu-thumbs?use_path_style=true"},
		{name: "output bucket with its own query",
			env:     map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "s3://thumbs?region=us-east-1"},
			wantURL: "s3://photos-eu", wantOut: "s3://thumbs?region=us-east-1"},
		{name: "output bucket not s3", env: map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "gs://thumbs"},
			wantErrIn: "THUMBPIPE_OUTPUT_BUCKET"},
		{name: "output bucket with a path", env: map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "s3://thumbs/small"},
			wantErrIn: "THUMBPIPE_OUTPUT_BUCKET"},
		{name: "invalid config", env: map[string]string{"THUMBPIPE_SIZES": "big", "THUMBPIPE_JPEG_QUALITY": "500"},
			wantErrIn: "THUMBPIPE_SIZES"},
		{name: "events topic", env: map[string]string{"THUMBPIPE_EVENTS_TOPIC": "awssns:///arn:aws:sns:eu-west-1:123456789012:t?region=eu-west-1"},
			wantURL: "s3://photos-eu"},
		{name: "events topic not a topic URL", env: map[string]string{"THUMBPIPE_EVENTS_TOPIC": "arn:aws:sns:eu-west-1:123456789012:t"},
			wantErrIn: "THUMBPIPE_EVENTS_TOPIC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := fromEnv(func(k string) string { return tc.env[k] }, slog.Default())
			if tc.wantErrIn != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrIn) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErrIn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := h.bucketURL("photos-eu"); got != tc.wantURL {
				t.Errorf("bucket URL = %q, want %q", got, tc.wantURL)
			}
			if got := h.door.Config().OutputURL; got != tc.wantOut {
				t.Errorf("output bucket = %q, want %q", got, tc.wantOut)
			}
			if h.door.Made() {
				t.Error("the thumbnailer was made at init")
			}
			if got, want := h.door.Config().Events != nil, tc.env["THUMBPIPE_EVENTS_TOPIC"] != ""; got != want {
				t.Errorf("publishes events: %v, want %v", got, want)
			}
		})
	}
}

// TestDecodeBudget: without THUMBPIPE_MAX_DECODE_MEMORY the decode
// budget is half the function's memory; with it, the setting's.
func TestDecodeBudget(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want int64
	}{
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, 256 << 20},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}, 64 << 20},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008"}, 1504 << 20},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008", "THUMBPIPE_MAX_DECODE_MEMORY": "100MiB"}, 100 << 20},
		{map[string]string{}, pipeline.DefaultMaxDecodeMemory},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, pipeline.DefaultMaxDecodeMemory},
	}
	for _, tc := range tests {
		h, err := fromEnv(func(k string) string { return tc.env[k] }, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		if got := h.door.Config().Pipeline.MaxDecodeMemory; got != tc.want {
			t.Errorf("%v: decode budget %d, want %d", tc.env, got, tc.want)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want int64
	}{
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, 512 << 20 / 10 * 9},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "GOMEMLIMIT": "300MiB"}, 0},
		{map[string]string{}, 0},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, 0},
	}
	for _, tc := range tests {
		if got := memoryLimit(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("memoryLimit(%v) = %d, want %d", tc.env, got, tc.want)
		}
	}
}

// TestPermanentFailureLogsKeyOnce: a permanent failure's log line names the
// key once, the decoded one when the key decodes and the raw one otherwise.
func TestPermanentFailureLogsKeyOnce(t *testing.T) {
	const src = "photos-eu"
	tests := []struct {
		name, escapedKey, wantKey string
	}{
		{"corrupt image", "uploads/a+b.jpg", `"key":"uploads/a b.jpg"`},
		{"unsafe key", "uploads/../x.jpg", `"key":"uploads/../x.jpg"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mb := &memBuckets{}
			put(t, mb.bucket(t, src), "uploads/a b.jpg", photo[:len(photo)/3])
			var logs bytes.Buffer
			h := newHandler(testConfig(), mb, memURL, slog.New(slog.NewJSONHandler(&logs, nil)))
			if _, err := h.Handle(context.Background(), payload("ObjectCreated:Put", src, tc.escapedKey)); err != nil {
				t.Fatal(err)
			}
			var line string
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, `"outcome":"failed-permanent"`) || strings.Contains(l, `"outcome":"refused"`) {
					line = l
				}
			}
			if n := strings.Count(line, `"key":`); n != 1 || !strings.Contains(line, tc.wantKey) {
				t.Errorf("permanent failure logged with %d keys, want one, %s:\n%s", n, tc.wantKey, logs.String())
			}
		})
	}
}

// TestFanOut: a payload of many records is refused whole with one log line
// and a small response, whatever its size; an SQS batch larger than the
// function handles fails without any work, and the records of a batch
// beyond the budget are left for a redelivery.
func TestFanOut(t *testing.T) {
	var big bytes.Buffer
	big.WriteString(`{"Records":[{}`)
	for big.Len() < 6<<20-16 {
		big.WriteString(`,{}`)
	}
	big.WriteString(`]}`)
	mb := &memBuckets{}
	h := newHandler(testConfig(), mb, memURL, nil)
	out, err, logs := invoke(t, h, big.Bytes())
	if err != nil || len(out) > 1024 || !strings.Contains(string(out), "more than the 100") {
		t.Errorf("6 MB of records: %v, a %d byte response: %.200s", err, len(out), out)
	}
	if len(logs) != 2 {
		t.Errorf("%d log lines, want the refusal and the summary", len(logs))
	}

	msgs := make([]string, DefaultMaxRecords+1)
	for i := range msgs {
		msgs[i] = string(putEvent("e1"))
	}
	if _, err, logs := invoke(t, h, sqsPayload(msgs...)); err == nil || len(logs) != 1 || len(mb.m) != 0 {
		t.Errorf("an SQS batch of %d messages: %v, %d log lines, opened %d buckets; want it failed unread", len(msgs), err, len(logs), len(mb.m))
	}

	// With a budget of 2 records, a two-record message after a one-record
	// one waits for a redelivery.
	h.maxRecords = 2
	put(t, mb.bucket(t, "photos-eu"), "uploads/d.jpg", photo)
	var two map[string]any
	json.Unmarshal(putEvent("e1"), &two)
	two["Records"] = append(two["Records"].([]any), two["Records"].([]any)[0])
	twoRecords, _ := json.Marshal(two)
	out, err, _ = invoke(t, h, sqsPayload(string(putEvent("e1")), string(twoRecords)))
	var resp events.SQSEventResponse
	if err != nil || json.Unmarshal(out, &resp) != nil || len(resp.BatchItemFailures) != 1 {
		t.Errorf("three records, budget two: %v %s; want the second message reported back", err, out)
	}
}

// TestBucketsRefused: a bucket name against S3's rules or outside the
// allow-list is refused before it comes near a URL; nothing is opened.
func TestBucketsRefused(t *testing.T) {
	tests := []struct {
		name, bucket string
		allow        []string
		want         string
	}{
		{"query in the name", "x?private_key_path=/etc/hostname", nil, "not a valid S3 bucket name"},
		{"anonymous access asked for", "victim?anonymous=true", nil, "not a valid S3 bucket name"},
		{"not in the allow-list", "someone-elses-bucket", []string{"photos-eu"}, "allow-list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opened := 0
			open := buckets.OpenerFunc(func(context.Context, string) (*blob.Bucket, error) { opened++; return memblob.OpenBucket(nil), nil })
			h := newHandler(testConfig(), open, memURL, nil, tc.allow...)
			out, err, _ := invoke(t, h, payload("ObjectCreated:Put", tc.bucket, "uploads/a.jpg"))
			if err != nil || !strings.Contains(string(out), tc.want) || opened != 0 {
				t.Errorf("%v %s, opened %d; want refused with %q and nothing opened", err, out, opened, tc.want)
			}
		})
	}
}

// TestCompletionEvent: a deleted source's thumbnails are removed and the
// deletion published, with the event's bucket as the source.
func TestCompletionEvent(t *testing.T) {
	tp := eventstest.NewTopic(t)
	pub, err := completion.New(tp.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	mb := &memBuckets{}
	b := mb.bucket(t, "photos-eu")
	put(t, b, "uploads/beach.jpg", photo)
	h := newHandler(testConfig(), mb, memURL, nil)
	h.setEvents(pub)
	if _, err, _ := invoke(t, h, payload("ObjectCreated:Put", "photos-eu", "uploads/beach.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(context.Background(), "uploads/beach.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := invoke(t, h, payload("ObjectRemoved:Delete", "photos-eu", "uploads/beach.jpg")); err != nil {
		t.Fatal(err)
	}
	// The upload's event, with its manifest, and the deletion's, in
	// whichever order the topic delivers them.
	created, ev := tp.Receive(t), tp.Receive(t)
	if created.Type != completion.TypeCreated {
		created, ev = ev, created
	}
	if ev := created; ev.Type != completion.TypeCreated || ev.Subject != "uploads/beach.jpg" ||
		!strings.Contains(string(ev.Data), `"key":"thumbnails/64x64/uploads/beach.jpg"`) {
		t.Errorf("event %+v %s", ev, ev.Data)
	}
	if ev.Type != completion.TypeDeleted || ev.Source != "//thumbpipe/photos-eu" || ev.Subject != "uploads/beach.jpg" ||
		!strings.Contains(string(ev.Data), "thumbnails/64x64/uploads/beach.jpg") {
		t.Errorf("event %+v %s", ev, ev.Data)
	}
}
