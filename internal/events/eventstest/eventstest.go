// Package eventstest checks completion events in tests: it validates them
// against the JSON Schemas in the repository's schema folder and receives
// them from a mem:// topic.
package eventstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/mempubsub"

	"github.com/thumbpipe/thumbpipe/internal/events"
)

var (
	once    sync.Once
	schema  *jsonschema.Schema
	loadErr error
)

// dirs are where the schemas are read from, in order: the repository's
// schema folder, then this package's stand-ins for the data schemas the
// folder may not hold yet.
func dirs() []string {
	_, file, _, _ := runtime.Caller(0)
	here := filepath.Dir(file)
	return []string{filepath.Join(here, "..", "..", "..", "schema"), filepath.Join(here, "..", "testdata", "schema")}
}

// compile adds every schema under dirs by its $id (the first one found
// for an $id wins) and compiles the event's.
func compile() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	seen := map[string]bool{}
	for _, dir := range dirs() {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				return nil, errors.Join(errors.New(f), err)
			}
			obj, _ := doc.(map[string]any)
			id, _ := obj["$id"].(string)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			if err := c.AddResource(id, doc); err != nil {
				return nil, err
			}
		}
	}
	return c.Compile(events.EventSchemaURL)
}

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
