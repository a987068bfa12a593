package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/mempubsub"

	"github.com/thumbpipe/thumbpipe/functions/queue"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/door/doortest"
	"github.com/thumbpipe/thumbpipe/internal/doormetrics"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

func event(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// minioBody is what MinIO publishes for one event: the webhook's JSON.
func minioBody(eventName, bucket, key, etag string) []byte {
	b, _ := json.Marshal(map[string]any{"EventName": eventName, "Key": bucket + "/" + key, "Records": []any{map[string]any{
		"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": eventName,
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano),
		"s3": map[string]any{"bucket": map[string]any{"name": bucket},
			"object": map[string]any{"key": url.QueryEscape(key), "eTag": etag, "sequencer": "17A0"}},
	}}})
	return b
}

func TestDecode(t *testing.T) {
	gcsAttrs := map[string]string{"eventType": "OBJECT_FINALIZE", "bucketId": "thumbpipe-demo", "objectId": "uploads/beach photo+1.jpg",
		"objectGeneration": "1743752582769318", "eventTime": "2025-04-04T07:43:02.791Z", "payloadFormat": "JSON_API_V1"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range gcsAttrs {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name       string
		body       []byte
		attrs      map[string]string
		maxRecords int
		want       []door.Event // Bucket, Key, Action of each
		kind       queue.Kind
		refused    []bool
		err        string
	}{
		{name: "MinIO put", body: event(t, "minio-put.json"),
			want: []door.Event{{Bucket: "images", Key: "uploads/my photo+1.jpg", Action: door.Created}}, kind: queue.S3},
		{name: "MinIO delete", body: event(t, "minio-delete.json"),
			want: []door.Event{{Bucket: "images", Action: door.Removed}}, kind: queue.S3},
		{name: "S3 via SQS", body: event(t, "s3-put.json"), want: []door.Event{{Action: door.Created}}, kind: queue.S3},
		{name: "unsafe key is refused", body: minioBody("s3:ObjectCreated:Put", "images", "../etc/passwd", "e"),
			want: []door.Event{{Bucket: "images", Action: door.Created}}, kind: queue.S3, refused: []bool{true}},
		{name: "unsafe key of an ignored event", body: minioBody("s3:ObjectAccessed:Get", "images", "../x", "e"),
			want: []door.Event{{Bucket: "images", Action: door.Other}}, kind: queue.S3, refused: []bool{false}},
		{name: "S3 test event", body: event(t, "s3-test-event.json"), err: `no "Records" field`},
		{name: "not JSON", body: []byte("hello"), err: "decode s3 event"},
		{name: "too many records", body: event(t, "minio-put.json"), maxRecords: -1, err: "more than"},
		{name: "Cloud Storage finalize", body: event(t, "gcs-finalized.json"), attrs: gcsAttrs,
			want: []door.Event{{Bucket: "thumbpipe-demo", Key: "uploads/beach photo+1.jpg", Action: door.Created}}, kind: queue.GCS},
		{name: "Cloud Storage thumbnail carries the marker", body: event(t, "gcs-thumbnail-finalized.json"), attrs: gcsAttrs,
			want: []door.Event{{Bucket: "thumbpipe-demo", Key: "uploads/beach photo+1.jpg", Action: door.Created,
				Metadata: map[string]string{pipeline.MetaSource: "x"}}}, kind: queue.GCS},
		{name: "Cloud Storage delete without payload", attrs: with("eventType", "OBJECT_DELETE"),
			want: []door.Event{{Bucket: "thumbpipe-demo", Action: door.Removed}}, kind: queue.GCS},
		{name: "Cloud Storage metadata update", attrs: with("eventType", "OBJECT_METADATA_UPDATE"),
			want: []door.Event{{Bucket: "thumbpipe-demo", Action: door.Other}}, kind: queue.GCS},
		{name: "Cloud Storage without object", attrs: with("objectId", ""), err: "needs the attributes"},
		{name: "Cloud Storage with a broken resource", body: []byte("{"), attrs: gcsAttrs, err: "object resource"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.maxRecords
			if max < 0 {
				max = 0
				var ev map[string][]any
				json.Unmarshal(tc.body, &ev)
				tc.body, _ = json.Marshal(map[string]any{"Records": append(ev["Records"], ev["Records"]...)})
				max = 1
			}
			recs, err := queue.Decode(tc.body, tc.attrs, max)
			if tc.err != "" {
				if !errors.Is(err, queue.ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want ErrMalformed saying %q", err, tc.err)
				}
				return
			}
			if err != nil || len(recs) != len(tc.want) {
				t.Fatalf("%d records, %v; want %d", len(recs), err, len(tc.want))
			}
			for i, w := range tc.want {
				r := recs[i]
				if r.Kind != tc.kind || r.Event.Action != w.Action || w.Bucket != "" && r.Event.Bucket != w.Bucket || w.Key != "" && r.Event.Key != w.Key {
					t.Errorf("record %d = %+v, want %+v of kind %d", i, r, w, tc.kind)
				}
				if r.Event.ID == "" || r.Event.Name == "" {
					t.Errorf("record %d has no ID or name: %+v", i, r.Event)
				}
				if _, marked := r.Event.Metadata[pipeline.MetaSource]; marked != (w.Metadata != nil) {
					t.Errorf("record %d metadata %v, marker expected: %v", i, r.Event.Metadata, w.Metadata != nil)
				}
				if tc.refused != nil && (r.Err != nil) != tc.refused[i] {
					t.Errorf("record %d: error %v, refused expected: %v", i, r.Err, tc.refused[i])
				}
			}
			if tc.kind == queue.GCS && tc.want[0].Action == door.Created && recs[0].Event.Time.IsZero() {
				t.Error("the event time was not read")
			}
		})
	}
}

