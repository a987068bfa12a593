package door

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// rig is a door over one memblob bucket named "photos" that records the
// URLs it was asked to open and its log lines.
type rig struct {
	d      *Door
	src    *blob.Bucket
	faults *faultblob.Faults
	opened []string
	logs   bytes.Buffer
}

func newRig(t *testing.T, edit func(*Config)) *rig {
	t.Helper()
	r := &rig{src: memblob.OpenBucket(nil), faults: faultblob.New(1)}
	t.Cleanup(func() { r.src.Close() })
	served := faultblob.Wrap(r.src, r.faults)
	cfg := Config{
		Pipeline: pipeline.DefaultConfig(),
		Open: buckets.OpenerFunc(func(_ context.Context, url string) (*blob.Bucket, error) {
			r.opened = append(r.opened, url)
			if url != "mem://photos" {
				return nil, fmt.Errorf("no bucket %s", url)
			}
			return served, nil
		}),
		BucketURL:   func(name string) string { return "mem://" + name },
		CheckBucket: S3BucketName,
		Logger:      slog.New(slog.NewJSONHandler(&r.logs, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	return r
}

var photo = pixeltest.JPEG(pixeltest.Photo(120, 80, 1), 85)

func TestHandle(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		edit     func(*Config)
		ev       Event
		put      []byte
		want     Status
		wantOpen bool
		why      string // in the reason
	}{
		{name: "created", ev: Event{Bucket: "photos", Key: "a.jpg", Action: Created}, put: photo, want: Done, wantOpen: true},
		{name: "removed", ev: Event{Bucket: "photos", Key: "a.jpg", Action: Removed}, want: Done, wantOpen: true},
		{name: "other event", ev: Event{Bucket: "x?y", Key: "../a", Name: "ObjectTagging:Put"}, want: Skipped, why: "neither creates nor removes"},
		{name: "thumbnail key", ev: Event{Bucket: "photos", Key: "thumbnails/200x200/a.jpg", Action: Created}, want: Skipped, why: "output prefix"},
		{name: "marker in the event", ev: Event{Bucket: "photos", Key: "x/a.jpg", Action: Created, Metadata: map[string]string{pipeline.MetaSource: "a.jpg"}},
			want: Skipped, why: "marker"},
		{name: "query in the bucket name", ev: Event{Bucket: "victim?anonymous=true", Key: "a.jpg", Action: Created}, want: Refused, why: "not a valid S3 bucket name"},
		{name: "outside the allow-list", edit: func(c *Config) { c.Buckets = []string{"photos"} },
			ev: Event{Bucket: "someone-elses-bucket", Key: "a.jpg", Action: Created}, want: Refused, why: "allow-list"},
		{name: "in the allow-list", edit: func(c *Config) { c.Buckets = []string{"photos"} },
			ev: Event{Bucket: "photos", Key: "a.jpg", Action: Created}, put: photo, want: Done, wantOpen: true},
		{name: "unsafe key", ev: Event{Bucket: "photos", Key: "a/../../b.jpg", Action: Created}, want: Refused, why: "unsafe object key"},
		{name: "too old", edit: func(c *Config) { c.MaxEventAge = time.Hour; c.Now = func() time.Time { return now } },
			ev: Event{Bucket: "photos", Key: "a.jpg", Action: Created, Time: now.Add(-2 * time.Hour)}, put: photo, want: Dropped, why: "older than"},
		{name: "young enough", edit: func(c *Config) { c.MaxEventAge = time.Hour; c.Now = func() time.Time { return now } },
			ev: Event{Bucket: "photos", Key: "a.jpg", Action: Created, Time: now.Add(-time.Minute)}, put: photo, want: Done, wantOpen: true},
		{name: "corrupt", ev: Event{Bucket: "photos", Key: "a.jpg", Action: Created}, put: photo[:100], want: FailedPermanent, wantOpen: true},
		{name: "bucket does not open", ev: Event{Bucket: "elsewhere", Key: "a.jpg", Action: Created}, want: FailedTransient, wantOpen: true,
			why: "cannot open the bucket"},
		{name: "dry run", edit: func(c *Config) { c.DryRun = true },
			ev: Event{Bucket: "photos", Key: "a.jpg", Action: Created}, put: photo, want: Done, wantOpen: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.edit)
			if tc.put != nil {
				if err := r.src.WriteAll(context.Background(), "a.jpg", tc.put, nil); err != nil {
					t.Fatal(err)
				}
			}
			o := r.d.Handle(context.Background(), tc.ev)
			if o.Status != tc.want || !strings.Contains(o.Reason, tc.why) {
				t.Errorf("outcome %s %q (%v), want %s with %q", o.Status, o.Reason, o.Err, tc.want, tc.why)
			}
			if got := len(r.opened) > 0; got != tc.wantOpen {
				t.Errorf("opened %q, want open=%v", r.opened, tc.wantOpen)
			}
			if o.Retry() != (tc.want == FailedTransient) {
				t.Errorf("Retry() = %v", o.Retry())
			}
			if n := strings.Count(r.logs.String(), "\n"); n != 1 || !strings.Contains(r.logs.String(), `"outcome":"`+string(tc.want)+`"`) {
				t.Errorf("%d log lines, want one with the outcome:\n%s", n, r.logs.String())
			}
			if tc.name == "dry run" {
				if o.Written() != 0 || len(o.Variants) == 0 || o.Variants[0].Status != pipeline.WouldWrite {
					t.Errorf("dry run variants %+v", o.Variants)
				}
			}
		})
	}
}

