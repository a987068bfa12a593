package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/thumbpipe/thumbpipe/functions/miniohook"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
)

// Defaults of serve's settings.
const (
	defaultListen      = ":8080"
	shutdownGrace      = 5 * time.Second
	readHeaderTimeout  = 10 * time.Second
	readTimeout        = 30 * time.Second
	idleTimeout        = 2 * time.Minute
	healthcheckTimeout = 3 * time.Second
)

// envFlag is a string flag that falls back to an environment variable and
// then to a default: a flag that is set wins.
type envFlag struct {
	value  *string
	env    string
	def    string
	getenv func(string) string
}

func newEnvFlag(fs *flag.FlagSet, e env, name, envName, def, usage string) *envFlag {
	d := ""
	if def != "" {
		d = fmt.Sprintf(", default %q", def)
	}
	return &envFlag{value: fs.String(name, "", fmt.Sprintf("%s (env %s%s)", usage, envName, d)), env: envName, def: def, getenv: e.getenv}
}

// Get returns the flag, else the variable, else the default.
func (f *envFlag) Get() string {
	if *f.value != "" {
		return *f.value
	}
	if v := strings.TrimSpace(f.getenv(f.env)); v != "" {
		return v
	}
	return f.def
}

// serveSettings are serve's flags beyond the pipeline's.
type serveSettings struct {
	listen, token, bucketURL, buckets, workers, maxBody, timeout, logFormat *envFlag
	readHeaderTimeout, readTimeout                                          *envFlag
	insecureNoAuth, healthcheck, setup                                      *bool
	minio                                                                   *minioFlags
	pipelineEnv                                                             func(string) string

	// The HTTP server's read timeouts, set by handlerConfig.
	readHeaderDeadline, readDeadline time.Duration
}

func serveFlags(fs *flag.FlagSet, e env) *serveSettings {
	return &serveSettings{
		listen: newEnvFlag(fs, e, "listen", "THUMBPIPE_LISTEN", defaultListen, "address to listen on"),
		token: newEnvFlag(fs, e, "token", "THUMBPIPE_WEBHOOK_TOKEN", "",
			"bearer token MinIO sends (MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>); prefer the variable, flags show in ps"),
		bucketURL: newEnvFlag(fs, e, "bucket-url", "THUMBPIPE_BUCKET_URL", "",
			"blob URL template, {bucket} stands for the event's bucket, e.g. s3://{bucket}?endpoint=http://minio:9000&use_path_style=true&disable_https=true&region=us-east-1"),
		buckets: newEnvFlag(fs, e, "buckets", "THUMBPIPE_BUCKETS", "", "comma-separated bucket names events may name; others are refused"),
		workers: newEnvFlag(fs, e, "workers", "THUMBPIPE_WORKERS", "", "events processed at once; more get 503 (default: the number of CPUs)"),
		maxBody: newEnvFlag(fs, e, "max-body", "THUMBPIPE_MAX_BODY_BYTES", "1MiB", "largest webhook body (bytes, or with KiB/MiB)"),
		timeout: newEnvFlag(fs, e, "process-timeout", "THUMBPIPE_PROCESS_TIMEOUT", miniohook.DefaultProcessTimeout.String(),
			"longest time spent on one webhook request"),
		readHeaderTimeout: newEnvFlag(fs, e, "read-header-timeout", "THUMBPIPE_READ_HEADER_TIMEOUT", readHeaderTimeout.String(),
			"longest time a client may take to send a request's headers"),
		readTimeout: newEnvFlag(fs, e, "read-timeout", "THUMBPIPE_READ_TIMEOUT", readTimeout.String(),
			"longest time a client may take to send a whole request, body included"),
		logFormat: newEnvFlag(fs, e, "log-format", "THUMBPIPE_LOG_FORMAT", "auto", "json, text, or auto (JSON unless stderr is a terminal)"),
		insecureNoAuth: fs.Bool("insecure-no-auth", false,
			"accept webhook requests WITHOUT a token: anyone who reaches the port can make thumbpipe read and write your buckets"),
		healthcheck: fs.Bool("healthcheck", false, "GET /healthz of the server at --listen and exit 0 if it answers 200 (for container healthchecks)"),
		setup:       fs.Bool("minio-setup", false, "before serving, run minio-setup: create the buckets and set their notification"),
		minio:       minioSetupFlags(fs, e),
		pipelineEnv: envconfig.Flags(fs, e.getenv),
	}
}

