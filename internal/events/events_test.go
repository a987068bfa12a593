package events_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	_ "gocloud.dev/pubsub/awssnssqs"
	_ "gocloud.dev/pubsub/gcppubsub"

	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/internal/events/eventstest"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

var when = time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)

func manifest() *pipeline.Manifest {
	return &pipeline.Manifest{
		Schema: pipeline.ManifestSchema, Bucket: "photos",
		Source: pipeline.ManifestSource{Key: "uploads/cat.jpg", Version: `"9b2cf535f27731c974343645a3985328"`, Format: "jpeg", Width: 4032, Height: 3024, Bytes: 2481152},
		Variants: []pipeline.ManifestVariant{
			{Box: "800x800", Mode: "fit", Key: "thumbnails/800x800/uploads/cat.jpg", Format: "jpeg", ContentType: "image/jpeg", Width: 800, Height: 600, Bytes: 81234},
			{Box: "200x200", Mode: "fill", Key: "thumbnails/200x200-fill/uploads/cat.jpg", Format: "jpeg", ContentType: "image/jpeg", Width: 200, Height: 200, Bytes: 9876},
		},
		BlurHash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj", DominantColor: "#6b5a48", Status: "complete", Time: when,
	}
}

func failure() *pipeline.Failure {
	return &pipeline.Failure{Schema: pipeline.FailureSchema, Bucket: "photos", Key: "uploads/broken.jpg", Version: `"abc"`,
		Reason: "corrupt image: unexpected EOF", Class: "corrupt", Attempts: 1, Time: when}
}

