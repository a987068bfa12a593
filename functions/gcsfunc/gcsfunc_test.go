package gcsfunc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/internal/events/eventstest"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// fixture reads a captured event payload from testdata/events.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newEvent builds a CloudEvent as Eventarc delivers it for an object.
func newEvent(t *testing.T, typ, bucket, name string, data any) event.Event {
	t.Helper()
	e := event.New()
	e.SetID(fmt.Sprintf("evt-%d", time.Now().UnixNano()))
	e.SetSource("//storage.googleapis.com/projects/_/buckets/" + bucket)
	e.SetType(typ)
	e.SetSubject("objects/" + name)
	e.SetTime(time.Now())
	// SetData encodes values as JSON and keeps []byte as it is (which
	// lets a test send bytes that are not JSON at all).
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return e
}

// objectEvent is newEvent with the usual object data.
func objectEvent(t *testing.T, typ, bucket, name string, meta map[string]string) event.Event {
	return newEvent(t, typ, bucket, name, map[string]any{
		"kind": "storage#object", "bucket": bucket, "name": name,
		"generation": "1743752582769318", "metageneration": "1",
		"contentType": "image/jpeg", "size": "1234", "metadata": meta,
		"timeCreated": time.Now().UTC().Format(time.RFC3339Nano),
	})
}

// rig is a handler on memblob buckets that counts bucket opens and keeps
// its log lines.
type rig struct {
	h      *handler
	bucket *blob.Bucket
	logs   *bytes.Buffer
	mu     sync.Mutex
	opened []string
}

// EnvMaxEventAge names the variable of the oldest event the function
// handles.
const EnvMaxEventAge = "THUMBPIPE_MAX_EVENT_AGE"

// TestLoadSettingsOutputBucket: the output bucket's URL reaches the
// handler's settings, and an include glob that only a separate bucket
// makes safe is accepted with one.
func TestLoadSettingsOutputBucket(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    string
		wantErr bool
	}{
		{map[string]string{}, "", false},
		{map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "gs://thumbs", "THUMBPIPE_INCLUDE": "**"}, "gs://thumbs", false},
		{map[string]string{"THUMBPIPE_INCLUDE": "**"}, "", true},
	}
	for _, tc := range tests {
		s, err := loadSettings(func(k string) string { return tc.env[k] })
		if (err != nil) != tc.wantErr || err == nil && s.output != tc.want {
			t.Errorf("%v: loadSettings = %+v, %v; want output %q, error %v", tc.env, s, err, tc.want, tc.wantErr)
		}
	}
}

func newRig(t *testing.T, cfg pipeline.Config, wrap func(*blob.Bucket) *blob.Bucket) *rig {
	t.Helper()
	return newRigWith(t, settings{cfg: cfg, maxAge: DefaultMaxEventAge}, wrap)
}

