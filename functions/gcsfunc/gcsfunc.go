// Package gcsfunc is thumbpipe's Google Cloud Functions (gen2) door: a
// CloudEvent function, registered as "Thumbnail" with the Functions
// Framework, that Eventarc calls for Cloud Storage object events.
//
// The package is not a main package: the Go buildpack builds the function
// from a root package that imports it (deploy/gcloud/deploy.sh stages one),
// and the framework serves whatever init registered.
//
// # Events
//
//   - google.cloud.storage.object.v1.finalized: make the object's thumbnails
//     (pipeline.Thumbnailer.Process).
//   - google.cloud.storage.object.v1.deleted: remove its thumbnails
//     (pipeline.Thumbnailer.Delete). Cloud Storage also sends it for the old
//     generation when an object is overwritten; the core then leaves the
//     thumbnails alone because the key exists again.
//   - Any other type (archived, metadataUpdated) is acknowledged and ignored.
//
// Objects whose event metadata carries the thumbpipe marker are thumbnails:
// they are skipped before any storage call (the core checks again).
//
// An event's bucket name must follow Cloud Storage's naming rules and, when
// the allow-list (settings.buckets) is set, be in it; otherwise the event is
// refused and acknowledged before the name comes near a gs:// URL. An empty
// allow-list accepts every validly named bucket: the trigger names the
// bucket, and the function's service account decides what it may open.
//
// Each event goes through internal/door, which logs one line saying what
// became of it (done, up-to-date, skipped, refused, failed-permanent,
// failed-transient, dropped).
//
// # Retries
//
// Returning an error answers HTTP 500, and Eventarc redelivers the event
// when the function is deployed with --retry. So the function returns an
// error only when pipeline.Retryable says the failure may pass (storage
// unavailable, timeouts, throttling). Permanent failures (corrupt or too
// large images, malformed event data, a source that is gone) are logged and
// acknowledged. Events older than THUMBPIPE_MAX_EVENT_AGE (default 1h,
// measured from the CloudEvent's time) are dropped with a log line, so that
// a failure that keeps coming back cannot retry for a day;
// `thumbpipe backfill` makes whatever was dropped.
//
// # Configuration
//
// The function reads the THUMBPIPE_* variables internal/envconfig lists
// for gcsfunc ([EnvVars]): the pipeline's, THUMBPIPE_MAX_EVENT_AGE and
// THUMBPIPE_BUCKETS. An invalid configuration stops the function at start;
// a THUMBPIPE_* variable it does not read is warned about. Buckets are opened as gs://<bucket> through gocloud.dev's gcsblob
// and kept open across invocations; THUMBPIPE_OUTPUT_BUCKET is a gs://name
// URL too (only gcsblob is linked into the function). When STORAGE_EMULATOR_HOST is set
// (host:port, no scheme) every gs:// bucket goes to that emulator, without
// credentials.
//
// # Logs
//
// Logs are JSON lines in Cloud Logging's structured shape: severity,
// message, time and the event's fields (event_id, event_type, bucket,
// object, generation, ...).
package gcsfunc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"
	_ "gocloud.dev/blob/gcsblob"     // gs:// buckets
	_ "gocloud.dev/pubsub/gcppubsub" // gcppubsub:// event topics

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// EntryPoint is the name the function is registered under: the
// --entry-point of `gcloud functions deploy`.
const EntryPoint = "Thumbnail"

// Cloud Storage event types, as Eventarc's trigger filters name them.
const (
	TypeFinalized = "google.cloud.storage.object.v1.finalized"
	TypeDeleted   = "google.cloud.storage.object.v1.deleted"
)

// DefaultMaxEventAge is the age past which events are dropped when
// THUMBPIPE_MAX_EVENT_AGE is unset (its default in internal/envconfig).
// Eventarc keeps retrying for up to a day, so a day lets an upload ride
// out a storage outage of hours instead of being dropped after one; a
// failure that can never pass is permanent (see pipeline.Retryable) and is
// not retried at all. The MinIO door shares the setting and its default.
const DefaultMaxEventAge = 24 * time.Hour

// EnvVars lists the THUMBPIPE_* variables this function reads (besides
// STORAGE_EMULATOR_HOST), as internal/envconfig registers them.
func EnvVars() []string {
	return envconfig.Names(envconfig.GCSFunc)
}