func TestEvents(t *testing.T) {
	created, err := events.Created("photos", manifest())
	if err != nil {
		t.Fatal(err)
	}
	failed, err := events.Failed("photos", failure())
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := events.Deleted("photos", "uploads/cat.jpg", "seq-1", []string{"thumbnails/800x800/uploads/cat.jpg"}, when)
	if err != nil {
		t.Fatal(err)
	}
	nothingDeleted, err := events.Deleted("photos", "uploads/dog.jpg", "", nil, when)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		ev      events.Event
		typ     string
		subject string
		schema  string
	}{
		{"created", created, events.TypeCreated, "uploads/cat.jpg", events.ManifestSchemaURL},
		{"failed", failed, events.TypeFailed, "uploads/broken.jpg", events.FailureSchemaURL},
		{"deleted", deleted, events.TypeDeleted, "uploads/cat.jpg", events.DeletionSchemaURL},
		{"deleted nothing", nothingDeleted, events.TypeDeleted, "uploads/dog.jpg", events.DeletionSchemaURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			got := eventstest.Validate(t, body)
			if got.Type != tc.typ || got.Subject != tc.subject || got.DataSchema != tc.schema ||
				got.Source != "//thumbpipe/photos" || got.SpecVersion != "1.0" || !got.Time.Equal(when) {
				t.Errorf("event %+v", got)
			}
		})
	}

	// The data is the manifest, whole.
	var m pipeline.Manifest
	if err := json.Unmarshal(created.Data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Source != manifest().Source || !slices.Equal(m.Variants, manifest().Variants) || m.BlurHash != manifest().BlurHash {
		t.Errorf("data %+v, want the manifest", m)
	}
	var d events.Deletion
	if err := json.Unmarshal(nothingDeleted.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Removed == nil || len(d.Removed) != 0 || d.Key != "uploads/dog.jpg" {
		t.Errorf("deletion %+v, want an empty list of removed keys", d)
	}
}

// TestIDs checks that a duplicate has the id of the event it repeats and
// that any other event has another.
func TestIDs(t *testing.T) {
	a, _ := events.Created("photos", manifest())
	again := manifest()
	again.Time = when.Add(time.Hour) // published again later: same event
	b, _ := events.Created("photos", again)
	if a.ID != b.ID {
		t.Errorf("a duplicate has id %s, want %s", b.ID, a.ID)
	}
	ids := map[string]string{a.ID: "created"}
	other := func(name string, ev events.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := ids[ev.ID]; ok {
			t.Errorf("%s has the id of %s", name, prev)
		}
		ids[ev.ID] = name
	}
	v2 := manifest()
	v2.Source.Version = `"v2"`
	ev, err := events.Created("photos", v2)
	other("a new version", ev, err)
	ev, err = events.Created("archive", manifest())
	other("another bucket", ev, err)
	ev, err = events.Deleted("photos", "uploads/cat.jpg", `"9b2cf535f27731c974343645a3985328"`, nil, when)
	other("the deletion", ev, err)
}

// TestSchemaRefuses checks that the schema is not one that passes
// anything: each broken event is refused.
func TestSchemaRefuses(t *testing.T) {
	created, _ := events.Created("photos", manifest())
	deleted, _ := events.Deleted("photos", "uploads/cat.jpg", "", []string{"thumbnails/a.jpg"}, when)
	for _, tc := range []struct {
		name string
		ev   events.Event
		edit func(map[string]any)
	}{
		{"no id", created, func(m map[string]any) { delete(m, "id") }},
		{"spec 0.3", created, func(m map[string]any) { m["specversion"] = "0.3" }},
		{"unknown type", created, func(m map[string]any) { m["type"] = "dev.thumbpipe.thumbnails.moved" }},
		{"bad time", created, func(m map[string]any) { m["time"] = "yesterday" }},
		{"created with a deletion's schema", created, func(m map[string]any) { m["dataschema"] = events.DeletionSchemaURL }},
		{"manifest without variants", created, func(m map[string]any) { delete(m["data"].(map[string]any), "variants") }},
		{"deletion as created", deleted, func(m map[string]any) { m["type"] = events.TypeCreated; m["dataschema"] = events.ManifestSchemaURL }},
		{"deletion without removed", deleted, func(m map[string]any) { delete(m["data"].(map[string]any), "removed") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(tc.ev)
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			body, _ = json.Marshal(m)
			if err := eventstest.Check(body); err == nil {
				t.Errorf("accepted %s", body)
			}
		})
	}
}

func TestEventErrors(t *testing.T) {
	if _, err := events.Created("photos", nil); err == nil {
		t.Error("a created event without a manifest")
	}
	if _, err := events.Failed("photos", nil); err == nil {
		t.Error("a failed event without a record")
	}
	if _, err := events.Created("", manifest()); err == nil || !strings.Contains(err.Error(), "bucket") {
		t.Errorf("a created event without a bucket: %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		url, err string
	}{
		{"mem://events", ""},
		{"nats://127.0.0.1:4222/thumbpipe.events", ""},
		{"tls://user:secret@nats.example.com:4222/thumbpipe.events", ""},
		{"awssns:///arn:aws:sns:us-east-1:123456789012:thumbpipe?region=us-east-1", ""},
		{"awssqs://sqs.us-east-1.amazonaws.com/123456789012/thumbpipe?region=us-east-1", ""},
		{"gcppubsub://projects/p/topics/thumbpipe", ""},
		{"nats://127.0.0.1:4222", "want nats://host:port/SUBJECT"},
		{"nats://user:secret@/subject", "want nats://host:port/SUBJECT"},
		{"kafka://broker/topic", `scheme "kafka" is not one of`},
		{"events", `scheme "" is not one of`},
		{"%zz", "invalid URL escape"},
	} {
		p, err := events.New(tc.url)
		switch {
		case tc.err == "" && (err != nil || p == nil):
			t.Errorf("New(%q) = %v, %v", tc.url, p, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("New(%q) error %v, want %q", tc.url, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("New(%q) error shows the password: %v", tc.url, err)
		}
	}
	if p, err := events.New(""); p != nil || err != nil {
		t.Errorf(`New("") = %v, %v, want events off`, p, err)
	}
	var off *events.Publisher
	if err := off.Publish(context.Background(), events.Event{}); err != nil {
		t.Errorf("a nil publisher: %v", err)
	}
}

func TestPublishMem(t *testing.T) {
	tp := eventstest.NewTopic(t)
	p, err := events.New(tp.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want, _ := events.Created("photos", manifest())
	if err := p.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got := tp.Receive(t); got.ID != want.ID || got.Type != events.TypeCreated {
		t.Errorf("received %+v, want %+v", got, want)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, want); err == nil {
		t.Error("published after Close")
	}
}

// TestPublishNATS publishes to a real nats-server with JetStream: the
// events arrive whole and valid, and a duplicate (same id) is dropped by
// the stream within its duplicate window.
func TestPublishNATS(t *testing.T) {
	srv := testserver.StartNATS(t)
	ctx := context.Background()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	p, err := events.New(srv.URL() + "/thumbpipe.events")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	created, _ := events.Created("photos", manifest())
	// No stream captures the subject yet: the publish is not acknowledged.
	if err := p.Publish(ctx, created); err == nil {
		t.Fatal("a publish no stream captures succeeded")
	}

	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "THUMBPIPE", Subjects: []string{"thumbpipe.>"}})
	if err != nil {
		t.Fatal(err)
	}
	failed, _ := events.Failed("photos", failure())
	for _, ev := range []events.Event{created, failed, created} { // the third a duplicate
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("the stream holds %d messages, want 2 (the duplicate dropped)", info.State.Msgs)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []events.Event{created, failed} {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if ct := msg.Headers().Get("Content-Type"); ct != events.ContentType {
			t.Errorf("Content-Type %q", ct)
		}
		if got := eventstest.Validate(t, msg.Data()); got.ID != want.ID || got.Type != want.Type {
			t.Errorf("received %s %s, want %s %s", got.Type, got.ID, want.Type, want.ID)
		}
	}
}