// TestMaxAttempts: an event that keeps failing is dropped on its
// MaxAttempts-th failure; another version of the object is counted apart,
// and a success forgets the count.
func TestMaxAttempts(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxAttempts = 3 })
	ctx := context.Background()
	if err := r.src.WriteAll(ctx, "a.jpg", photo, nil); err != nil {
		t.Fatal(err)
	}
	r.faults.Add(faultblob.Rule{Op: faultblob.Attributes, Times: 1000})
	ev := Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "etag-1/seq-1"}
	other := ev
	other.ID = "etag-2/seq-2"
	for i, want := range []Status{FailedTransient, FailedTransient, Dropped, FailedTransient} {
		if o := r.d.Handle(ctx, ev); o.Status != want {
			t.Errorf("attempt %d: %s (%s), want %s", i+1, o.Status, o.Reason, want)
		} else if want == Dropped && (!strings.Contains(o.Reason, "failed 3 times") || !errors.Is(o.Err, faultblob.ErrInjected)) {
			t.Errorf("dropped with reason %q, error %v", o.Reason, o.Err)
		}
	}
	if o := r.d.Handle(ctx, other); o.Status != FailedTransient {
		t.Errorf("another version: %s, want it counted apart", o.Status)
	}
	r.faults.Clear()
	if o := r.d.Handle(ctx, ev); o.Status != Done {
		t.Fatalf("once storage is back: %s %v", o.Status, o.Err)
	}
	r.faults.Add(faultblob.Rule{Op: faultblob.Attributes, Times: 1000})
	for i := range 2 {
		if o := r.d.Handle(ctx, ev); o.Status != FailedTransient {
			t.Errorf("after a success, attempt %d: %s, want the count to start over", i+1, o.Status)
		}
	}
	if !strings.Contains(r.logs.String(), `"msg":"dropped; acknowledged (run thumbpipe backfill to catch up)"`) {
		t.Errorf("no dropped line:\n%s", r.logs.String())
	}
}

// busy is an Admitter whose memory is always in use.
type busy struct{}

func (busy) Admit(context.Context, int64) (func(), error) {
	return nil, fmt.Errorf("%w: held by another decode", pipeline.ErrBusy)
}

// TestBusyNotCounted: an event whose decode could not get its memory fails
// transiently, however often, and is never dropped for it.
func TestBusyNotCounted(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxAttempts = 2; c.Pipeline.Admit = busy{} })
	ctx := context.Background()
	if err := r.src.WriteAll(ctx, "a.jpg", photo, nil); err != nil {
		t.Fatal(err)
	}
	ev := Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "etag-1/seq-1"}
	for i := range 5 {
		if o := r.d.Handle(ctx, ev); o.Status != FailedTransient || !errors.Is(o.Err, pipeline.ErrBusy) {
			t.Fatalf("attempt %d: %s (%v), want a transient ErrBusy", i+1, o.Status, o.Err)
		}
	}
}

// TestAttemptMemoryBounded: however many events fail, only the most recent
// AttemptMemory are remembered.
func TestAttemptMemoryBounded(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxAttempts = 2; c.AttemptMemory = 10; c.Logger = slog.New(slog.DiscardHandler) })
	r.faults.Add(faultblob.Rule{Op: faultblob.Attributes, Times: 1 << 30})
	ctx := context.Background()
	for i := range 1000 {
		r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: fmt.Sprint(i)})
	}
	if n := r.d.shared.attempts.len(); n != 10 {
		t.Errorf("%d events remembered, want 10", n)
	}
	// The most recent are the ones remembered: the 999th fails a second time.
	if o := r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "999"}); o.Status != Dropped {
		t.Errorf("the most recent event's second failure: %s, want dropped", o.Status)
	}
	if o := r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "0"}); o.Status != FailedTransient {
		t.Errorf("the oldest event, forgotten: %s, want a first failure", o.Status)
	}
}

func TestBucketNames(t *testing.T) {
	tests := []struct {
		name    string
		s3, gcs bool
	}{
		{"photos-eu", true, true},
		{"my.photos.2026", true, true},
		{"abc", true, true},
		{"under_score", false, true},
		{"ab", false, false},
		{strings.Repeat("a", 63), true, true},
		{strings.Repeat("a", 64), false, false},
		{strings.Repeat("a", 60) + "." + strings.Repeat("b", 60), false, true},
		{"Photos", false, false},
		{"-photos", false, false},
		{"photos-", false, false},
		{"a..b", false, false},
		{"192.168.5.4", false, false},
		{"victim?anonymous=true", false, false},
		{"x?private_key_path=/etc/hostname", false, false},
		{"someone/../else", false, false},
		{"b%2F", false, false},
		{"xn--bucket", false, true},
		{"bucket-s3alias", false, true},
		{"google-photos", true, false},
		{"goog-photos", true, false},
		{"", false, false},
	}
	for _, tc := range tests {
		if err := S3BucketName(tc.name); (err == nil) != tc.s3 || err != nil && !errors.Is(err, ErrBucketName) {
			t.Errorf("S3BucketName(%q) = %v, want valid=%v", tc.name, err, tc.s3)
		}
		if err := GCSBucketName(tc.name); (err == nil) != tc.gcs || err != nil && !errors.Is(err, ErrBucketName) {
			t.Errorf("GCSBucketName(%q) = %v, want valid=%v", tc.name, err, tc.gcs)
		}
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"a longer text", 8, "a longer…"},
		{"héllo", 2, "h…"}, // never cuts a rune in two
	} {
		if got := Clip(tc.s, tc.n); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	open := buckets.OpenerFunc(func(context.Context, string) (*blob.Bucket, error) { return nil, nil })
	for _, cfg := range []Config{{}, {Open: open, MaxEventAge: -1}, {Open: open, MaxAttempts: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
