package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/functions/internal/s3event"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// handler turns the payloads Lambda delivers into pipeline calls and maps
// their outcome onto Lambda's retry rules.
type handler struct {
	cfg       pipeline.Config
	buckets   buckets.Opener           // a *buckets.Cache, so that a warm function opens each bucket once
	bucketURL func(name string) string // an event's bucket name -> the URL to open
	log       *slog.Logger
	thumbs    *buckets.LazyThumbnailer // made on first use: init stays config-only
}

// newHandler returns the function's handler. It does no I/O: buckets are
// opened on first use.
func newHandler(cfg pipeline.Config, open buckets.Opener, bucketURL func(string) string, log *slog.Logger) *handler {
	return &handler{cfg: cfg, buckets: open, bucketURL: bucketURL, log: log, thumbs: buckets.NewLazyThumbnailer(cfg, "", open)}
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
	var p struct {
		Service string `json:"Service"`
		Event   string `json:"Event"`
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return unknownShape
	}
	switch {
	case p.Event == "s3:TestEvent":
		return testShape
	case len(p.Records) > 0 && p.Records[0].EventSource == "aws:sqs":
		return sqsShape
	case p.Records != nil:
		return s3Shape
	}
	return unknownShape
}

// Handle is the function: it accepts a direct S3 notification, an SQS
// batch of them, or an S3 test event. Permanent failures are logged and
// acknowledged; transient ones are returned as a *TransientError (direct
// invocation) or as batch item failures (SQS), so that Lambda retries them.
func (h *handler) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	log := h.log
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("requestId", lc.AwsRequestID)
	}
	switch shapeOf(payload) {
	case testShape:
		log.InfoContext(ctx, "s3 test event acknowledged")
		return response{TestEvent: true, Records: []outcome{}}, nil
	case sqsShape:
		var ev events.SQSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			// Acknowledging would drop a whole batch unseen; this cannot
			// be a message's fault, so let SQS redeliver (and redrive).
			return nil, fmt.Errorf("decode sqs batch: %w", err)
		}
		return h.sqs(ctx, log, ev), nil
	case s3Shape:
		ev, err := s3event.Parse(payload)
		if err != nil {
			log.ErrorContext(ctx, "payload ignored", "error", err)
			return response{Ignored: err.Error(), Records: []outcome{}}, nil
		}
		resp, errs := h.records(ctx, log, ev.Records)
		if len(errs) > 0 {
			return resp, &TransientError{Errs: errs}
		}
		return resp, nil
	}
	const why = "not an S3 notification, an SQS batch of them or an S3 test event"
	log.ErrorContext(ctx, "payload ignored", "error", why, "payload", truncate(payload, 512))
	return response{Ignored: why, Records: []outcome{}}, nil
}

// sqs handles each message of a batch on its own: a message that failed
// transiently is reported back so that only it is redelivered.
func (h *handler) sqs(ctx context.Context, log *slog.Logger, ev events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, m := range ev.Records {
		mlog := log.With("messageId", m.MessageId)
		body := []byte(m.Body)
		switch shapeOf(body) {
		case testShape:
			mlog.InfoContext(ctx, "s3 test event acknowledged")
			continue
		case s3Shape:
			ev, err := s3event.Parse(body)
			if err != nil {
				mlog.ErrorContext(ctx, "message ignored", "error", err)
				continue
			}
			if _, errs := h.records(ctx, mlog, ev.Records); len(errs) > 0 {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		default:
			mlog.ErrorContext(ctx, "message ignored", "error", "body is not an S3 notification", "body", truncate(body, 512))
		}
	}
	return resp
}

// records handles the records of one notification in order and returns
// what happened to each, and the transient failures.
func (h *handler) records(ctx context.Context, log *slog.Logger, recs []s3event.Record) (response, []error) {
	resp := response{Records: make([]outcome, 0, len(recs))}
	var errs []error
	for _, r := range recs {
		o, err := h.record(ctx, log, r)
		resp.Records = append(resp.Records, o)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return resp, errs
}

// bucketName is what S3 allows as a bucket name.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// record handles one record. It returns an error only when the failure is
// worth retrying; permanent failures are logged and set in outcome.Error.
func (h *handler) record(ctx context.Context, log *slog.Logger, r s3event.Record) (outcome, error) {
	start := time.Now()
	o := outcome{Bucket: r.S3.Bucket.Name, Key: r.S3.Object.Key, Action: r.Action().String()}
	log = log.With("bucket", o.Bucket, "event", r.EventName)
	permanent := func(err error) (outcome, error) {
		o.Error = err.Error()
		log.ErrorContext(ctx, "permanent failure, acknowledged", "error", err)
		return o, nil
	}
	key, err := r.Key()
	if err != nil {
		log = log.With("key", o.Key) // as the event carries it
		return permanent(err)
	}
	o.Key = key
	log = log.With("key", key)
	if r.Action() == s3event.Other {
		o.Skipped = "event " + r.EventName + " neither creates nor removes an object"
		log.InfoContext(ctx, "record skipped", "reason", o.Skipped)
		return o, nil
	}
	if !bucketName.MatchString(o.Bucket) {
		return permanent(fmt.Errorf("bucket name %q is not a valid S3 bucket name", o.Bucket))
	}

	var opErr error
	t, err := h.thumbs.Get(ctx)
	if err == nil {
		var b *blob.Bucket
		if b, err = h.buckets.Open(ctx, h.bucketURL(o.Bucket)); err == nil {
			switch r.Action() {
			case s3event.Created:
				var res pipeline.Result
				res, opErr = t.Process(ctx, b, key)
				o.Skipped, o.Written = res.Skipped, res.Written()
				for _, v := range res.Variants {
					o.Thumbnails = append(o.Thumbnails, v.Key)
				}
			case s3event.Removed:
				o.Removed, opErr = t.Delete(ctx, b, key)
			}
		}
	}
	if err != nil {
		opErr = err
	}
	if opErr != nil {
		if pipeline.Retryable(opErr) {
			log.WarnContext(ctx, "transient failure, will be retried", "error", opErr)
			return o, fmt.Errorf("%s s3://%s/%s: %w", o.Action, o.Bucket, key, opErr)
		}
		return permanent(opErr)
	}
	log.InfoContext(ctx, "record done", "action", o.Action, "written", o.Written, "thumbnails", len(o.Thumbnails),
		"removed", len(o.Removed), "skipped", o.Skipped, "ms", time.Since(start).Milliseconds())
	return o, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
