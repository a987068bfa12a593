package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/thumbpipe/thumbpipe/functions/internal/s3event"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	completion "github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// DefaultMaxRecords is the most records one invocation handles when
// handler.maxRecords is 0. S3 invokes the function with one record per
// event and SQS with up to 10 messages of one record each by default; a
// payload with more is refused as a whole (direct) or in part (SQS), so
// that neither the work, the logs nor the response (Lambda's limit is 6 MB)
// grow with a payload's size.
const DefaultMaxRecords = 100

// handler turns the payloads Lambda delivers into door events and maps
// their outcomes onto Lambda's retry rules.
type handler struct {
	cfg       pipeline.Config
	bucketURL func(name string) string // an event's bucket name -> the URL to open
	log       *slog.Logger
	door      *door.Door // shared by every invocation: the bucket cache, the lazily made Thumbnailer
	// maxRecords bounds the records of one invocation; default DefaultMaxRecords.
	maxRecords int
}

// newHandler returns the function's handler. It does no I/O: buckets are
// opened on first use. Event buckets must pass S3's naming rules and, when
// allow is not empty, be in it; an empty allow-list accepts every validly
// named bucket (the trigger and the function's role decide which buckets
// reach it).
func newHandler(cfg pipeline.Config, open buckets.Opener, bucketURL func(string) string, log *slog.Logger, allow ...string) *handler {
	h := &handler{cfg: cfg, bucketURL: bucketURL, log: log, maxRecords: DefaultMaxRecords}
	h.newDoor(door.Config{Pipeline: cfg, Open: open, BucketURL: bucketURL, Buckets: allow, CheckBucket: door.S3BucketName})
	return h
}

// setOutput sends the thumbnails into the bucket at url instead of each
// source's own bucket.
func (h *handler) setOutput(url string) {
	cfg := h.door.Config()
	cfg.OutputURL = url
	h.newDoor(cfg)
}

// setEvents publishes the completion events through p (nil: none).
func (h *handler) setEvents(p *completion.Publisher) {
	cfg := h.door.Config()
	cfg.Events = p
	h.newDoor(cfg)
}

func (h *handler) newDoor(cfg door.Config) {
	d, err := door.New(cfg)
	if err != nil {
		panic(err) // only a nil opener fails, a programming error
	}
	h.door = d
}

// response answers a direct S3 notification, a test event or a payload the
// function does not know. (SQS batches are answered with
// events.SQSEventResponse.)
type response struct {
	TestEvent bool      `json:"testEvent,omitempty"`
	Ignored   string    `json:"ignored,omitempty"` // why a payload was acknowledged unread
	Records   []outcome `json:"records"`
}

// outcome is what the function did with one record.
type outcome struct {
	Bucket     string   `json:"bucket"`
	Key        string   `json:"key"`
	Action     string   `json:"action"` // created, removed or other
	Thumbnails []string `json:"thumbnails,omitempty"`
	Written    int      `json:"written"`
	Removed    []string `json:"removed,omitempty"`
	Skipped    string   `json:"skipped,omitempty"`
	Error      string   `json:"error,omitempty"` // a permanent failure, acknowledged
}

// TransientError is returned for a direct S3 notification that failed in a
// way worth retrying (storage unavailable, timeout): Lambda retries the
// event and, when the retries run out, sends it to the on-failure
// destination. Its name is the errorType Lambda reports.
type TransientError struct {
	Errs []error
}

func (e *TransientError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "transient failure, retry: " + strings.Join(msgs, "; ")
}

// Unwrap returns the failures.
func (e *TransientError) Unwrap() []error { return e.Errs }

// The shapes of payload the function accepts.
type shape int

const (
	unknownShape shape = iota
	s3Shape            // an S3 notification: {"Records":[{"eventSource":"aws:s3",...}]}
	sqsShape           // an SQS batch whose bodies are S3 notifications
	testShape          // s3:TestEvent, sent when a notification is configured
)