// newRigWith is newRig with settings of its own.
func newRigWith(t *testing.T, s settings, wrap func(*blob.Bucket) *blob.Bucket) *rig {
	t.Helper()
	src := memblob.OpenBucket(nil)
	t.Cleanup(func() { src.Close() })
	r := &rig{bucket: src, logs: &bytes.Buffer{}}
	served := src
	if wrap != nil {
		served = wrap(src)
	}
	open := buckets.OpenerFunc(func(ctx context.Context, url string) (*blob.Bucket, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.opened = append(r.opened, url)
		if url != "gs://thumbpipe-demo" {
			return nil, fmt.Errorf("unexpected bucket %s", url)
		}
		return served, nil
	})
	r.h = newHandler(s, open, slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return r
}

// lines returns the log lines, decoded.
func (r *rig) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// lastMsg returns the last log line's message.
func (r *rig) lastMsg(t *testing.T) string {
	t.Helper()
	ls := r.lines(t)
	if len(ls) == 0 {
		t.Fatal("nothing logged")
	}
	return fmt.Sprint(ls[len(ls)-1]["msg"])
}

func (r *rig) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if err := r.bucket.WriteAll(context.Background(), key, data, &blob.WriterOptions{ContentType: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) exists(t *testing.T, key string) bool {
	t.Helper()
	ok, err := r.bucket.Exists(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestDecodeObject(t *testing.T) {
	created := time.Date(2025, 4, 4, 7, 43, 2, 791e6, time.UTC)
	tests := []struct {
		name    string
		data    []byte
		want    objectData
		wantErr bool
	}{
		{"captured finalized", fixture(t, "gcs-finalized.json"), objectData{
			Bucket: "thumbpipe-demo", Name: "uploads/beach photo+1.jpg", Generation: 1743752582769318, Metageneration: 1,
			ContentType: "image/jpeg", Size: 48213, TimeCreated: created, Updated: created}, false},
		{"captured deleted", fixture(t, "gcs-deleted.json"), objectData{
			Bucket: "thumbpipe-demo", Name: "uploads/beach photo+1.jpg", Generation: 1743752582769318, Metageneration: 1,
			ContentType: "image/jpeg", Size: 48213, TimeCreated: created, Updated: created}, false},
		{"captured thumbnail", fixture(t, "gcs-thumbnail-finalized.json"), objectData{
			Bucket: "thumbpipe-demo", Name: "thumbnails/200x200/uploads/beach photo+1.jpg", Generation: 1743752583911204, Metageneration: 1,
			ContentType: "image/jpeg", Size: 9120,
			Metadata: map[string]string{
				"thumbpipe-source": "uploads%2Fbeach%20photo+1.jpg", "thumbpipe-source-etag": "CKbVlsrwvYwDEAE=", "thumbpipe-config": "5d41402abc4b2a76"},
			TimeCreated: time.Date(2025, 4, 4, 7, 43, 3, 911e6, time.UTC), Updated: time.Date(2025, 4, 4, 7, 43, 3, 911e6, time.UTC)}, false},
		{"numbers as numbers, unknown fields, no times", []byte(`{"bucket":"b","name":"k","size":12,"generation":7,"retention":{"mode":"Locked"},"softDeleteTime":"x"}`),
			objectData{Bucket: "b", Name: "k", Size: 12, Generation: 7}, false},
		{"null and empty numbers", []byte(`{"bucket":"b","name":"k","size":null,"generation":""}`), objectData{Bucket: "b", Name: "k"}, false},
		{"not JSON", []byte(`<xml/>`), objectData{}, true},
		{"empty", []byte("  "), objectData{}, true},
		{"JSON array", []byte(`[1,2]`), objectData{}, true},
		{"no name", []byte(`{"bucket":"b"}`), objectData{}, true},
		{"no bucket", []byte(`{"name":"k"}`), objectData{}, true},
		{"size not a number", []byte(`{"bucket":"b","name":"k","size":"big"}`), objectData{}, true},
		{"bad time", []byte(`{"bucket":"b","name":"k","updated":"yesterday"}`), objectData{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeObject(tc.data)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", got)
				}
				if !strings.Contains(err.Error(), errMalformed.Error()) {
					t.Errorf("error %q does not say the data is malformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.TimeCreated.Equal(tc.want.TimeCreated) || !got.Updated.Equal(tc.want.Updated) {
				t.Errorf("times %v, %v; want %v, %v", got.TimeCreated, got.Updated, tc.want.TimeCreated, tc.want.Updated)
			}
			got.TimeCreated, got.Updated, tc.want.TimeCreated, tc.want.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func smallConfig() pipeline.Config {
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 64, Height: 64, Mode: "fit"}, {Width: 32, Height: 32, Mode: "fill"}}
	return cfg
}

// TestFinalizedAndDeleted follows one object through upload, a duplicate
// delivery, the events of its own thumbnails, and deletion.
func TestFinalizedAndDeleted(t *testing.T) {
	r := newRig(t, smallConfig(), nil)
	ctx := context.Background()
	const key = "uploads/beach photo+1.jpg"
	r.put(t, key, pixeltest.JPEG(pixeltest.Photo(160, 120, 3), 90))

	// The captured payload, delivered as Eventarc would.
	fin := newEvent(t, TypeFinalized, "thumbpipe-demo", key, json.RawMessage(fixture(t, "gcs-finalized.json")))
	if err := r.h.handle(ctx, fin); err != nil {
		t.Fatal(err)
	}
	pipelinetest.CheckVariant(t, r.bucket, "thumbnails/64x64/"+key, key, "image/jpeg", 64, 48, true)
	pipelinetest.CheckVariant(t, r.bucket, "thumbnails/32x32/"+key, key, "image/jpeg", 32, 32, true)
	last := r.lines(t)[len(r.lines(t))-1]
	if last["msg"] != "done" || last["written"] != 2.0 || last["object"] != key || last["bucket"] != "thumbpipe-demo" || last["generation"] != 1743752582769318.0 {
		t.Errorf("last log line %v", last)
	}

	// Redelivery: acknowledged, nothing rewritten.
	if err := r.h.handle(ctx, fin); err != nil {
		t.Fatal(err)
	}
	if last := r.lines(t)[len(r.lines(t))-1]; last["written"] != 0.0 {
		t.Errorf("duplicate delivery wrote thumbnails: %v", last)
	}

	// The thumbnails' own events: the marker in the event stops them before
	// any storage call, whether they are finalized or deleted.
	opens := len(r.opened)
	for _, typ := range []string{TypeFinalized, TypeDeleted} {
		thumb := newEvent(t, typ, "thumbpipe-demo", "thumbnails/200x200/"+key, json.RawMessage(fixture(t, "gcs-thumbnail-finalized.json")))
		if err := r.h.handle(ctx, thumb); err != nil {
			t.Fatal(err)
		}
		if msg := r.lastMsg(t); msg != "skipped" {
			t.Errorf("%s of a thumbnail: logged %q, want skipped", typ, msg)
		}
	}
	if len(r.opened) != opens {
		t.Errorf("thumbnail events opened buckets: %v", r.opened[opens:])
	}

	// An overwrite sends deleted for the old generation while the key
	// exists: the thumbnails stay.
	del := newEvent(t, TypeDeleted, "thumbpipe-demo", key, json.RawMessage(fixture(t, "gcs-deleted.json")))
	if err := r.h.handle(ctx, del); err != nil {
		t.Fatal(err)
	}
	if !r.exists(t, "thumbnails/64x64/"+key) {
		t.Fatal("deleted event for a key that exists removed its thumbnails")
	}

	// A real deletion removes every variant.
	if err := r.bucket.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := r.h.handle(ctx, del); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"thumbnails/64x64/" + key, "thumbnails/32x32/" + key} {
		if r.exists(t, k) {
			t.Errorf("%s survived its source's deletion", k)
		}
	}
	if last := r.lines(t)[len(r.lines(t))-1]; last["msg"] != "done" || last["action"] != "removed" || last["removed"] != 2.0 {
		t.Errorf("last log line %v", last)
	}
}

// TestCompletionEvent: a deleted event for an overwritten object publishes
// nothing; a real deletion publishes one, with the bucket as its source.
func TestCompletionEvent(t *testing.T) {
	tp := eventstest.NewTopic(t)
	r := newRigWith(t, settings{cfg: smallConfig(), maxAge: DefaultMaxEventAge, events: tp.URL}, nil)
	t.Cleanup(func() { r.h.door.Config().Events.Close() })
	ctx := context.Background()
	const key = "uploads/beach photo+1.jpg"
	r.put(t, key, pixeltest.JPEG(pixeltest.Photo(160, 120, 3), 90))
	if err := r.h.handle(ctx, newEvent(t, TypeFinalized, "thumbpipe-demo", key, json.RawMessage(fixture(t, "gcs-finalized.json")))); err != nil {
		t.Fatal(err)
	}
	del := newEvent(t, TypeDeleted, "thumbpipe-demo", key, json.RawMessage(fixture(t, "gcs-deleted.json")))
	if err := r.h.handle(ctx, del); err != nil { // the object exists: an overwrite
		t.Fatal(err)
	}
	if err := r.bucket.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := r.h.handle(ctx, del); err != nil {
		t.Fatal(err)
	}
	// The upload's event, with its manifest, and (the overwrite's
	// published nothing) the real deletion's, in whichever order the
	// topic delivers them.
	created, ev := tp.Receive(t), tp.Receive(t)
	if created.Type != events.TypeCreated {
		created, ev = ev, created
	}
	if ev := created; ev.Type != events.TypeCreated || ev.Subject != key ||
		!strings.Contains(string(ev.Data), `"key":"thumbnails/64x64/uploads/beach photo+1.jpg"`) {
		t.Errorf("event %+v %s", ev, ev.Data)
	}
	if ev.Type != events.TypeDeleted || ev.Source != "//thumbpipe/thumbpipe-demo" || ev.Subject != key ||
		!strings.Contains(string(ev.Data), `"removed":["thumbnails/64x64/uploads/beach photo+1.jpg","thumbnails/32x32/`) {
		t.Errorf("event %+v %s", ev, ev.Data)
	}
}

// TestAcknowledged covers events that must answer 200 without work or
// with a permanent failure: each returns nil.
func TestAcknowledged(t *testing.T) {
	tests := []struct {
		name     string
		event    func(t *testing.T) event.Event
		put      map[string][]byte
		wantMsg  string
		wantOpen bool
	}{
		{
			name: "thumbnail prefix without marker",
			event: func(t *testing.T) event.Event {
				return objectEvent(t, TypeFinalized, "thumbpipe-demo", "thumbnails/64x64/a.jpg", nil)
			},
			wantMsg: "skipped",
		},
		{
			name: "marker outside the prefix",
			event: func(t *testing.T) event.Event {
				return objectEvent(t, TypeFinalized, "thumbpipe-demo", "elsewhere/a.jpg", map[string]string{pipeline.MetaSource: "a.jpg"})
			},
			wantMsg: "skipped",
		},
		{
			name: "folder marker",
			event: func(t *testing.T) event.Event {
				return objectEvent(t, TypeFinalized, "thumbpipe-demo", "uploads/", nil)
			},
			wantMsg: "skipped",
		},
		{
			name: "metadata updated",
			event: func(t *testing.T) event.Event {
				return objectEvent(t, "google.cloud.storage.object.v1.metadataUpdated", "thumbpipe-demo", "a.jpg", nil)
			},
			wantMsg: "skipped",
		},
		{
			name: "archived",
			event: func(t *testing.T) event.Event {
				return objectEvent(t, "google.cloud.storage.object.v1.archived", "thumbpipe-demo", "a.jpg", nil)
			},
			wantMsg: "skipped",
		},
		{
			name: "pub/sub message",
			event: func(t *testing.T) event.Event {
				return newEvent(t, "google.cloud.pubsub.topic.v1.messagePublished", "x", "y", map[string]any{"message": map[string]any{}})
			},
			wantMsg: "skipped",
		},
		{
			name: "data not JSON",
			event: func(t *testing.T) event.Event {
				return newEvent(t, TypeFinalized, "thumbpipe-demo", "a.jpg", []byte("\x00\x01garbage"))
			},
			wantMsg: "malformed event; acknowledged",
		},
		{
			name: "data without a name",
			event: func(t *testing.T) event.Event {
				return newEvent(t, TypeFinalized, "thumbpipe-demo", "a.jpg", map[string]any{"bucket": "thumbpipe-demo"})
			},
			wantMsg: "malformed event; acknowledged",
		},
		{
			name: "no data",
			event: func(t *testing.T) event.Event {
				return newEvent(t, TypeDeleted, "thumbpipe-demo", "a.jpg", []byte(nil))
			},
			wantMsg: "malformed event; acknowledged",
		},
		{
			name: "older than the max age",
			event: func(t *testing.T) event.Event {
				e := objectEvent(t, TypeFinalized, "thumbpipe-demo", "a.jpg", nil)
				e.SetTime(time.Now().Add(-DefaultMaxEventAge - time.Minute))
				return e
			},
			put:     map[string][]byte{"a.jpg": pixeltest.JPEG(pixeltest.Photo(80, 80, 1), 80)},
			wantMsg: "dropped; acknowledged (run thumbpipe backfill to catch up)",
		},
		{
			name:     "corrupt image",
			event:    func(t *testing.T) event.Event { return objectEvent(t, TypeFinalized, "thumbpipe-demo", "bad.jpg", nil) },
			put:      map[string][]byte{"bad.jpg": append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{7}, 200)...)},
			wantMsg:  "failed permanently; acknowledged",
			wantOpen: true,
		},
		{
			name: "source already gone",
			event: func(t *testing.T) event.Event {
				return objectEvent(t, TypeFinalized, "thumbpipe-demo", "gone.jpg", nil)
			},
			wantMsg:  "failed permanently; acknowledged",
			wantOpen: true,
		},
		{
			name: "not an image",
			event: func(t *testing.T) event.Event {
				return objectEvent(t, TypeFinalized, "thumbpipe-demo", "notes.jpg", nil)
			},
			put:      map[string][]byte{"notes.jpg": []byte("just some text that claims to be a JPEG")},
			wantMsg:  "failed permanently; acknowledged",
			wantOpen: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, smallConfig(), nil)
			for k, v := range tc.put {
				r.put(t, k, v)
			}
			if err := r.h.handle(context.Background(), tc.event(t)); err != nil {
				t.Fatalf("handle returned %v; the event must be acknowledged", err)
			}
			if got := r.lastMsg(t); got != tc.wantMsg {
				t.Errorf("logged %q, want %q\n%s", got, tc.wantMsg, r.logs)
			}
			if got := len(r.opened) > 0; got != tc.wantOpen {
				t.Errorf("opened buckets %v, want open=%v", r.opened, tc.wantOpen)
			}
			// Nothing but the failure record of a source that is there.
			var records int
			iter := r.bucket.List(&blob.ListOptions{Prefix: "thumbnails/"})
			for {
				obj, err := iter.Next(context.Background())
				if err != nil {
					break
				}
				if !strings.HasPrefix(obj.Key, "thumbnails/failures/") || tc.put == nil {
					t.Errorf("wrote %s", obj.Key)
				}
				records++
			}
			if tc.wantMsg == "failed permanently; acknowledged" && tc.put != nil && records != 1 {
				t.Errorf("%d failure records, want 1", records)
			}
		})
	}
}

// TestTransientIsReturned: a storage failure that may pass is returned, so
// the framework answers 500 and Eventarc redelivers; the redelivery works.
func TestTransientIsReturned(t *testing.T) {
	faults := faultblob.New(1)
	r := newRig(t, smallConfig(), func(b *blob.Bucket) *blob.Bucket { return faultblob.Wrap(b, faults) })
	r.put(t, "a.jpg", pixeltest.JPEG(pixeltest.Photo(80, 60, 2), 80))
	e := objectEvent(t, TypeFinalized, "thumbpipe-demo", "a.jpg", nil)

	for _, op := range []faultblob.Op{faultblob.Attributes, faultblob.Read, faultblob.Write, faultblob.Close} {
		faults.Clear()
		faults.Add(faultblob.Rule{Op: op, Times: 1})
		err := r.h.handle(context.Background(), e)
		if err == nil || !pipeline.Retryable(err) {
			t.Fatalf("%s outage: handle returned %v, want a retryable error", op, err)
		}
		if msg := r.lastMsg(t); msg != "failed; will be retried" {
			t.Errorf("%s outage: logged %q", op, msg)
		}
	}
	faults.Clear()
	if err := r.h.handle(context.Background(), e); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	pipelinetest.CheckVariant(t, r.bucket, "thumbnails/64x64/a.jpg", "a.jpg", "image/jpeg", 64, 48, true)

	// Denied access is retryable too (an operator may grant it), and so is
	// a delete that cannot look at the bucket.
	faults.Add(faultblob.Rule{Op: faultblob.Attributes, Times: 1, Code: gcerrors.PermissionDenied})
	if err := r.h.handle(context.Background(), objectEvent(t, TypeFinalized, "thumbpipe-demo", "b.jpg", nil)); err == nil {
		t.Error("permission denied was acknowledged")
	}
	if err := r.bucket.Delete(context.Background(), "a.jpg"); err != nil {
		t.Fatal(err)
	}
	faults.Add(faultblob.Rule{Op: faultblob.Attributes, KeyPrefix: "thumbnails/", Times: 1})
	if err := r.h.handle(context.Background(), objectEvent(t, TypeDeleted, "thumbpipe-demo", "a.jpg", nil)); err == nil {
		t.Error("a delete that failed to check a thumbnail was acknowledged")
	}
}

func TestOpenFailuresAreRetried(t *testing.T) {
	cfg := smallConfig()
	r := newRigWith(t, settings{cfg: cfg, output: "gs://thumbs", maxAge: DefaultMaxEventAge}, nil) // the rig opens only gs://thumbpipe-demo
	r.put(t, "a.jpg", pixeltest.JPEG(pixeltest.Photo(80, 60, 2), 80))
	if err := r.h.handle(context.Background(), objectEvent(t, TypeFinalized, "thumbpipe-demo", "a.jpg", nil)); err == nil {
		t.Fatal("an output bucket that does not open was acknowledged")
	}
	if !slices.Contains(r.opened, "gs://thumbs") {
		t.Errorf("opened %v, want the output bucket too", r.opened)
	}
	if last := r.lines(t)[len(r.lines(t))-1]; last["msg"] != "failed; will be retried" ||
		!strings.HasPrefix(fmt.Sprint(last["error"]), "cannot open the output bucket") {
		t.Errorf("logged %v", last)
	}
	if err := r.h.handle(context.Background(), objectEvent(t, TypeFinalized, "other-bucket", "a.jpg", nil)); err == nil {
		t.Fatal("a source bucket that does not open was acknowledged")
	}
}

// TestOpenFailurePermanent: a bucket that fails to open in a way a retry
// will not change is acknowledged, as pipeline.Retryable says.
func TestOpenFailurePermanent(t *testing.T) {
	faults := faultblob.New(1)
	faults.Add(faultblob.Rule{Op: faultblob.Attributes, Code: gcerrors.InvalidArgument})
	_, invalid := faultblob.Wrap(memblob.OpenBucket(nil), faults).Attributes(context.Background(), "x")
	if invalid == nil || pipeline.Retryable(invalid) {
		t.Fatalf("setup: %v is not a permanent error", invalid)
	}
	var logs bytes.Buffer
	open := buckets.OpenerFunc(func(context.Context, string) (*blob.Bucket, error) { return nil, invalid })
	h := newHandler(settings{cfg: smallConfig()}, open, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err := h.handle(context.Background(), objectEvent(t, TypeFinalized, "thumbpipe-demo", "a.jpg", nil)); err != nil {
		t.Fatalf("handle returned %v; a permanent open failure must be acknowledged", err)
	}
	if !strings.Contains(logs.String(), `"msg":"failed permanently; acknowledged"`) ||
		!strings.Contains(logs.String(), `"error":"cannot open the bucket: `) {
		t.Errorf("logged %s", logs.String())
	}
}

func TestEventAge(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		maxAge    time.Duration
		eventTime time.Time
		updated   string
		dropped   bool
	}{
		{"fresh", time.Hour, now.Add(-59 * time.Minute), "", false},
		{"old", time.Hour, now.Add(-61 * time.Minute), "", true},
		{"old, limit off", 0, now.Add(-30 * 24 * time.Hour), "", false},
		{"no event time: object update time decides", time.Hour, time.Time{}, now.Add(-2 * time.Hour).Format(time.RFC3339), true},
		{"no time at all", time.Hour, time.Time{}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRigWith(t, settings{cfg: smallConfig(), maxAge: tc.maxAge}, nil)
			r.h.now = func() time.Time { return now }
			data := map[string]any{"bucket": "thumbpipe-demo", "name": "a.jpg"}
			if tc.updated != "" {
				data["updated"] = tc.updated
			}
			e := newEvent(t, TypeFinalized, "thumbpipe-demo", "a.jpg", data)
			e.SetTime(tc.eventTime) // zero removes the attribute
			if err := r.h.handle(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			dropped := strings.HasPrefix(r.lastMsg(t), "dropped")
			if dropped != tc.dropped {
				t.Errorf("dropped = %v, want %v\n%s", dropped, tc.dropped, r.logs)
			}
		})
	}
}

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		maxAge  time.Duration
		wantErr []string
	}{
		{"defaults", nil, DefaultMaxEventAge, nil},
		{"max age", map[string]string{EnvMaxEventAge: "15m"}, 15 * time.Minute, nil},
		{"max age off", map[string]string{EnvMaxEventAge: "0"}, 0, nil},
		{"emulator host:port", map[string]string{"STORAGE_EMULATOR_HOST": "127.0.0.1:4443"}, DefaultMaxEventAge, nil},
		{"every problem at once", map[string]string{
			EnvMaxEventAge: "an hour", "THUMBPIPE_SIZES": "huge", "STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443",
		}, 0, []string{EnvMaxEventAge, "THUMBPIPE_SIZES", "STORAGE_EMULATOR_HOST"}},
		{"negative age", map[string]string{EnvMaxEventAge: "-1h"}, 0, []string{"negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadSettings(func(k string) string { return tc.env[k] })
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.maxAge != tc.maxAge {
				t.Errorf("max age %v, want %v", s.maxAge, tc.maxAge)
			}
		})
	}
}

