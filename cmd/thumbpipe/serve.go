package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/thumbpipe/thumbpipe/functions/miniohook"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// serve's fixed timings; its settings are in internal/envconfig.
const (
	shutdownGrace      = 5 * time.Second
	idleTimeout        = 2 * time.Minute
	healthcheckTimeout = 3 * time.Second
	// memoryWait is how long a request's decode waits for its share of
	// THUMBPIPE_MAX_DECODE_MEMORY before the request gets 503: about one
	// large decode, short enough that MinIO's retry comes soon.
	memoryWait = 2 * time.Second
)

// minTokenLength is the shortest webhook token serve accepts.
const minTokenLength = 16

// fieldSettings names the setting each miniohook.Config field is read
// from, for its errors.
var fieldSettings = map[string]string{
	"Token":          "THUMBPIPE_WEBHOOK_TOKEN (--token; the same as MinIO's MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>)",
	"InsecureNoAuth": "--insecure-no-auth",
	"BucketURL":      "THUMBPIPE_BUCKET_URL (--bucket-url, e.g. s3://{bucket}?endpoint=http://minio:9000&use_path_style=true&disable_https=true&region=us-east-1)",
	"Buckets":        "THUMBPIPE_BUCKETS (--buckets: the buckets whose events are accepted)",
	"Workers":        "THUMBPIPE_WORKERS (--workers)",
	"MaxBodyBytes":   "THUMBPIPE_MAX_BODY_BYTES (--max-body)",
	"ProcessTimeout": "THUMBPIPE_PROCESS_TIMEOUT (--process-timeout)",
}

func runServe(ctx context.Context, args []string, e env) error {
	fs := newFlags("serve", "[flags]", e)
	getenv := envconfig.Flags(fs, envconfig.Serve, e.getenv)
	insecureNoAuth := fs.Bool("insecure-no-auth", false,
		"accept webhook requests WITHOUT a token: anyone who reaches the port can make thumbpipe read and write your buckets")
	check := fs.Bool("healthcheck", false, "GET /healthz of the server at --listen and exit 0 if it answers 200 (for container healthchecks)")
	setup := fs.Bool("minio-setup", false, "before serving, run minio-setup: create the buckets and set their notification")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, fs.Args())
	}
	st, err := envconfig.Read(envconfig.Serve, getenv)
	if *check {
		// Only the address matters to a healthcheck, and it always parses.
		return healthcheck(ctx, st.Listen)
	}
	log := newLogger(e.stderr, st.LogFormat) // the default format if it did not parse
	for _, w := range e.warnings {
		log.Warn(w)
	}
	hcfg := handlerConfig(st, *insecureNoAuth, log)
	if err := errors.Join(err, webhookProblems(hcfg)); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	parts, err := startDoor(ctx, &st)
	if err != nil {
		return err
	}
	defer parts.Close()
	hcfg.Events = parts.events
	h, err := miniohook.New(hcfg, parts.th, parts.cache)
	if err != nil {
		return err
	}
	hcfg = h.Config()

	ln, err := net.Listen("tcp", st.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	var mln net.Listener
	if st.MetricsListen != "" {
		if mln, err = net.Listen("tcp", st.MetricsListen); err != nil {
			return fmt.Errorf("listen for metrics: %w", err)
		}
		defer mln.Close()
	}
	// MinIO is changed only once the webhook's config is known good and its
	// port is ours, so a bad setting leaves MinIO as it was.
	if *setup {
		if err := minioSetup(ctx, st, e.getenv, log); err != nil {
			return err
		}
	}
	mainHandler, metricsHandler := routes(h, st.MetricsToken, mln != nil)
	newServer := func(handler http.Handler) *http.Server {
		return &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: st.ReadHeaderTimeout,
			ReadTimeout:       st.ReadTimeout,
			WriteTimeout:      hcfg.ProcessTimeout + st.ReadTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
	}
	servers := []*http.Server{newServer(mainHandler)}
	listeners := []net.Listener{ln}
	if mln != nil {
		servers, listeners = append(servers, newServer(metricsHandler)), append(listeners, mln)
	}
	if hcfg.InsecureNoAuth {
		log.Warn("serving WITHOUT authentication: anyone who reaches this port can make thumbpipe read and write the allowed buckets")
	}
	if st.MetricsToken == "" && mln == nil {
		log.Warn("/metrics is open on the main port: set THUMBPIPE_METRICS_TOKEN or THUMBPIPE_METRICS_LISTEN to close it")
	}
	attrs := []any{"addr", ln.Addr().String(), "buckets", hcfg.Buckets, "workers", hcfg.Workers,
		"sizes", fmt.Sprint(st.Pipeline.Sizes), "bucket_url", hcfg.BucketURL,
		"decode_memory", st.Pipeline.MaxDecodeMemory, "memory_limit", debug.SetMemoryLimit(-1)}
	if mln != nil {
		attrs = append(attrs, "metrics_addr", mln.Addr().String())
	}
	log.Info("serving", attrs...)
	served := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { served <- srv.Serve(listeners[i]) }()
	}

	select {
	case err := <-served:
		for _, srv := range servers {
			srv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), hcfg.ProcessTimeout+shutdownGrace)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	for range servers {
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// handlerConfig is the webhook's config from serve's settings.
func handlerConfig(st envconfig.Settings, insecureNoAuth bool, log *slog.Logger) miniohook.Config {
	return miniohook.Config{
		Token:          st.WebhookToken,
		InsecureNoAuth: insecureNoAuth,
		BucketURL:      st.BucketURL,
		Buckets:        st.Buckets,
		Workers:        st.Workers,
		MaxBodyBytes:   st.MaxBodyBytes,
		ProcessTimeout: st.ProcessTimeout,
		MaxEventAge:    eventAge(st.MaxEventAge),
		MaxAttempts:    st.MaxAttempts,
		MaxRecords:     st.MaxRecords,
		Logger:         log,
	}
}

// eventAge maps THUMBPIPE_MAX_EVENT_AGE, where 0 means "never drop", onto
// miniohook.Config.MaxEventAge, where a negative age does.
func eventAge(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// webhookProblems reports every problem with c: the webhook's own checks,
// each naming the setting it is about, and a token too weak to serve with.
func webhookProblems(c miniohook.Config) error {
	var errs []error
	if err := c.Validate(); err != nil {
		for _, err := range unjoin(err) {
			var fe *miniohook.FieldError
			if errors.As(err, &fe) && fieldSettings[fe.Field] != "" {
				err = fmt.Errorf("%s: %w", fieldSettings[fe.Field], err)
			}
			errs = append(errs, err)
		}
	}
	switch {
	case c.Token == envconfig.ExampleToken:
		errs = append(errs, errors.New("THUMBPIPE_WEBHOOK_TOKEN is the documentation's example token: make one of your own, e.g. openssl rand -hex 32, and give MinIO the same"))
	case c.Token != "" && len(c.Token) < minTokenLength:
		errs = append(errs, fmt.Errorf("THUMBPIPE_WEBHOOK_TOKEN is %d characters; use at least %d, e.g. openssl rand -hex 32", len(c.Token), minTokenLength))
	}
	return errors.Join(errs...)
}

// unjoin returns the errors errors.Join joined into err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// routes returns the handlers of the main port and of the metrics port.
// With a metrics port, /metrics is served there only; with a token, it
// asks for the token wherever it is served; with neither, it is open on the
// main port.
func routes(h http.Handler, token string, ownPort bool) (mainPort, metricsPort http.Handler) {
	guarded := h
	if token != "" {
		guarded = bearer(h, token)
	}
	metricsOnly := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
	mainPort = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/metrics":
			h.ServeHTTP(w, r)
		case ownPort:
			http.NotFound(w, r)
		default:
			guarded.ServeHTTP(w, r)
		}
	})
	return mainPort, metricsOnly
}

