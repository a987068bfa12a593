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
	_ "gocloud.dev/blob/gcsblob" // gs:// buckets

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
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
// Eventarc keeps retrying for up to a day; an hour rides out storage
// incidents without retrying a stubborn failure all day.
const DefaultMaxEventAge = time.Hour

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
}

// loadSettings reads the configuration from getenv and reports every
// problem at once.
func loadSettings(getenv func(string) string) (settings, error) {
	var errs []error
	st, err := envconfig.Read(envconfig.GCSFunc, getenv)
	if err != nil {
		errs = append(errs, err)
	}
	s := settings{cfg: st.Pipeline, output: st.OutputBucket, maxAge: st.MaxEventAge}
	if h := getenv("STORAGE_EMULATOR_HOST"); strings.Contains(h, "://") {
		errs = append(errs, fmt.Errorf("STORAGE_EMULATOR_HOST: %q must be host:port, without a scheme", h))
	}
	return s, errors.Join(errs...)
}

// handler turns Cloud Storage events into pipeline calls.
type handler struct {
	s      settings
	open   buckets.Opener           // a *buckets.Cache in production
	thumbs *buckets.LazyThumbnailer // made by the first event, then kept
	log    *slog.Logger
	now    func() time.Time
}

// newHandler returns a handler that opens buckets through open and logs to
// log. It does no I/O: the output bucket is opened by the first event.
func newHandler(s settings, open buckets.Opener, log *slog.Logger) *handler {
	return &handler{s: s, open: open, thumbs: buckets.NewLazyThumbnailer(s.cfg, s.output, open), log: log, now: time.Now}
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
	log := h.log.With("event_id", e.ID(), "event_type", e.Type())
	if e.Type() != TypeFinalized && e.Type() != TypeDeleted {
		log.Info("event type not handled; acknowledged", "source", e.Source())
		return nil
	}
	obj, err := decodeObject(e.Data())
	if err != nil {
		log.Error("malformed event; acknowledged", "error", err.Error(), "source", e.Source(), "subject", e.Subject())
		return nil
	}
	log = log.With("bucket", obj.Bucket, "object", obj.Name, "generation", obj.Generation)
	if at := eventTime(e, obj); h.s.maxAge > 0 && !at.IsZero() {
		if age := h.now().Sub(at); age > h.s.maxAge {
			log.Error("event too old; dropped (run thumbpipe backfill to catch up)",
				"event_time", at, "age", age.Round(time.Second).String(), "max_age", h.s.maxAge.String())
			return nil
		}
	}
	if src, ok := obj.Metadata[pipeline.MetaSource]; ok {
		log.Debug("skipped", "reason", "carries the thumbpipe marker: a thumbnail of "+src)
		return nil
	}
	if ok, why := h.s.cfg.Selects(obj.Name); !ok {
		log.Debug("skipped", "reason", why)
		return nil
	}

	bucket, err := h.open.Open(ctx, "gs://"+obj.Bucket)
	if err != nil {
		return h.failed(log, "cannot open the bucket", err)
	}
	th, err := h.thumbs.Get(ctx)
	if err != nil {
		return h.failed(log, "cannot open the output bucket", err)
	}
	start := time.Now()
	if e.Type() == TypeDeleted {
		removed, err := th.Delete(ctx, bucket, obj.Name)
		if err != nil {
			return h.failed(log, "failed", err)
		}
		log.Info("thumbnails deleted", "removed", len(removed), "keys", removed, "ms", time.Since(start).Milliseconds())
		return nil
	}
	res, err := th.Process(ctx, bucket, obj.Name)
	if err != nil {
		return h.failed(log, "failed", err)
	}
	if res.Skipped != "" {
		log.Info("skipped", "reason", res.Skipped)
		return nil
	}
	keys := make([]string, 0, len(res.Variants))
	for _, v := range res.Variants {
		keys = append(keys, v.Key)
	}
	log.Info("thumbnails made", "written", res.Written(), "keys", keys,
		"source_bytes", res.SourceBytes, "ms", time.Since(start).Milliseconds())
	return nil
}

// failed logs err under what went wrong ("failed": the pipeline) and
// returns it if pipeline.Retryable says a redelivery may succeed, or nil to
// acknowledge the event.
func (h *handler) failed(log *slog.Logger, what string, err error) error {
	if pipeline.Retryable(err) {
		log.Error(what+"; will be retried", "error", err.Error())
		return err
	}
	log.Error(what+" permanently; acknowledged", "error", err.Error())
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
