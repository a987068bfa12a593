// Package miniohook is the MinIO door: an HTTP handler for MinIO's bucket
// notification webhook that makes the thumbnails of every uploaded image
// and deletes them when the image is removed.
//
// # Routes
//
//	POST /webhook   MinIO's notifications (S3-style Records)
//	GET  /healthz   200 "ok"
//	GET  /metrics   Prometheus metrics
//
// # Retries
//
// MinIO keeps an event (in its queue_dir) and sends it again until the
// webhook answers 2xx. So the handler answers 2xx for everything that a
// retry would not change (thumbnails made, sources skipped, corrupt images,
// refused buckets and keys, events it ignores) and 5xx when any record
// failed in a way that may pass ([pipeline.Retryable]), such as storage
// being unreachable. The whole request is then retried. The pipeline is
// idempotent, so a record already done costs little: an upload a few
// metadata reads (the source's and each thumbnail's) and a ranged read of
// the source's first bytes, a removal a few metadata reads; no image is
// decoded or written again.
//
// No event lives forever: a record whose eventTime is older than
// Config.MaxEventAge, or that has failed transiently Config.MaxAttempts
// times (the same bucket, key, eTag and sequencer), is dropped — logged at
// ERROR and acknowledged — and `thumbpipe backfill` catches up.
//
// # Abuse
//
// Without the right bearer token a request gets 401 before its body is
// read. Bodies over Config.MaxBodyBytes, and bodies of more than
// Config.MaxRecords records (MinIO sends one), get 413 before any work;
// malformed JSON 400. A record naming a bucket outside Config.Buckets or
// against S3's naming rules, or an unsafe key (see [pipeline.CheckKey]), is
// refused and logged; storage is not touched. Each record logs one line
// and each request one summary line. When
// Config.Workers requests are being processed, the next one gets 503 at
// once; so does a request whose decode could not get its memory in time
// from the Thumbnailer's pipeline.Config.Admit (pipeline.ErrBusy), unless
// another of its records failed otherwise (500).
package miniohook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/thumbpipe/thumbpipe/functions/internal/s3event"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/doormetrics"
	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// Defaults of [Config].
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultProcessTimeout = 2 * time.Minute
	// DefaultMaxEventAge outlasts a long outage of thumbpipe (MinIO keeps
	// the events in its queue dir meanwhile) but not a stuck event.
	DefaultMaxEventAge = 24 * time.Hour
	// DefaultMaxAttempts is about five minutes of MinIO retrying an event
	// every few seconds.
	DefaultMaxAttempts = 100
	// DefaultMaxRecords leaves room above the one record MinIO sends per
	// request.
	DefaultMaxRecords = 10
)

// Config configures a [Handler]. Its zero values mean the documented
// defaults, which [New] fills in; [Config.Validate] reports every problem
// at once.
type Config struct {
	// Token is the bearer token MinIO sends (MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN).
	// Empty means no authentication, which must be asked for with
	// InsecureNoAuth.
	Token string
	// InsecureNoAuth accepts requests without a token. Only for a webhook
	// that nothing but MinIO can reach.
	InsecureNoAuth bool
	// BucketURL turns a bucket name into a blob URL: {bucket} stands for
	// the name, e.g.
	// "s3://{bucket}?endpoint=http://minio:9000&use_path_style=true&disable_https=true&region=us-east-1".
	BucketURL string
	// Buckets is the allow-list of bucket names; records about any other
	// bucket are refused. It must not be empty.
	Buckets []string
	// Workers bounds the requests processed at once. Default (0)
	// runtime.NumCPU().
	Workers int
	// MaxBodyBytes bounds a request's body. Default (0)
	// [DefaultMaxBodyBytes], 1 MiB.
	MaxBodyBytes int64
	// ProcessTimeout bounds the work on one request. It runs on even if
	// MinIO hangs up, so that the retry finds the thumbnails done.
	// Default (0) [DefaultProcessTimeout], 2 minutes.
	ProcessTimeout time.Duration
	// MaxEventAge drops (logs and acknowledges) records whose eventTime is
	// older. Default DefaultMaxEventAge; negative: never.
	MaxEventAge time.Duration
	// MaxAttempts drops (logs and acknowledges) a record once the same
	// bucket, key, eTag and sequencer has failed transiently this many
	// times; the last AttemptMemory failing records are remembered.
	// Default DefaultMaxAttempts; negative: no bound.
	MaxAttempts int
	// AttemptMemory bounds the failing records remembered for MaxAttempts.
	// Default door.DefaultAttemptMemory.
	AttemptMemory int
	// MaxRecords bounds the records of one request; a request with more is
	// refused whole with 413. Default DefaultMaxRecords.
	MaxRecords int
	// Logger receives one line per record and one per request. Default
	// slog.Default().
	Logger *slog.Logger
	// Events publishes the completion events; nil publishes none. The
	// caller closes it.
	Events *events.Publisher
}

