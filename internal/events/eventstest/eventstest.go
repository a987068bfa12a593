// Package eventstest checks completion events in tests: it validates them
// against the JSON Schemas in the repository's schema folder and receives
// them from a mem:// topic.
package eventstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/mempubsub"

	"github.com/thumbpipe/thumbpipe/internal/events"
	schemas "github.com/thumbpipe/thumbpipe/schema"
)

var (
	once    sync.Once
	schema  *jsonschema.Schema
	loadErr error
)

// compile compiles the event's schema, with the data schemas it refers to.
func compile() (*jsonschema.Schema, error) { return schemas.Compile(events.EventSchemaURL) }

// Check reports whether body is an event valid against
// schema/event.v1.json (with its data schema).
func Check(body []byte) error {
	once.Do(func() { schema, loadErr = compile() })
	if loadErr != nil {
		return fmt.Errorf("compile the event schema: %w", loadErr)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("event is not JSON: %w", err)
	}
	return schema.Validate(inst)
}

// Validate fails t unless body is an event valid against
// schema/event.v1.json (with its data schema), and returns it decoded.
func Validate(t testing.TB, body []byte) events.Event {
	t.Helper()
	if err := Check(body); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	var ev events.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("decode event: %v", err)
	}
	return ev
}

// Topic is a mem:// topic with one subscription, to receive what a
// Publisher sends to it.
type Topic struct {
	// URL is the topic URL to publish to.
	URL string
	sub *pubsub.Subscription
}

// NewTopic creates the mem:// topic named after the test and subscribes to
// it. Events published to URL before NewTopic are lost.
func NewTopic(t testing.TB) *Topic {
	t.Helper()
	ctx := context.Background()
	u := "mem://" + filepath.ToSlash(t.Name())
	top, err := pubsub.OpenTopic(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := pubsub.OpenSubscription(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Shutdown(ctx)
		top.Shutdown(ctx)
	})
	return &Topic{URL: u, sub: sub}
}

// Receive returns the next event, validated against the schema, failing t
// if none arrives within a minute.
func (tp *Topic) Receive(t testing.TB) events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := tp.sub.Receive(ctx)
	if err != nil {
		t.Fatalf("receive an event: %v", err)
	}
	m.Ack()
	if ct := m.Metadata["content-type"]; ct != events.ContentType {
		t.Errorf("content-type %q, want %q", ct, events.ContentType)
	}
	return Validate(t, m.Body)
}
