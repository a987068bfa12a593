package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/thumbpipe/thumbpipe/functions/internal/s3event"
	"github.com/thumbpipe/thumbpipe/internal/door"
)

// Kind says which storage a message's events come from, which decides the
// bucket naming rules they are checked against.
type Kind int

// Kinds of message.
const (
	// S3 is an S3-style notification (Records): what MinIO publishes to
	// NATS, AMQP, Kafka... and AWS S3 sends to SQS.
	S3 Kind = iota
	// GCS is a Cloud Storage notification delivered by Pub/Sub: attributes
	// eventType, bucketId, objectId, the object's JSON resource as body.
	GCS
)

// Record is one event of a message, as the door takes it: Err is set when
// the event could not be accepted as it came (an unsafe key), and the
// door refuses it.
type Record struct {
	Event door.Event
	Kind  Kind
	Err   error
}

// ErrMalformed marks a message that is not a bucket notification. It is
// permanent: a redelivery carries the same bytes, so the message is
// acknowledged (and logged).
var ErrMalformed = errors.New("not a bucket notification")

// Decode reads a message's events: a Cloud Storage notification when the
// attributes carry eventType, bucketId and objectId, else S3-style Records
// from the body. A message with more than maxRecords records (0: no bound)
// is refused whole, and so are an S3 test event's and other bodies without
// Records: each with an error wrapping [ErrMalformed].
func Decode(body []byte, attrs map[string]string, maxRecords int) ([]Record, error) {
	if attrs["eventType"] != "" || attrs["bucketId"] != "" || attrs["objectId"] != "" {
		r, err := decodeGCS(body, attrs)
		if err != nil {
			return nil, err
		}
		return []Record{r}, nil
	}
	ev, err := s3event.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if maxRecords > 0 && len(ev.Records) > maxRecords {
		return nil, fmt.Errorf("%w: %d records, more than the %d a message may carry", ErrMalformed, len(ev.Records), maxRecords)
	}
	out := make([]Record, 0, len(ev.Records))
	for _, rec := range ev.Records {
		e, err := rec.Event()
		if err != nil && e.Action == door.Other { // whatever else is ignored, whatever its key
			err = nil
		}
		out = append(out, Record{Event: e, Kind: S3, Err: err})
	}
	return out, nil
}

// gcsObject is what thumbpipe reads of the object resource a Cloud Storage
// notification carries (payloadFormat JSON_API_V1): its custom metadata,
// where the thumbpipe marker lives.
type gcsObject struct {
	Metadata map[string]string `json:"metadata"`
}

// decodeGCS reads a Cloud Storage Pub/Sub notification
// (https://cloud.google.com/storage/docs/pubsub-notifications).
func decodeGCS(body []byte, attrs map[string]string) (Record, error) {
	typ, bucket, key := attrs["eventType"], attrs["bucketId"], attrs["objectId"]
	if typ == "" || bucket == "" || key == "" {
		return Record{}, fmt.Errorf("%w: a Cloud Storage notification needs the attributes eventType, bucketId and objectId (got %q, %q, %q)",
			ErrMalformed, door.Clip(typ, 100), door.Clip(bucket, 100), door.Clip(key, 100))
	}
	ev := door.Event{Bucket: bucket, Key: key, Name: typ,
		ID: strings.Join([]string{bucket, key, attrs["objectGeneration"], typ}, "/")}
	switch typ {
	case "OBJECT_FINALIZE":
		ev.Action = door.Created
	case "OBJECT_DELETE":
		ev.Action = door.Removed
	}
	if t, err := time.Parse(time.RFC3339Nano, attrs["eventTime"]); err == nil {
		ev.Time = t
	}
	if attrs["payloadFormat"] != "NONE" && len(bytes.TrimSpace(body)) > 0 {
		var o gcsObject
		if err := json.Unmarshal(body, &o); err != nil {
			return Record{}, fmt.Errorf("%w: the object resource of %s gs://%s/%s: %v", ErrMalformed, typ,
				door.Clip(bucket, 100), door.Clip(key, 200), err)
		}
		ev.Metadata = o.Metadata
	}
	return Record{Event: ev, Kind: GCS}, nil
}