// Opener opens a bucket by URL, keeping it open for the next call;
// *buckets.Cache is one.
type Opener = buckets.Opener

// Handler serves the webhook. Create it with [New].
type Handler struct {
	cfg       Config
	door      *door.Door
	tokenHash [sha256.Size]byte
	sem       chan struct{}
	metrics   *doormetrics.Metrics
	mux       *http.ServeMux
	log       *slog.Logger
}

// FieldError is a problem with one field of [Config], so that a program
// can name the setting it read the field from.
type FieldError struct {
	Field string // "Token", "BucketURL", "Buckets", ...
	Err   error
}

// Error returns the problem, without the field's name.
func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns the problem.
func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports every problem with cfg at once, each a *[FieldError],
// or nil: a token is required unless InsecureNoAuth asks to run without
// one (and not both), the bucket URL must hold {bucket}, the allow-list
// must name valid buckets, and no limit may be negative (zero means the
// default).
func (cfg Config) Validate() error {
	var errs []error
	add := func(field string, err error) { errs = append(errs, &FieldError{Field: field, Err: err}) }
	if cfg.Token == "" && !cfg.InsecureNoAuth {
		add("Token", errors.New("a webhook token is required (or explicitly run without one)"))
	}
	if cfg.Token != "" && cfg.InsecureNoAuth {
		add("InsecureNoAuth", errors.New("a token is set and running without one is asked for: pick one"))
	}
	if cfg.Token != "" && len(strings.Fields(cfg.Token)) != 1 {
		add("Token", errors.New("the webhook token must be one word without spaces"))
	}
	if !strings.Contains(cfg.BucketURL, "{bucket}") {
		add("BucketURL", fmt.Errorf("bucket URL template %q has no {bucket}", cfg.BucketURL))
	}
	if len(cfg.Buckets) == 0 {
		add("Buckets", errors.New("the bucket allow-list is empty"))
	}
	for _, b := range cfg.Buckets {
		if b == "" || strings.ContainsAny(b, "/?#&=%{} \t") {
			add("Buckets", fmt.Errorf("bucket name %q is not valid", b))
		}
	}
	if cfg.Workers < 0 {
		add("Workers", fmt.Errorf("workers %d must not be negative", cfg.Workers))
	}
	if cfg.MaxBodyBytes < 0 {
		add("MaxBodyBytes", fmt.Errorf("body limit %d must not be negative", cfg.MaxBodyBytes))
	}
	if cfg.ProcessTimeout < 0 {
		add("ProcessTimeout", fmt.Errorf("timeout %s must not be negative", cfg.ProcessTimeout))
	}
	return errors.Join(errs...)
}

