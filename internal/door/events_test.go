package door

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/internal/events/eventstest"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// pipelineRecords fills in an outcome's manifest or failure record by hand,
// from its variants and error, as the pipeline reports them: the variants
// of an up-to-date source get the sizes their first writing reported.
func pipelineRecords(r *rig) func(*Outcome) {
	written := map[string]pipeline.Variant{}
	return func(o *Outcome) {
		switch {
		case o.Action == Created && (o.Status == Done || o.Status == UpToDate) && o.Manifest == nil &&
			!slices.ContainsFunc(o.Variants, wouldWrite): // a dry run has no manifest
			attrs, err := r.src.Attributes(context.Background(), o.Key)
			if err != nil {
				panic(err)
			}
			m := &pipeline.Manifest{Schema: pipeline.ManifestSchema, Status: "complete", Time: attrs.ModTime,
				BlurHash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj", DominantColor: "#808080",
				Source: pipeline.ManifestSource{Key: o.Key, Version: attrs.ETag, Format: "jpeg", Width: 120, Height: 80, Bytes: attrs.Size}}
			for _, v := range o.Variants {
				if v.Status == pipeline.Written {
					written[v.Key] = v
				}
				v = written[v.Key]
				m.Variants = append(m.Variants, pipeline.ManifestVariant{Box: v.Size.Box(), Mode: string(v.Size.Mode), Key: v.Key,
					Format: "jpeg", ContentType: "image/jpeg", Width: v.Width, Height: v.Height, Bytes: int64(v.Bytes)})
			}
			o.Manifest = m
		case o.Status == FailedPermanent && o.Failure == nil:
			o.Failure = &pipeline.Failure{Schema: pipeline.FailureSchema, Key: o.Key, Version: "v1",
				Reason: o.Err.Error(), Class: "corrupt", Attempts: 1, Time: time.Now()}
		}
	}
}

// eventRig is a rig whose door publishes to a mem:// topic.
func eventRig(t *testing.T, edit func(*Config)) (*rig, *eventstest.Topic, *events.Publisher) {
	t.Helper()
	tp := eventstest.NewTopic(t)
	pub, err := events.New(tp.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	r := newRig(t, func(c *Config) {
		c.Events = pub
		if edit != nil {
			edit(c)
		}
	})
	r.d.cfg.fill = pipelineRecords(r)
	return r, tp, pub
}

// nothingPublished publishes a sentinel through pub and checks that it is
// the next event to arrive: nothing was published before it.
func nothingPublished(t *testing.T, tp *eventstest.Topic, pub *events.Publisher) {
	t.Helper()
	sentinel, err := events.Deleted("sentinel", "sentinel", "", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), sentinel); err != nil {
		t.Fatal(err)
	}
	if got := tp.Receive(t); got.ID != sentinel.ID {
		t.Errorf("published %s about %s, want nothing", got.Type, got.Subject)
	}
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	t.Run("created", func(t *testing.T) {
		r, tp, _ := eventRig(t, nil)
		r.src.WriteAll(ctx, "a.jpg", photo, nil)
		o := r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "e1"})
		if o.Status != Done || o.Published != events.TypeCreated {
			t.Fatalf("outcome %s (%v), published %q", o.Status, o.Err, o.Published)
		}
		ev := tp.Receive(t)
		if ev.Type != events.TypeCreated || ev.Subject != "a.jpg" || ev.Source != "//thumbpipe/photos" ||
			ev.ID != events.ID("photos", "a.jpg", o.Manifest.Source.Version, events.TypeCreated) {
			t.Errorf("event %+v", ev)
		}
		if !strings.Contains(r.logs.String(), `"published":"`+events.TypeCreated+`"`) {
			t.Errorf("the log line does not say what was published:\n%s", r.logs.String())
		}
	})
	t.Run("failed", func(t *testing.T) {
		r, tp, _ := eventRig(t, nil)
		r.src.WriteAll(ctx, "a.jpg", photo[:100], nil)
		o := r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Created})
		if o.Status != FailedPermanent || o.Published != events.TypeFailed {
			t.Fatalf("outcome %s, published %q", o.Status, o.Published)
		}
		if ev := tp.Receive(t); ev.Type != events.TypeFailed || ev.Subject != "a.jpg" {
			t.Errorf("event %+v", ev)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		r, tp, _ := eventRig(t, nil)
		r.src.WriteAll(ctx, "a.jpg", photo, nil)
		r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Created})
		tp.Receive(t)
		if err := r.src.Delete(ctx, "a.jpg"); err != nil {
			t.Fatal(err)
		}
		o := r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Removed, ID: "seq-2"})
		if o.Status != Done || len(o.Removed) == 0 {
			t.Fatalf("outcome %s, removed %q", o.Status, o.Removed)
		}
		ev := tp.Receive(t)
		if ev.Type != events.TypeDeleted || !strings.Contains(string(ev.Data), o.Removed[0]) {
			t.Errorf("event %+v %s, want the removed keys %q", ev, ev.Data, o.Removed)
		}
	})
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ev   Event
		want Status
	}{
		{"dry run", func(c *Config) { c.DryRun = true }, Event{Bucket: "photos", Key: "a.jpg", Action: Created}, Done},
		{"skipped", nil, Event{Bucket: "photos", Key: "thumbnails/200x200/a.jpg", Action: Created}, Skipped},
		{"refused", nil, Event{Bucket: "x?y", Key: "a.jpg", Action: Created}, Refused},
		{"transient", nil, Event{Bucket: "elsewhere", Key: "a.jpg", Action: Created}, FailedTransient},
		{"a delete event for an object that exists", nil, Event{Bucket: "photos", Key: "a.jpg", Action: Removed}, Done},
	} {
		t.Run("none when "+tc.name, func(t *testing.T) {
			r, tp, pub := eventRig(t, tc.edit)
			r.src.WriteAll(ctx, "a.jpg", photo, nil)
			if o := r.d.Handle(ctx, tc.ev); o.Status != tc.want || o.Published != "" {
				t.Fatalf("outcome %s, published %q", o.Status, o.Published)
			}
			nothingPublished(t, tp, pub)
		})
	}
}

