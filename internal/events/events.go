// Package events tells applications what became of their uploads: a
// CloudEvents 1.0 event, in the specification's structured JSON format, for
// each source whose thumbnails were made, that failed for good, or whose
// thumbnails were deleted. The door core publishes them (internal/door) to
// the topic THUMBPIPE_EVENTS_TOPIC names, the same from every door.
//
// # Events
//
// Every event has specversion "1.0", source "//thumbpipe/<bucket>",
// subject the source key, time, datacontenttype "application/json", a
// dataschema URL and one of three types:
//
//   - [TypeCreated]: data is the source's manifest ([pipeline.Manifest]).
//   - [TypeFailed]: data is its failure record ([pipeline.Failure]).
//   - [TypeDeleted]: data is a [Deletion], the thumbnails removed.
//
// The envelope's JSON Schema is schema/event.v1.json.
//
// # Delivery
//
// At least once. The id is a hash of the bucket, the key, the source's
// version and the type, so a duplicate carries the id of the event it
// repeats: consumers key on source and version (or on id). A publish that
// fails makes the bucket event fail transiently; the platform delivers it
// again, the thumbnails are found up to date (not made again), and the
// event is published again.
package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/thumbpipe/thumbpipe/pipeline"
)

// SpecVersion is the CloudEvents version of every event.
const SpecVersion = "1.0"

// The event types.
const (
	TypeCreated = "dev.thumbpipe.thumbnails.created"
	TypeFailed  = "dev.thumbpipe.thumbnails.failed"
	TypeDeleted = "dev.thumbpipe.thumbnails.deleted"
)

// ContentType is the media type of a structured-mode event: the whole
// event is the message body.
const ContentType = "application/cloudevents+json"

// SchemaBase is where the JSON Schemas of the events and their data are
// published: the $id of each file in the repository's schema folder.
const SchemaBase = "https://github.com/thumbpipe/thumbpipe/schema/"

// The data schemas each type names in its dataschema attribute.
const (
	ManifestSchemaURL = SchemaBase + "manifest.v1.json"
	FailureSchemaURL  = SchemaBase + "failure.v1.json"
	DeletionSchemaURL = SchemaBase + "deletion.v1.json"
	// EventSchemaURL is the envelope's schema, every type in one.
	EventSchemaURL = SchemaBase + "event.v1.json"
)

// DeletionSchema names the version of a [Deletion].
const DeletionSchema = "thumbpipe.deletion/v1"

// Event is one CloudEvent in the structured JSON format.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	DataSchema      string          `json:"dataschema"`
	Data            json.RawMessage `json:"data"`
}

// Deletion is the data of a [TypeDeleted] event: the thumbnails (and
// manifest) removed because their source was deleted.
type Deletion struct {
	// Schema is DeletionSchema.
	Schema string `json:"schema"`
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key"`
	// Removed are the keys this delivery deleted: empty when there were
	// none, or when an earlier delivery of the same deletion deleted them
	// and could not publish its event.
	Removed []string `json:"removed"`
}

// Source returns the source attribute of the events about bucket.
func Source(bucket string) string { return "//thumbpipe/" + bucket }

// ID returns the id of the event of type typ about version of key in
// bucket: the same for every duplicate of that event.
func ID(bucket, key, version, typ string) string {
	h := sha256.New()
	for _, s := range []string{bucket, key, version, typ} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Created returns the event that the thumbnails of m's source exist.
func Created(bucket string, m *pipeline.Manifest) (Event, error) {
	if m == nil {
		return Event{}, errors.New("events: no manifest")
	}
	return build(bucket, m.Source.Key, m.Source.Version, TypeCreated, ManifestSchemaURL, m.Time, m)
}

// Failed returns the event that f's source failed for good.
func Failed(bucket string, f *pipeline.Failure) (Event, error) {
	if f == nil {
		return Event{}, errors.New("events: no failure record")
	}
	return build(bucket, f.Key, f.Version, TypeFailed, FailureSchemaURL, f.Time, f)
}

// Deleted returns the event that the thumbnails of key were removed, at t.
// version tells deletions of one key apart (the platform's event id or
// the deleted version); it may be empty.
func Deleted(bucket, key, version string, removed []string, t time.Time) (Event, error) {
	if removed == nil {
		removed = []string{}
	}
	return build(bucket, key, version, TypeDeleted, DeletionSchemaURL, t,
		Deletion{Schema: DeletionSchema, Bucket: bucket, Key: key, Removed: removed})
}

func build(bucket, key, version, typ, schema string, t time.Time, data any) (Event, error) {
	if bucket == "" || key == "" {
		return Event{}, fmt.Errorf("events: a %s event needs a bucket and a key, got %q and %q", typ, bucket, key)
	}
	if t.IsZero() {
		t = time.Now()
	}
	body, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("events: encode the data of %s: %w", typ, err)
	}
	return Event{
		SpecVersion:     SpecVersion,
		ID:              ID(bucket, key, version, typ),
		Source:          Source(bucket),
		Type:            typ,
		Subject:         key,
		Time:            t.UTC(),
		DataContentType: "application/json",
		DataSchema:      schema,
		Data:            body,
	}, nil
}