// shapeOf tells the payloads apart by their fields.
func shapeOf(payload []byte) shape {
	s, _ := shapeAndCount(payload)
	return s
}

// shapeAndCount is shapeOf with the number of records (of an S3
// notification) or messages (of an SQS batch), read without decoding them
// whole, so that a payload of millions of records is refused cheaply.
func shapeAndCount(payload []byte) (shape, int) {
	var p struct {
		Service string `json:"Service"`
		Event   string `json:"Event"`
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return unknownShape, 0
	}
	switch {
	case p.Event == "s3:TestEvent":
		return testShape, 0
	case len(p.Records) > 0 && p.Records[0].EventSource == "aws:sqs":
		return sqsShape, len(p.Records)
	case p.Records != nil:
		return s3Shape, len(p.Records)
	}
	return unknownShape, 0
}

// Handle is the function: it accepts a direct S3 notification, an SQS
// batch of them, or an S3 test event. Permanent failures are logged and
// acknowledged; transient ones are returned as a *TransientError (direct
// invocation) or as batch item failures (SQS), so that Lambda retries them.
// Each record logs one line, and each invocation one summary line.
func (h *handler) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	log := h.log
	if log == nil {
		log = slog.Default()
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("requestId", lc.AwsRequestID)
	}
	inv := &invocation{h: h, log: log, door: h.door.WithLogger(log), budget: h.limit()}
	defer inv.summary(ctx)
	kind, n := shapeAndCount(payload)
	switch kind {
	case testShape:
		log.InfoContext(ctx, "s3 test event acknowledged")
		return response{TestEvent: true, Records: []outcome{}}, nil
	case sqsShape:
		if n > h.limit() {
			inv.refused = n
			return nil, fmt.Errorf("sqs batch of %d messages, more than the %d one invocation handles: lower the event source mapping's BatchSize", n, h.limit())
		}
		var ev events.SQSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			// Acknowledging would drop a whole batch unseen; this cannot
			// be a message's fault, so let SQS redeliver (and redrive).
			return nil, fmt.Errorf("decode sqs batch: %w", err)
		}
		return inv.sqs(ctx, ev), nil
	case s3Shape:
		if n > h.limit() {
			inv.refused = n
			why := fmt.Sprintf("%d records, more than the %d one invocation handles; S3 sends one", n, h.limit())
			log.ErrorContext(ctx, "payload ignored", "error", why)
			return response{Ignored: why, Records: []outcome{}}, nil
		}
		ev, err := s3event.Parse(payload)
		if err != nil {
			log.ErrorContext(ctx, "payload ignored", "error", door.Clip(err.Error(), 512))
			return response{Ignored: door.Clip(err.Error(), 512), Records: []outcome{}}, nil
		}
		resp, errs := inv.records(ctx, ev.Records)
		if len(errs) > 0 {
			return resp, &TransientError{Errs: errs}
		}
		return resp, nil
	}
	const why = "not an S3 notification, an SQS batch of them or an S3 test event"
	log.ErrorContext(ctx, "payload ignored", "error", why, "payload", truncate(payload, 512))
	return response{Ignored: why, Records: []outcome{}}, nil
}

func (h *handler) limit() int {
	if h.maxRecords > 0 {
		return h.maxRecords
	}
	return DefaultMaxRecords
}

// invocation is the work of one Handle call.
type invocation struct {
	h       *handler
	log     *slog.Logger
	door    *door.Door
	budget  int            // records this invocation may still handle
	counts  map[string]int // outcomes of the records handled, by status
	refused int            // records or messages refused for the caps
}

// maxMessageID bounds an SQS message id echoed in a response: SQS's are
// UUIDs, so a longer one comes from elsewhere.
const maxMessageID = 128

