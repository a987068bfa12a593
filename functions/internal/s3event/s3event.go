// Package s3event decodes S3-style bucket notifications: the records that
// AWS S3 hands a Lambda function and that MinIO POSTs to a webhook. Both
// doors share it so that a key is unescaped and checked the same way
// wherever it arrives.
//
// # Keys
//
// The key in a record is URL-query-escaped: "uploads/my photo+1.jpg"
// arrives as "uploads%2Fmy+photo%2B1.jpg". [Record.Key] undoes that ('+'
// becomes a space, "%2B" a '+') and refuses keys that are unsafe to pass on
// (see [pipeline.CheckKey]).
//
// # Event names
//
// AWS names events "ObjectCreated:Put"; MinIO says "s3:ObjectCreated:Put".
// [ParseAction] accepts both.
package s3event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// Event is one notification: a batch of records. MinIO adds the top-level
// EventName and Key ("bucket/raw key") for the first record; AWS sends only
// Records.
type Event struct {
	EventName string   `json:"EventName,omitempty"`
	Key       string   `json:"Key,omitempty"`
	Records   []Record `json:"Records"`
}

// Record is one object event.
type Record struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"` // "aws:s3" or "minio:s3"
	AWSRegion    string `json:"awsRegion"`
	EventTime    string `json:"eventTime"` // RFC 3339, e.g. 2026-11-25T18:21:02.338Z
	EventName    string `json:"eventName"` // e.g. ObjectCreated:Put or s3:ObjectRemoved:Delete
	S3           Entity `json:"s3"`
}

// Entity is the bucket and object a record is about.
type Entity struct {
	SchemaVersion   string `json:"s3SchemaVersion"`
	ConfigurationID string `json:"configurationId"`
	Bucket          Bucket `json:"bucket"`
	Object          Object `json:"object"`
}

// Bucket names the bucket of a record.
type Bucket struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
}

// Object describes the object of a record. Key is still escaped; use
// [Record.Key].
type Object struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	ETag        string `json:"eTag"`
	VersionID   string `json:"versionId,omitempty"`
	ContentType string `json:"contentType,omitempty"` // MinIO only
	Sequencer   string `json:"sequencer"`
}

// Parse decodes an event. It fails on malformed JSON, on trailing data and
// on a body with no "Records" field at all; an empty Records list is valid.
func Parse(data []byte) (Event, error) {
	var raw struct {
		Event
		Records *[]Record `json:"Records"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return Event{}, fmt.Errorf("decode s3 event: %w", err)
	}
	if dec.More() {
		return Event{}, errors.New("decode s3 event: data after the JSON object")
	}
	if raw.Records == nil {
		return Event{}, errors.New(`decode s3 event: no "Records" field`)
	}
	ev := raw.Event
	ev.Records = *raw.Records
	return ev, nil
}

// Key returns the record's object key unescaped and checked with
// [pipeline.CheckKey]; its errors wrap [pipeline.ErrUnsafeKey].
func (r Record) Key() (string, error) {
	key, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		return "", fmt.Errorf("%w: %q is not query-escaped: %v", pipeline.ErrUnsafeKey, r.S3.Object.Key, err)
	}
	if err := pipeline.CheckKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// Action returns what the record's event does to its object.
func (r Record) Action() Action { return ParseAction(r.EventName) }

// Action classifies an event name; it is the door's.
type Action = door.Action

// Actions. Other covers everything a thumbnailer ignores (tagging, ACLs,
// restores, replication, access events...).
const (
	Other   = door.Other
	Created = door.Created // ObjectCreated:*: make the thumbnails
	Removed = door.Removed // ObjectRemoved:*: delete them
)

// Event returns the record as the door's event: its key unescaped, its ID
// the object's eTag, version and sequencer (which together name one change
// of one object), its time the record's eventTime. When the key is unsafe,
// Event returns the error and an event that carries the key as it came, for
// [door.Door.Refuse] (or, for an event the door skips anyway, Handle).
func (r Record) Event() (door.Event, error) {
	ev := door.Event{
		Bucket: r.S3.Bucket.Name,
		Key:    r.S3.Object.Key,
		Action: r.Action(),
		Name:   r.EventName,
		ID:     strings.Join([]string{r.S3.Object.ETag, r.S3.Object.VersionID, r.S3.Object.Sequencer}, "/"),
	}
	if ev.ID == "//" {
		ev.ID = ""
	}
	if t, err := time.Parse(time.RFC3339Nano, r.EventTime); err == nil {
		ev.Time = t
	}
	key, err := r.Key()
	if err != nil {
		return ev, err
	}
	ev.Key = key
	return ev, nil
}

// ParseAction classifies an event name in AWS's spelling
// ("ObjectCreated:Put") or MinIO's ("s3:ObjectCreated:Put").
func ParseAction(eventName string) Action {
	name := strings.TrimPrefix(eventName, "s3:")
	kind, _, _ := strings.Cut(name, ":")
	switch kind {
	case "ObjectCreated":
		return Created
	case "ObjectRemoved":
		return Removed
	}
	return Other
}