func runServe(ctx context.Context, args []string, e env) error {
	fs := newFlags("serve", "[flags]", e)
	s := serveFlags(fs, e)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, fs.Args())
	}
	if *s.healthcheck {
		return healthcheck(ctx, s.listen.Get())
	}
	log := newLogger(e.stderr, s.logFormat.Get())
	hcfg, err := s.handlerConfig(log)
	if err != nil {
		return err
	}
	cfg, err := envconfig.Load(s.pipelineEnv)
	if err != nil {
		return err
	}
	cache := &buckets.Cache{}
	defer cache.Close()
	th, err := buckets.NewThumbnailer(ctx, cfg, cache)
	if err != nil {
		return err
	}
	h, err := miniohook.New(hcfg, th, cache)
	if err != nil {
		return err
	}
	hcfg = h.Config()

	ln, err := net.Listen("tcp", s.listen.Get())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	// MinIO is changed only once the webhook's config is known good and its
	// port is ours, so a bad setting leaves MinIO as it was.
	if *s.setup {
		if err := minioSetup(ctx, s.minio, hcfg.BucketURL, hcfg.Buckets, log); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.readHeaderDeadline,
		ReadTimeout:       s.readDeadline,
		WriteTimeout:      hcfg.ProcessTimeout + s.readDeadline,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if hcfg.InsecureNoAuth {
		log.Warn("serving WITHOUT authentication: anyone who reaches this port can make thumbpipe read and write the allowed buckets")
	}
	log.Info("serving", "addr", ln.Addr().String(), "buckets", hcfg.Buckets, "workers", hcfg.Workers,
		"sizes", fmt.Sprint(cfg.Sizes), "bucket_url", hcfg.BucketURL)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), hcfg.ProcessTimeout+shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// handlerConfig reads the webhook's settings, reporting every problem.
func (s *serveSettings) handlerConfig(log *slog.Logger) (miniohook.Config, error) {
	c := miniohook.Config{
		Token:          s.token.Get(),
		InsecureNoAuth: *s.insecureNoAuth,
		BucketURL:      s.bucketURL.Get(),
		Buckets:        envconfig.SplitList(s.buckets.Get()),
		Logger:         log,
	}
	var errs []error
	if c.Token == "" && !c.InsecureNoAuth {
		errs = append(errs, errors.New("THUMBPIPE_WEBHOOK_TOKEN (or --token) is required; set the same token as MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID> on MinIO (or pass --insecure-no-auth)"))
	}
	if c.BucketURL == "" {
		errs = append(errs, errors.New("THUMBPIPE_BUCKET_URL (or --bucket-url) is required, e.g. s3://{bucket}?endpoint=http://minio:9000&use_path_style=true&disable_https=true&region=us-east-1"))
	}
	if len(c.Buckets) == 0 {
		errs = append(errs, errors.New("THUMBPIPE_BUCKETS (or --buckets) is required: the buckets whose events are accepted"))
	}
	if v := s.workers.Get(); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("THUMBPIPE_WORKERS %q is not a positive number", v))
		}
		c.Workers = n
	}
	n, err := envconfig.ParseBytes(s.maxBody.Get())
	if err != nil || n < 1 {
		errs = append(errs, fmt.Errorf("THUMBPIPE_MAX_BODY_BYTES %q is not a positive byte count", s.maxBody.Get()))
	}
	c.MaxBodyBytes = n
	d, err := time.ParseDuration(s.timeout.Get())
	if err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("THUMBPIPE_PROCESS_TIMEOUT %q is not a positive duration (e.g. 2m)", s.timeout.Get()))
	}
	c.ProcessTimeout = d
	for _, t := range []struct {
		flag *envFlag
		dst  *time.Duration
	}{{s.readHeaderTimeout, &s.readHeaderDeadline}, {s.readTimeout, &s.readDeadline}} {
		d, err := time.ParseDuration(t.flag.Get())
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s %q is not a positive duration (e.g. 10s)", t.flag.env, t.flag.Get()))
		}
		*t.dst = d
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, nil
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
// and w is a terminal.
func newLogger(w io.Writer, format string) *slog.Logger {
	text := format == "text"
	if format == "auto" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			text = true
		}
	}
	if text {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