func TestLoggerIsCloudLoggingJSON(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf)
	log.Info("thumbnails made", "written", 2, "object", "a.jpg")
	log.Warn("careful")
	log.Error("failed", "error", "boom")
	log.Debug("hidden below info")
	log.WithGroup("g").Info("grouped", "level", "kept")

	want := []struct{ severity, message string }{{"INFO", "thumbnails made"}, {"WARNING", "careful"}, {"ERROR", "failed"}, {"INFO", "grouped"}}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["severity"] != want[i].severity || m["message"] != want[i].message {
			t.Errorf("line %d: %s", i, l)
		}
		if _, ok := m["level"]; ok {
			t.Errorf("line %d still has level: %s", i, l)
		}
		if _, ok := m["msg"]; ok {
			t.Errorf("line %d still has msg: %s", i, l)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time"])); err != nil {
			t.Errorf("line %d: time: %v", i, err)
		}
	}
	if !strings.Contains(lines[0], `"written":2`) || !strings.Contains(lines[3], `"g":{"level":"kept"}`) {
		t.Errorf("fields lost:\n%s", buf.String())
	}
}

func TestSeverity(t *testing.T) {
	for l, want := range map[slog.Level]string{
		slog.LevelDebug - 4: "DEBUG", slog.LevelDebug: "DEBUG", slog.LevelInfo: "INFO", slog.LevelInfo + 2: "INFO",
		slog.LevelWarn: "WARNING", slog.LevelError: "ERROR", slog.LevelError + 4: "ERROR",
	} {
		if got := severity(l); got != want {
			t.Errorf("severity(%v) = %s, want %s", l, got, want)
		}
	}
}