// sqs handles each message of a batch on its own: a message that failed
// transiently is reported back so that only it is redelivered. Messages
// whose records no longer fit the invocation's budget are reported back
// too, unread.
func (inv *invocation) sqs(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	retry := func(m events.SQSMessage) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
	}
	for _, m := range ev.Records {
		mlog := inv.log.With("messageId", door.Clip(m.MessageId, maxMessageID))
		body := []byte(m.Body)
		if len(m.MessageId) > maxMessageID {
			mlog.ErrorContext(ctx, "message ignored", "error", "message id longer than SQS makes them")
			continue
		}
		kind, n := shapeAndCount(body)
		switch kind {
		case testShape:
			mlog.InfoContext(ctx, "s3 test event acknowledged")
			continue
		case s3Shape:
			if n > inv.h.limit() {
				inv.refused += n
				mlog.ErrorContext(ctx, "message ignored", "error", fmt.Sprintf("%d records, more than the %d one invocation handles", n, inv.h.limit()))
				continue
			}
			if n > inv.budget {
				inv.refused += n
				retry(m) // redelivered in a later invocation
				continue
			}
			ev, err := s3event.Parse(body)
			if err != nil {
				mlog.ErrorContext(ctx, "message ignored", "error", door.Clip(err.Error(), 512))
				continue
			}
			sub := &invocation{h: inv.h, log: mlog, door: inv.door.WithLogger(mlog), budget: inv.budget, counts: inv.counts}
			_, errs := sub.records(ctx, ev.Records)
			inv.budget, inv.counts = sub.budget, sub.counts
			if len(errs) > 0 {
				retry(m)
			}
		default:
			mlog.ErrorContext(ctx, "message ignored", "error", "body is not an S3 notification", "body", truncate(body, 512))
		}
	}
	return resp
}

// records handles the records of one notification in order and returns
// what happened to each, and the transient failures.
func (inv *invocation) records(ctx context.Context, recs []s3event.Record) (response, []error) {
	resp := response{Records: make([]outcome, 0, len(recs))}
	var errs []error
	for _, r := range recs {
		inv.budget--
		ev, err := r.Event()
		var o door.Outcome
		if err != nil {
			o = inv.door.Refuse(ctx, ev, err)
		} else {
			o = inv.door.Handle(ctx, ev)
		}
		if inv.counts == nil {
			inv.counts = map[string]int{}
		}
		inv.counts[string(o.Status)]++
		resp.Records = append(resp.Records, outcomeOf(o))
		if o.Retry() {
			errs = append(errs, fmt.Errorf("%s s3://%s/%s: %w", o.Action, door.Clip(o.Bucket, 63), door.Clip(o.Key, 1024), o.Err))
		}
	}
	return resp, errs
}

// summary logs the invocation's one summary line.
func (inv *invocation) summary(ctx context.Context) {
	args := []any{"records", 0, "refused_over_limit", inv.refused}
	n := 0
	for s, c := range inv.counts {
		args = append(args, s, c)
		n += c
	}
	args[1] = n
	level := slog.LevelInfo
	if inv.refused > 0 {
		level = slog.LevelError
	}
	inv.log.Log(ctx, level, "invocation done", args...)
}

// outcomeOf is the response's account of a door outcome; what it echoes
// of the event is clipped, so that the response stays small.
func outcomeOf(o door.Outcome) outcome {
	r := outcome{Bucket: door.Clip(o.Bucket, 255), Key: door.Clip(o.Key, 1024), Action: o.Action.String(),
		Written: o.Written(), Removed: o.Removed}
	for _, v := range o.Variants {
		r.Thumbnails = append(r.Thumbnails, door.Clip(v.Key, 1100))
	}
	switch o.Status {
	case door.Skipped:
		r.Skipped = door.Clip(o.Reason, 1024)
	case door.Refused, door.FailedPermanent, door.Dropped:
		r.Error = door.Clip(o.Reason, 2048)
	}
	return r
}

func truncate(b []byte, n int) string {
	return door.Clip(string(b), n)
}
