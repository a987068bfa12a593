package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/thumbpipe/thumbpipe/functions/queue"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"

	_ "gocloud.dev/pubsub/awssnssqs"
	_ "gocloud.dev/pubsub/gcppubsub"
	_ "gocloud.dev/pubsub/mempubsub"
)

// closeTimeout bounds the flush of the last acknowledgements at shutdown.
const closeTimeout = 10 * time.Second

func runWorker(ctx context.Context, args []string, e env) error {
	fs := newFlags("worker", "[flags]", e)
	getenv := envconfig.Flags(fs, envconfig.Worker, e.getenv)
	check := fs.Bool("healthcheck", false, "GET /healthz of the worker at --listen and exit 0 if it answers 200 (for container healthchecks)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: worker takes no arguments, got %q", errUsage, fs.Args())
	}
	st, err := envconfig.Read(envconfig.Worker, getenv)
	if *check {
		return healthcheck(ctx, st.Listen)
	}
	log := newLogger(e.stderr, st.LogFormat)
	for _, w := range e.warnings {
		log.Warn(w)
	}
	if err := errors.Join(err, workerProblems(st)); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}

	parts, err := startDoor(ctx, &st)
	if err != nil {
		return err
	}
	defer parts.Close()
	th, cache, pub := parts.th, parts.cache, parts.events
	newDoor := func(check func(string) error) (*door.Door, error) {
		return door.New(door.Config{
			Thumbnailer: th,
			Open:        cache,
			BucketURL:   func(name string) string { return buckets.Expand(st.BucketURL, name) },
			Buckets:     st.Buckets,
			CheckBucket: check,
			MaxEventAge: st.MaxEventAge,
			MaxAttempts: st.MaxAttempts,
			Events:      pub,
			Logger:      log,
		})
	}
	s3Door, err := newDoor(door.S3BucketName)
	if err != nil {
		return err
	}
	gcsDoor, err := newDoor(door.GCSBucketName)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", st.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	subURL := withMaxDeliver(st.Subscription, st.MaxAttempts)
	host, _ := os.Hostname()
	concurrency := st.Concurrency
	if concurrency == 0 {
		concurrency = runtime.NumCPU()
	}
	src, err := queue.Open(ctx, subURL, fmt.Sprintf("thumbpipe worker %s/%d", host, os.Getpid()), concurrency)
	if err != nil {
		return err
	}
	w, err := queue.New(queue.Config{Source: src, S3: s3Door, GCS: gcsDoor, Concurrency: concurrency,
		ProcessTimeout: st.ProcessTimeout, MaxRecords: st.MaxRecords, Logger: log})
	if err != nil {
		src.Close(context.Background())
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", w.Metrics().Handler())
	handler, _ := routes(mux, st.MetricsToken, false)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: st.ReadHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if st.MetricsToken == "" {
		log.Warn("/metrics is open: set THUMBPIPE_METRICS_TOKEN to close it")
	}
	cfg := w.Config()
	log.Info("consuming", "subscription", queue.Redact(st.Subscription), "addr", ln.Addr().String(), "concurrency", cfg.Concurrency,
		"buckets", st.Buckets, "sizes", fmt.Sprint(st.Pipeline.Sizes), "bucket_url", st.BucketURL)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- w.Run(runCtx) }()
	var errs []error
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing messages in flight")
	case err := <-served:
		errs = append(errs, fmt.Errorf("serve metrics: %w", err))
	}
	stop()
	if err := <-ran; err != nil {
		errs = append(errs, err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := src.Close(cctx); err != nil {
		errs = append(errs, err)
	}
	if err := srv.Shutdown(cctx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// workerProblems reports the settings the worker cannot run without.
func workerProblems(st envconfig.Settings) error {
	var errs []error
	if st.Subscription == "" {
		errs = append(errs, errors.New("THUMBPIPE_SUBSCRIPTION (--subscription) is required, e.g. nats://nats:4222/THUMBPIPE/workers?subject=minio.events"))
	}
	if !strings.Contains(st.BucketURL, "{bucket}") {
		errs = append(errs, fmt.Errorf("THUMBPIPE_BUCKET_URL (--bucket-url) %q has no {bucket}, e.g. s3://{bucket}?endpoint=http://minio:9000&use_path_style=true&disable_https=true&region=us-east-1", st.BucketURL))
	}
	if len(st.Buckets) == 0 {
		errs = append(errs, errors.New("THUMBPIPE_BUCKETS (--buckets: the buckets whose events are accepted) is required"))
	}
	return errors.Join(errs...)
}

// withMaxDeliver adds THUMBPIPE_MAX_ATTEMPTS to a NATS subscription URL
// that does not set max_deliver itself: the consumer the worker creates
// delivers a message at most that often.
func withMaxDeliver(sub string, attempts int) string {
	if !strings.HasPrefix(sub, "nats://") || attempts == 0 || strings.Contains(sub, "max_deliver=") {
		return sub
	}
	sep := "?"
	if strings.Contains(sub, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%smax_deliver=%d", sub, sep, attempts)
}