// TestBucketsRefused: an event naming a bucket against Cloud Storage's
// naming rules, or outside the allow-list, is refused and acknowledged
// before the name comes near a URL: nothing is opened.
func TestBucketsRefused(t *testing.T) {
	tests := []struct {
		name, bucket string
		allow        []string
		want         string
	}{
		{"anonymous access asked for", "victim?anonymous=true", nil, "not a valid Cloud Storage bucket name"},
		{"a key file asked for", "x?private_key_path=/etc/hostname", nil, "not a valid Cloud Storage bucket name"},
		{"a path in the name", "thumbpipe-demo/../x", nil, "not a valid Cloud Storage bucket name"},
		{"not in the allow-list", "someone-elses-bucket", []string{"thumbpipe-demo"}, "allow-list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRigWith(t, settings{cfg: smallConfig(), buckets: tc.allow}, nil)
			if err := r.h.handle(context.Background(), objectEvent(t, TypeFinalized, tc.bucket, "a.jpg", nil)); err != nil {
				t.Fatalf("handle returned %v; a refused event must be acknowledged", err)
			}
			last := r.lines(t)[len(r.lines(t))-1]
			if last["outcome"] != "refused" || !strings.Contains(fmt.Sprint(last["error"]), tc.want) {
				t.Errorf("logged %v, want refused with %q", last, tc.want)
			}
			if len(r.opened) != 0 {
				t.Errorf("opened %q", r.opened)
			}
		})
	}
	// The allow-list lets its bucket through.
	r := newRigWith(t, settings{cfg: smallConfig(), buckets: []string{"thumbpipe-demo"}}, nil)
	r.put(t, "a.jpg", pixeltest.JPEG(pixeltest.Photo(80, 60, 2), 80))
	if err := r.h.handle(context.Background(), objectEvent(t, TypeFinalized, "thumbpipe-demo", "a.jpg", nil)); err != nil || !r.exists(t, "thumbnails/64x64/a.jpg") {
		t.Errorf("an allowed bucket: %v\n%s", err, r.logs)
	}
}