// delivery is a message as a test hands it to Worker.Handle.
type delivery struct {
	body                    []byte
	attrs                   map[string]string
	attempt                 int
	acks, retries, releases atomic.Int32
	working                 atomic.Int32
}

func (d *delivery) Body() []byte                  { return d.body }
func (d *delivery) Attributes() map[string]string { return d.attrs }
func (d *delivery) ID() string                    { return "test" }
func (d *delivery) Attempt() int                  { return d.attempt }
func (d *delivery) Ack() error                    { d.acks.Add(1); return nil }
func (d *delivery) Retry() error                  { d.retries.Add(1); return nil }
func (d *delivery) Release() error                { d.releases.Add(1); return nil }
func (d *delivery) Working() error                { d.working.Add(1); return nil }

// idle is a source with nothing to receive, for tests that call Handle.
type idle struct{ keepAlive time.Duration }

func (idle) Receive(ctx context.Context) (queue.Delivery, error) { <-ctx.Done(); return nil, ctx.Err() }
func (s idle) KeepAlive() time.Duration                          { return s.keepAlive }
func (idle) Close(context.Context) error                         { return nil }

// newDoors returns the S3 and GCS doors over open, for bucket "images".
func newDoors(t *testing.T, open buckets.Opener, log *slog.Logger) (s3, gcs *door.Door) {
	t.Helper()
	th, err := pipeline.NewThumbnailer(doortest.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(check func(string) error) *door.Door {
		d, err := door.New(door.Config{Thumbnailer: th, Open: open, BucketURL: func(n string) string { return "mem://" + n },
			Buckets: []string{"images"}, CheckBucket: check, MaxEventAge: time.Hour, MaxAttempts: 5, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return mk(door.S3BucketName), mk(door.GCSBucketName)
}

func only(src *blob.Bucket) buckets.Opener {
	return buckets.OpenerFunc(func(_ context.Context, u string) (*blob.Bucket, error) {
		if u != "mem://images" {
			return nil, fmt.Errorf("unexpected bucket %s", u)
		}
		return src, nil
	})
}

type workerDoor struct{ w *queue.Worker }

func (d workerDoor) Deliver(t *testing.T, dl doortest.Delivery) doortest.Answer {
	name := "s3:ObjectCreated:Put"
	if dl.Action == door.Removed {
		name = "s3:ObjectRemoved:Delete"
	}
	m := &delivery{body: minioBody(name, "images", dl.Key, dl.Version), attempt: 1}
	res := d.w.Handle(context.Background(), m)
	if res.Acked == res.Retried || m.acks.Load()+m.retries.Load() != 1 {
		t.Fatalf("message acknowledged %d times and retried %d times (%+v)", m.acks.Load(), m.retries.Load(), res)
	}
	a := doortest.Answer{Retry: res.Retried}
	for _, o := range res.Outcomes {
		a.Written += o.Written()
		if o.Status == door.FailedPermanent {
			a.Failed = o.Err.Error()
		}
	}
	return a
}

// TestDeliveries runs the delivery conformance suite against the worker.
func TestDeliveries(t *testing.T) {
	doortest.Run(t, func(t *testing.T, src *blob.Bucket) doortest.Door {
		s3, gcs := newDoors(t, only(src), slog.New(slog.DiscardHandler))
		w, err := queue.New(queue.Config{Source: idle{}, S3: s3, GCS: gcs, Concurrency: 8, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return workerDoor{w}
	})
}

// TestHandle: what is acknowledged and what is handed back, and the
// metrics each counts under.
func TestHandle(t *testing.T) {
	ctx := context.Background()
	src := memblob.OpenBucket(nil)
	src.WriteAll(ctx, "a.jpg", pixeltest.JPEG(pixeltest.Photo(120, 90, 1), 85), nil)
	src.WriteAll(ctx, "bad.jpg", []byte("not an image"), nil)
	var fail atomic.Bool
	open := buckets.OpenerFunc(func(ctx context.Context, u string) (*blob.Bucket, error) {
		if fail.Load() {
			return nil, errors.New("storage is down")
		}
		return only(src).Open(ctx, u)
	})
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s3, gcs := newDoors(t, open, log)
	w, err := queue.New(queue.Config{Source: idle{}, S3: s3, GCS: gcs, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	gcsMsg := func(typ, bucket, key string) *delivery {
		return &delivery{attrs: map[string]string{"eventType": typ, "bucketId": bucket, "objectId": key, "payloadFormat": "NONE"}}
	}
	tests := []struct {
		name    string
		m       *delivery
		fail    bool
		acked   bool
		outcome doormetrics.Outcome
	}{
		{"made", &delivery{body: minioBody("s3:ObjectCreated:Put", "images", "a.jpg", "v1")}, false, true, doormetrics.Processed},
		{"again: up to date", &delivery{body: minioBody("s3:ObjectCreated:Put", "images", "a.jpg", "v1")}, false, true, doormetrics.UpToDate},
		{"corrupt: acknowledged", &delivery{body: minioBody("s3:ObjectCreated:Put", "images", "bad.jpg", "v1")}, false, true, doormetrics.FailedPermanent},
		{"foreign bucket: acknowledged", &delivery{body: minioBody("s3:ObjectCreated:Put", "private", "a.jpg", "v1")}, false, true, doormetrics.Refused},
		{"not an event: acknowledged", &delivery{body: []byte(`{"Service":"Amazon S3","Event":"s3:TestEvent"}`)}, false, true, doormetrics.BadRequest},
		{"storage down: retried", &delivery{body: minioBody("s3:ObjectCreated:Put", "images", "a.jpg", "v2")}, true, false, doormetrics.FailedTransient},
		{"Cloud Storage bucket name rules", gcsMsg("OBJECT_FINALIZE", "Images", "a.jpg"), false, true, doormetrics.Refused},
		{"Cloud Storage delete", gcsMsg("OBJECT_DELETE", "images", "gone.jpg"), false, true, doormetrics.Deleted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fail.Store(tc.fail)
			before := metric(t, w, tc.outcome)
			res := w.Handle(ctx, tc.m)
			if res.Acked != tc.acked || tc.m.acks.Load() != b2i(tc.acked) || tc.m.retries.Load() != b2i(!tc.acked) {
				t.Errorf("acked %v (acks %d, retries %d), want acked %v; %+v", res.Acked, tc.m.acks.Load(), tc.m.retries.Load(), tc.acked, res)
			}
			if got := metric(t, w, tc.outcome); got != before+1 {
				t.Errorf("events{outcome=%q} went from %v to %v", tc.outcome, before, got)
			}
		})
	}
	if !strings.Contains(logs.String(), `"msg":"not a bucket notification; acknowledged"`) {
		t.Errorf("no line about the message that is not an event:\n%s", logs.String())
	}
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// metric reads thumbpipe_events_total{outcome=o} from the worker's metrics.
func metric(t *testing.T, w *queue.Worker, o doormetrics.Outcome) float64 {
	t.Helper()
	return counter(t, w.Metrics(), `thumbpipe_events_total{outcome="`+string(o)+`"}`)
}

// TestKeepAlive: a message that takes longer than the source's keep-alive
// period is reported as still being worked on.
func TestKeepAlive(t *testing.T) {
	release := make(chan struct{})
	open := buckets.OpenerFunc(func(_ context.Context, u string) (*blob.Bucket, error) {
		<-release
		return memblob.OpenBucket(nil), nil
	})
	s3, gcs := newDoors(t, open, slog.New(slog.DiscardHandler))
	w, err := queue.New(queue.Config{Source: idle{keepAlive: 5 * time.Millisecond}, S3: s3, GCS: gcs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m := &delivery{body: minioBody("s3:ObjectCreated:Put", "images", "a.jpg", "v1")}
	done := make(chan queue.Result)
	go func() { done <- w.Handle(context.Background(), m) }()
	for m.working.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if res := <-done; !res.Acked {
		t.Errorf("%+v, want acknowledged (the source is missing: permanent)", res)
	}
	n := m.working.Load()
	time.Sleep(20 * time.Millisecond)
	if m.working.Load() != n {
		t.Error("the keep-alive goes on after the message is done")
	}
}

// counting is a source that counts its deliveries' acknowledgements and
// retries.
type counting struct {
	queue.Source
	acks, retries atomic.Int32
}

func (c *counting) Receive(ctx context.Context) (queue.Delivery, error) {
	d, err := c.Source.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return countingDelivery{d, c}, nil
}

type countingDelivery struct {
	queue.Delivery
	c *counting
}

func (d countingDelivery) Ack() error   { d.c.acks.Add(1); return d.Delivery.Ack() }
func (d countingDelivery) Retry() error { d.c.retries.Add(1); return d.Delivery.Retry() }

// TestRunOnMemTopic runs the worker on an in-memory topic: every upload
// gets its thumbnails, and each message is acknowledged once.
// When the context ends, Run finishes the message in flight, acknowledges
// it and returns.
func TestRunOnMemTopic(t *testing.T) {
	ctx := context.Background()
	topic := mempubsub.NewTopic()
	defer topic.Shutdown(ctx)
	// Long enough that nothing comes again unless it was not acknowledged.
	sub := mempubsub.NewSubscription(topic, time.Minute)
	src := memblob.OpenBucket(nil)
	gate := make(chan struct{}, 100)
	opened := make(chan struct{}, 100)
	open := buckets.OpenerFunc(func(ctx context.Context, u string) (*blob.Bucket, error) {
		opened <- struct{}{}
		<-gate
		return only(src).Open(ctx, u)
	})
	var logs testserver.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s3, gcs := newDoors(t, open, log)
	src2 := &counting{Source: &queue.PubSub{Sub: sub}}
	w, err := queue.New(queue.Config{Source: src2, S3: s3, GCS: gcs, Concurrency: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error)
	go func() { ran <- w.Run(runCtx) }()

	keys := []string{"a.jpg", "b.jpg", "c.jpg"}
	for i, k := range keys {
		src.WriteAll(ctx, k, pixeltest.JPEG(pixeltest.Photo(100, 80, uint64(i)), 85), nil)
		if err := topic.Send(ctx, &pubsub.Message{Body: minioBody("s3:ObjectCreated:Put", "images", k, "v1")}); err != nil {
			t.Fatal(err)
		}
	}
	for range keys {
		gate <- struct{}{}
	}
	waitFor(t, "every thumbnail", func() bool {
		return counter(t, w.Metrics(), "thumbpipe_variants_written_total") == float64(2*len(keys))
	})
	for range keys {
		<-opened
	}
	waitFor(t, "the acknowledgements", func() bool { return src2.acks.Load() == int32(len(keys)) })
	if n := strings.Count(logs.String(), `"msg":"received"`); n != len(keys) {
		t.Errorf("%d messages received, want %d", n, len(keys))
	}

	// One more, held in the door while the worker is told to stop.
	src.WriteAll(ctx, "d.jpg", pixeltest.JPEG(pixeltest.Photo(100, 80, 9), 85), nil)
	topic.Send(ctx, &pubsub.Message{Body: minioBody("s3:ObjectCreated:Put", "images", "d.jpg", "v1")})
	<-opened
	stop()
	select {
	case <-ran:
		t.Fatal("Run returned with a message in flight")
	case <-time.After(50 * time.Millisecond):
	}
	gate <- struct{}{}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if got := counter(t, w.Metrics(), `thumbpipe_events_total{outcome="processed"}`); got != 4 || src2.acks.Load() != 4 || src2.retries.Load() != 0 {
		t.Errorf("processed = %v, acknowledged %d, retried %d; want 4, 4, 0: the message in flight was not finished",
			got, src2.acks.Load(), src2.retries.Load())
	}
	if err := sub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestNATS runs the worker on a real JetStream server: two workers open
// the same stream and consumer (idempotently), a message is handled and
// acknowledged (the work queue is then empty), and a message that failed
// transiently comes again, counted as a second delivery.
func TestNATS(t *testing.T) {
	ns := testserver.StartNATS(t)
	ctx := context.Background()
	cfg, err := queue.ParseNATS(ns.URL() + "/EVENTS/workers?subject=minio.events&ack_wait=5s")
	if err != nil {
		t.Fatal(err)
	}
	a, err := queue.OpenNATS(ctx, cfg, "test a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := queue.OpenNATS(ctx, cfg, "test b")
	if err != nil {
		t.Fatalf("a second worker cannot open what the first made: %v", err)
	}
	defer b.Close(ctx)

	src := memblob.OpenBucket(nil)
	src.WriteAll(ctx, "a.jpg", pixeltest.JPEG(pixeltest.Photo(100, 80, 1), 85), nil)
	var fails atomic.Int32
	fails.Store(1)
	open := buckets.OpenerFunc(func(ctx context.Context, u string) (*blob.Bucket, error) {
		if fails.Add(-1) >= 0 {
			return nil, errors.New("storage is down")
		}
		return only(src).Open(ctx, u)
	})
	var logs testserver.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s3, gcs := newDoors(t, open, log)
	w, err := queue.New(queue.Config{Source: a, S3: s3, GCS: gcs, Concurrency: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error)
	go func() { ran <- w.Run(runCtx) }()

	publish(t, ns.URL(), "minio.events", minioBody("s3:ObjectCreated:Put", "images", "a.jpg", "v1"))
	waitFor(t, "the thumbnails", func() bool { return counter(t, w.Metrics(), "thumbpipe_variants_written_total") == 2 })
	if got := counter(t, w.Metrics(), `thumbpipe_events_total{outcome="failed_transient"}`); got != 1 {
		t.Errorf("failed_transient = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), `"attempt":2`) {
		t.Errorf("no second delivery in the logs:\n%s", logs.String())
	}
	waitFor(t, "the work queue to empty", func() bool { return streamMessages(t, ns.URL(), "EVENTS") == 0 })
	stop()
	<-ran
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