// New returns a Handler that makes thumbnails with th and opens buckets
// through open, usually a *buckets.Cache that the caller closes. It
// validates cfg ([Config.Validate]) and fills in its defaults.
func New(cfg Config, th *pipeline.Thumbnailer, open Opener) (*Handler, error) {
	errs := []error{cfg.Validate()}
	if th == nil || open == nil {
		errs = append(errs, errors.New("a thumbnailer and a bucket opener are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("miniohook: %w", err)
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ProcessTimeout == 0 {
		cfg.ProcessTimeout = DefaultProcessTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d, err := newDoor(&cfg, th, open)
	if err != nil {
		return nil, fmt.Errorf("miniohook: %w", err)
	}
	h := &Handler{
		cfg:       cfg,
		door:      d,
		tokenHash: sha256.Sum256([]byte(cfg.Token)),
		sem:       make(chan struct{}, cfg.Workers),
		metrics:   newMetrics(),
		mux:       http.NewServeMux(),
		log:       cfg.Logger,
	}
	h.mux.HandleFunc("POST /webhook", h.webhook)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	h.mux.Handle("GET /metrics", h.metrics.Handler())
	return h, nil
}

// Config returns the handler's config with the defaults filled in.
func (h *Handler) Config() Config { return h.cfg }

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// RecordResult is what the webhook answers about one record.
type RecordResult struct {
	Bucket   string  `json:"bucket"`
	Key      string  `json:"key"` // unescaped; the raw key when it was refused
	Event    string  `json:"event"`
	Outcome  Outcome `json:"outcome"`
	Variants int     `json:"variants,omitempty"` // written or deleted
	Error    string  `json:"error,omitempty"`
}

// Response is the webhook's JSON answer.
type Response struct {
	Records []RecordResult `json:"records,omitempty"`
	Error   string         `json:"error,omitempty"`
}

func (h *Handler) webhook(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.metrics.Count(Unauthorized)
		h.log.Warn("request refused", "outcome", Unauthorized, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="thumbpipe"`)
		// End the connection: a client without the token gets nothing more,
		// not even the time to dribble the rest of its body.
		w.Header().Set("Connection", "close")
		reply(w, http.StatusUnauthorized, Response{Error: "missing or wrong bearer token"})
		return
	}
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	default:
		h.metrics.Count(Busy)
		h.log.Warn("request refused", "outcome", Busy, "workers", h.cfg.Workers)
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusServiceUnavailable, Response{Error: "every worker is busy; retry"})
		return
	}
	h.metrics.InFlight.Inc()
	defer h.metrics.InFlight.Dec()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.metrics.Count(TooLarge)
			h.log.Warn("request refused", "outcome", TooLarge, "limit", h.cfg.MaxBodyBytes)
			reply(w, http.StatusRequestEntityTooLarge, Response{Error: fmt.Sprintf("body over %d bytes", h.cfg.MaxBodyBytes)})
			return
		}
		h.metrics.Count(BadRequest)
		reply(w, http.StatusBadRequest, Response{Error: "reading body: " + err.Error()})
		return
	}
	ev, err := s3event.Parse(body)
	if err != nil {
		h.metrics.Count(BadRequest)
		h.log.Warn("request refused", "outcome", BadRequest, "error", err)
		reply(w, http.StatusBadRequest, Response{Error: err.Error()})
		return
	}

	if n := len(ev.Records); n > h.cfg.MaxRecords {
		h.metrics.Count(TooLarge)
		h.log.Warn("request refused", "outcome", TooLarge, "records", n, "max_records", h.cfg.MaxRecords)
		reply(w, http.StatusRequestEntityTooLarge, Response{Error: fmt.Sprintf("%d records, more than the %d a request may carry", n, h.cfg.MaxRecords)})
		return
	}

	// The work runs to its end even if MinIO hangs up: the retry then finds
	// it done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.ProcessTimeout)
	defer cancel()
	resp := Response{Records: make([]RecordResult, 0, len(ev.Records))}
	status := http.StatusOK
	counts := map[Outcome]int{}
	for _, rec := range ev.Records {
		res, busy := h.handle(ctx, rec)
		switch {
		case res.Outcome != FailedTransient:
		case busy && status == http.StatusOK:
			// Only the decode memory was short, as when every worker is
			// busy: MinIO sends the event again.
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		case !busy:
			status = http.StatusInternalServerError
		}
		counts[res.Outcome]++
		resp.Records = append(resp.Records, res)
	}
	args := []any{"records", len(ev.Records), "status", status}
	for _, o := range allOutcomes {
		if counts[o] > 0 {
			args = append(args, string(o), counts[o])
		}
	}
	h.log.Info("request", args...)
	reply(w, status, resp)
}

// authorized compares the bearer token in constant time (hashes of equal
// length, so the token's length does not leak either).
func (h *Handler) authorized(r *http.Request) bool {
	if h.cfg.InsecureNoAuth {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1
}

// newDoor fills in cfg's limits and returns the door records go through.
func newDoor(cfg *Config, th *pipeline.Thumbnailer, open Opener) (*door.Door, error) {
	if cfg.MaxRecords < 0 || cfg.AttemptMemory < 0 {
		return nil, errors.New("max records and attempt memory must not be negative")
	}
	if cfg.MaxEventAge == 0 {
		cfg.MaxEventAge = DefaultMaxEventAge
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.AttemptMemory == 0 {
		cfg.AttemptMemory = door.DefaultAttemptMemory
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	template := cfg.BucketURL
	return door.New(door.Config{
		Thumbnailer:   th,
		Open:          open,
		BucketURL:     func(name string) string { return buckets.Expand(template, name) },
		Buckets:       cfg.Buckets,
		CheckBucket:   door.S3BucketName,
		MaxEventAge:   max(cfg.MaxEventAge, 0),
		MaxAttempts:   max(cfg.MaxAttempts, 0),
		AttemptMemory: cfg.AttemptMemory,
		Logger:        cfg.Logger,
		Events:        cfg.Events,
	})
}

// handle passes one record through the door and records its metrics.
// busy reports a record that failed only
// because the decode memory was in use (pipeline.ErrBusy).
func (h *Handler) handle(ctx context.Context, rec s3event.Record) (res RecordResult, busy bool) {
	ev, err := rec.Event()
	var o door.Outcome
	if err != nil && ev.Action != door.Other { // events MinIO sends about anything else are ignored, whatever their key
		o = h.door.Refuse(ctx, ev, err)
	} else {
		o = h.door.Handle(ctx, ev)
	}
	res = RecordResult{Bucket: door.Clip(o.Bucket, 255), Key: door.Clip(o.Key, 1024), Event: door.Clip(o.Name, 255),
		Outcome: doormetrics.Of(o), Variants: o.Written() + len(o.Removed)}
	if o.Reason != "" && o.Status != door.Done && o.Status != door.UpToDate {
		res.Error = door.Clip(o.Reason, 2048)
	}
	h.metrics.Observe(o)
	return res, o.Status == door.FailedTransient && errors.Is(o.Err, pipeline.ErrBusy)
}

func reply(w http.ResponseWriter, status int, resp Response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp)
}