// bearer serves h only to requests with "Authorization: Bearer token".
func bearer(h http.Handler, token string) http.Handler {
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="thumbpipe metrics"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// healthcheck GETs /healthz of the server listening at listen.
func healthcheck(ctx context.Context, listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%w: --listen %q: %v", errUsage, listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s", resp.Status)
	}
	return nil
}

// newLogger logs to w as JSON, or as text when format is "text" or "auto"
// and w is a terminal. THUMBPIPE_LOG_FORMAT's parser refuses any other
// format.
func newLogger(w io.Writer, format string) *slog.Logger {
	text := format == envconfig.LogText
	if format == envconfig.LogAuto {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			text = true
		}
	}
	if text {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// doorParts are what the long-running doors, serve and worker, run on.
type doorParts struct {
	cache  *buckets.Cache
	th     *pipeline.Thumbnailer
	events *events.Publisher
}

// startDoor sets the Go heap limit st names, makes the decodes in flight
// share the decode budget (one that does not fit in time fails
// transiently: serve answers 503, the worker's message comes back later),
// and opens the Thumbnailer over a bucket cache and the completion-event
// publisher.
func startDoor(ctx context.Context, st *envconfig.Settings) (*doorParts, error) {
	if st.MemoryLimit > 0 {
		debug.SetMemoryLimit(st.MemoryLimit)
	}
	st.Pipeline.Admit = pipeline.NewMemoryGate(st.Pipeline.MaxDecodeMemory, memoryWait)
	p := &doorParts{cache: &buckets.Cache{}}
	var err error
	if p.th, err = buckets.NewThumbnailer(ctx, st.Pipeline, st.OutputBucket, p.cache); err != nil {
		p.cache.Close()
		return nil, err
	}
	if p.events, err = events.New(st.EventsTopic); err != nil {
		p.cache.Close()
		return nil, err
	}
	return p, nil
}

// Close closes the publisher and the buckets.
func (p *doorParts) Close() error { return errors.Join(p.events.Close(), p.cache.Close()) }
