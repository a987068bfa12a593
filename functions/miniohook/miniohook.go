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
// # Abuse
//
// Without the right bearer token a request gets 401 before its body is
// read. Bodies over Config.MaxBodyBytes get 413, malformed JSON 400. A
// record naming a bucket outside Config.Buckets or an unsafe key (see
// [pipeline.CheckKey]) is refused and logged; storage is not touched. When
// Config.Workers requests are being processed, the next one gets 503 at
// once.
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
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/functions/internal/s3event"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// Defaults of [Config].
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultProcessTimeout = 2 * time.Minute
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
	// Logger receives one line per record. Default slog.Default().
	Logger *slog.Logger
}

// Opener opens a bucket by URL, keeping it open for the next call;
// *buckets.Cache is one.
type Opener = buckets.Opener

// Handler serves the webhook. Create it with [New].
type Handler struct {
	cfg       Config
	thumbs    *pipeline.Thumbnailer
	buckets   Opener
	tokenHash [sha256.Size]byte
	sem       chan struct{}
	metrics   *metrics
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
	h := &Handler{
		cfg:       cfg,
		thumbs:    th,
		buckets:   open,
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
	h.mux.Handle("GET /metrics", h.metrics.handler())
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
		h.metrics.events.WithLabelValues(string(Unauthorized)).Inc()
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
		h.metrics.events.WithLabelValues(string(Busy)).Inc()
		h.log.Warn("request refused", "outcome", Busy, "workers", h.cfg.Workers)
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusServiceUnavailable, Response{Error: "every worker is busy; retry"})
		return
	}
	h.metrics.inFlight.Inc()
	defer h.metrics.inFlight.Dec()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.metrics.events.WithLabelValues(string(TooLarge)).Inc()
			h.log.Warn("request refused", "outcome", TooLarge, "limit", h.cfg.MaxBodyBytes)
			reply(w, http.StatusRequestEntityTooLarge, Response{Error: fmt.Sprintf("body over %d bytes", h.cfg.MaxBodyBytes)})
			return
		}
		h.metrics.events.WithLabelValues(string(BadRequest)).Inc()
		reply(w, http.StatusBadRequest, Response{Error: "reading body: " + err.Error()})
		return
	}
	ev, err := s3event.Parse(body)
	if err != nil {
		h.metrics.events.WithLabelValues(string(BadRequest)).Inc()
		h.log.Warn("request refused", "outcome", BadRequest, "error", err)
		reply(w, http.StatusBadRequest, Response{Error: err.Error()})
		return
	}

	// The work runs to its end even if MinIO hangs up: the retry then finds
	// it done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.ProcessTimeout)
	defer cancel()
	resp := Response{Records: make([]RecordResult, 0, len(ev.Records))}
	status := http.StatusOK
	for _, rec := range ev.Records {
		res := h.handle(ctx, rec)
		if res.Outcome == FailedTransient {
			status = http.StatusInternalServerError
		}
		resp.Records = append(resp.Records, res)
	}
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

// handle processes one record, records its metrics and logs one line.
func (h *Handler) handle(ctx context.Context, rec s3event.Record) (res RecordResult) {
	start := time.Now()
	action := rec.Action()
	res = RecordResult{Bucket: rec.S3.Bucket.Name, Key: rec.S3.Object.Key, Event: rec.EventName}
	var err error
	defer func() {
		d := time.Since(start)
		h.metrics.events.WithLabelValues(string(res.Outcome)).Inc()
		h.metrics.duration.WithLabelValues(action.String()).Observe(d.Seconds())
		attrs := []any{"bucket", res.Bucket, "key", res.Key, "event", res.Event, "outcome", res.Outcome,
			"duration", d, "variants", res.Variants}
		level := slog.LevelInfo
		if err != nil {
			res.Error = err.Error()
			attrs = append(attrs, "error", err)
			level = slog.LevelWarn
			if res.Outcome == FailedTransient {
				level = slog.LevelError
			}
		}
		h.log.Log(ctx, level, "event", attrs...)
	}()

	if action == s3event.Other {
		res.Outcome = Ignored
		return res
	}
	if !slices.Contains(h.cfg.Buckets, rec.S3.Bucket.Name) {
		res.Outcome, err = Refused, fmt.Errorf("bucket %q is not in the allow-list", rec.S3.Bucket.Name)
		return res
	}
	key, kerr := rec.Key()
	if kerr != nil {
		res.Outcome, err = Refused, kerr
		return res
	}
	res.Key = key
	var bucket *blob.Bucket
	bucket, err = h.buckets.Open(ctx, buckets.Expand(h.cfg.BucketURL, rec.S3.Bucket.Name))
	if err != nil {
		res.Outcome = FailedTransient // a configuration an operator can fix
		return res
	}
	switch action {
	case s3event.Created:
		var pr pipeline.Result
		pr, err = h.thumbs.Process(ctx, bucket, key)
		h.metrics.bytesIn.Add(float64(pr.SourceBytes))
		for _, v := range pr.Variants {
			if v.Status == pipeline.Written {
				h.metrics.bytesOut.Add(float64(v.Bytes))
			}
		}
		res.Variants = pr.Written()
		h.metrics.variantsWritten.Add(float64(res.Variants))
		switch {
		case err != nil:
			res.Outcome = failure(err)
		case pr.Skipped != "":
			res.Outcome, res.Error = Skipped, pr.Skipped
		case res.Variants > 0:
			res.Outcome = Processed
		default:
			res.Outcome = UpToDate
		}
	case s3event.Removed:
		var deleted []string
		deleted, err = h.thumbs.Delete(ctx, bucket, key)
		res.Variants = len(deleted)
		h.metrics.variantsDeleted.Add(float64(len(deleted)))
		if err != nil {
			res.Outcome = failure(err)
		} else {
			res.Outcome = Deleted
		}
	}
	return res
}

func failure(err error) Outcome {
	if pipeline.Retryable(err) {
		return FailedTransient
	}
	return FailedPermanent
}

func reply(w http.ResponseWriter, status int, resp Response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp)
}