// TestEventNotPublished: a publish that fails makes the event transient;
// delivered again, its thumbnails are found up to date — the pipeline
// compares each thumbnail's recorded source ETag and configuration hash,
// so nothing is rewritten — and the event is published then.
func TestEventNotPublished(t *testing.T) {
	ctx := context.Background()
	r, tp, _ := eventRig(t, nil)
	down, err := events.New("mem://down")
	if err != nil {
		t.Fatal(err)
	}
	down.Close() // every publish fails
	cfg := r.d.Config()
	cfg.Events = down
	failing, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.src.WriteAll(ctx, "a.jpg", photo, nil)
	ev := Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "e1"}

	o := failing.Handle(ctx, ev)
	if o.Status != FailedTransient || !o.Retry() || o.Written() != len(o.Variants) || o.Written() == 0 ||
		!strings.Contains(o.Reason, "completion event not published") {
		t.Fatalf("outcome %s %q, written %d: want a retry after writing every thumbnail", o.Status, o.Reason, o.Written())
	}
	before := map[string]time.Time{}
	for _, v := range o.Variants {
		a, err := r.src.Attributes(ctx, v.Key)
		if err != nil {
			t.Fatal(err)
		}
		before[v.Key] = a.ModTime
	}

	again := r.d.Handle(ctx, ev) // the redelivery, the topic back
	if again.Status != UpToDate || again.Written() != 0 || again.Published != events.TypeCreated {
		t.Fatalf("redelivery: %s (%v), written %d, published %q", again.Status, again.Err, again.Written(), again.Published)
	}
	for k, mod := range before {
		a, err := r.src.Attributes(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !a.ModTime.Equal(mod) {
			t.Errorf("%s rewritten on the redelivery", k)
		}
	}
	got := tp.Receive(t)
	if got.Type != events.TypeCreated || got.ID != events.ID("photos", "a.jpg", again.Manifest.Source.Version, events.TypeCreated) {
		t.Errorf("event %+v", got)
	}
	// A later duplicate delivery publishes the same event again, same id.
	r.d.Handle(ctx, ev)
	if dup := tp.Receive(t); dup.ID != got.ID {
		t.Errorf("duplicate has id %s, want %s", dup.ID, got.ID)
	}
}

// TestEventNotPublishedDropped: MaxAttempts bounds the retries of an event
// whose completion event cannot be published.
func TestEventNotPublishedDropped(t *testing.T) {
	ctx := context.Background()
	down, _ := events.New("mem://down")
	down.Close()
	r, _, _ := eventRig(t, func(c *Config) { c.MaxAttempts = 2 })
	cfg := r.d.Config()
	cfg.Events = down
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.src.WriteAll(ctx, "a.jpg", photo, nil)
	ev := Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "e1"}
	var got []Status
	for range 2 {
		o := d.Handle(ctx, ev)
		got = append(got, o.Status)
		if o.Err == nil {
			t.Errorf("no error on %s", o.Status)
		}
	}
	if want := []Status{FailedTransient, Dropped}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}