// settings is the function's configuration.
type settings struct {
	cfg    pipeline.Config
	output string        // URL of the thumbnails' bucket; "": each source's own
	maxAge time.Duration // 0: never drop
	// buckets is the allow-list of bucket names. Empty: every bucket whose
	// name follows Cloud Storage's rules (the trigger names the bucket; set
	// it to that bucket to refuse events about any other).
	buckets []string
	// events is the topic URL completion events are published to; "": none.
	events string
}

// loadSettings reads the configuration from getenv and reports every
// problem at once.
func loadSettings(getenv func(string) string) (settings, error) {
	var errs []error
	st, err := envconfig.Read(envconfig.GCSFunc, getenv)
	if err != nil {
		errs = append(errs, err)
	}
	s := settings{cfg: st.Pipeline, output: st.OutputBucket, maxAge: st.MaxEventAge, buckets: st.Buckets, events: st.EventsTopic}
	if h := getenv("STORAGE_EMULATOR_HOST"); strings.Contains(h, "://") {
		errs = append(errs, fmt.Errorf("STORAGE_EMULATOR_HOST: %q must be host:port, without a scheme", h))
	}
	return s, errors.Join(errs...)
}

// handler turns Cloud Storage events into door events.
type handler struct {
	s    settings
	door *door.Door // shared by every invocation: the bucket cache, the lazily made Thumbnailer
	log  *slog.Logger
	now  func() time.Time
}

// newHandler returns a handler that opens buckets through open and logs to
// log. It does no I/O: the output bucket is opened by the first event.
func newHandler(s settings, open buckets.Opener, log *slog.Logger) *handler {
	h := &handler{s: s, log: log, now: time.Now}
	pub, err := events.New(s.events) // checked by loadSettings; connects on the first event
	if err != nil {
		panic(err)
	}
	d, err := door.New(door.Config{
		Events:      pub,
		Pipeline:    s.cfg,
		OutputURL:   s.output,
		Open:        open,
		BucketURL:   func(name string) string { return "gs://" + name },
		Buckets:     s.buckets,
		CheckBucket: door.GCSBucketName,
		MaxEventAge: s.maxAge,
		Logger:      log,
		Now:         func() time.Time { return h.now() },
	})
	if err != nil {
		panic(err) // only a nil opener or a negative age fail: programming errors
	}
	h.door = d
	return h
}

var cache buckets.Cache // every bucket the function opens, kept across invocations

func init() {
	log := newLogger(os.Stdout)
	for _, w := range envconfig.Unknown(envconfig.GCSFunc, os.Environ()) {
		log.Warn(w)
	}
	s, err := loadSettings(os.Getenv)
	if err != nil {
		// Fail at start: the deployment reports a container that does not
		// start, and this line says why.
		log.Error("invalid configuration", "error", err)
		os.Exit(1)
	}
	functions.CloudEvent(EntryPoint, newHandler(s, &cache, log).handle)
}

// newLogger returns a logger writing Cloud Logging's structured JSON:
// "severity" (DEBUG, INFO, WARNING, ERROR) and "message" instead of slog's
// "level" and "msg".
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("severity", severity(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	}))
}

// severity maps a slog level onto Cloud Logging's LogSeverity names.
func severity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	default:
		return "ERROR"
	}
}

// handle is the CloudEvent function. It returns an error only for failures
// worth a redelivery.
func (h *handler) handle(ctx context.Context, e event.Event) error {
	log := h.log.With("event_type", e.Type()) // the door's line names the event id
	ev := door.Event{Name: e.Type(), ID: e.ID(), Time: e.Time()}
	switch e.Type() {
	case TypeFinalized:
		ev.Action = door.Created
	case TypeDeleted:
		ev.Action = door.Removed
	default:
		h.door.WithLogger(log.With("source", e.Source())).Handle(ctx, ev) // skipped
		return nil
	}
	obj, err := decodeObject(e.Data())
	if err != nil {
		log.Error("malformed event; acknowledged", "event_id", e.ID(), "error", err.Error(), "source", e.Source(), "subject", e.Subject())
		return nil
	}
	ev.Bucket, ev.Key, ev.Metadata, ev.Time = obj.Bucket, obj.Name, obj.Metadata, eventTime(e, obj)
	o := h.door.WithLogger(log.With("object", obj.Name, "generation", obj.Generation)).Handle(ctx, ev)
	if o.Retry() {
		return o.Err
	}
	return nil
}

// eventTime is when the event happened: the CloudEvent's time, or the
// object's update time when an event has none.
func eventTime(e event.Event, obj objectData) time.Time {
	if t := e.Time(); !t.IsZero() {
		return t
	}
	return obj.Updated
}
