// Package queue is the queue door: a worker that consumes a durable
// subscription of bucket notifications — NATS JetStream (MinIO publishes
// there natively), Amazon SQS, Google Cloud Pub/Sub, or an in-memory topic
// for tests — and passes every event through the door core, so that many
// workers on many machines share the load the MinIO webhook carries alone.
//
// # Subscriptions
//
//	nats://HOST:4222/STREAM/CONSUMER?subject=S&ack_wait=30s   a JetStream durable pull consumer
//	awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE?raw=true  an SQS queue (gocloud.dev/pubsub/awssnssqs)
//	gcppubsub://projects/P/subscriptions/S                    a Pub/Sub subscription (gocloud.dev/pubsub/gcppubsub)
//	mem://TOPIC                                               an in-memory topic of this process (tests)
//
// See [OpenNATS] for what the worker creates in JetStream.
//
// # Messages
//
// A message is either S3-style Records (what MinIO publishes to every
// notification target, and what S3 sends to SQS) or a Cloud Storage
// notification (Pub/Sub attributes eventType, bucketId, objectId); see
// [Decode].
//
// # Acknowledgement
//
// A message whose events are all done, up to date, skipped, refused,
// dropped or permanently failed is acknowledged: delivering it again would
// change nothing. A message with any transient failure is not: it goes back
// to the engine, which delivers it again after its own back-off (JetStream:
// a delay that doubles with each delivery; SQS and Pub/Sub: the visibility
// timeout or ack deadline) and, after its own maximum, gives it to its
// dead-letter mechanism. A message that is not a bucket notification is
// logged and acknowledged.
//
// # Shutdown
//
// When Run's context ends, the worker stops receiving, finishes what is in
// flight and acknowledges it, hands back (without acknowledging) any
// message it received but had not started, and returns.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/doormetrics"
)

// Delivery is one message received from a subscription.
type Delivery interface {
	Body() []byte
	Attributes() map[string]string
	// ID identifies the message for logs (a stream sequence, a message ID).
	ID() string
	// Attempt counts this message's deliveries, 1 the first; 0 when the
	// engine does not say.
	Attempt() int
	// Ack acknowledges the message: it is done.
	Ack() error
	// Retry hands the message back to be delivered again after the
	// engine's back-off.
	Retry() error
	// Release hands back a message the worker did not start on, to be
	// delivered again as soon as possible.
	Release() error
	// Working tells the engine the message is still being worked on, so
	// that it is not delivered to another worker meanwhile.
	Working() error
}

// Source is a subscription.
type Source interface {
	// Receive waits for the next message. It returns ctx's error once ctx
	// ends.
	Receive(ctx context.Context) (Delivery, error)
	// KeepAlive is how often Working is called while a message is being
	// handled; 0: never.
	KeepAlive() time.Duration
	// Close flushes acknowledgements and disconnects.
	Close(ctx context.Context) error
}

// Defaults of [Config].
const (
	DefaultProcessTimeout = 2 * time.Minute
	DefaultMaxRecords     = 100
)

// Config configures a [Worker].
type Config struct {
	// Source is the subscription. Required.
	Source Source
	// S3 and GCS are the doors S3-style records and Cloud Storage
	// notifications go through, each with its bucket naming rules,
	// allow-list and limits. At least one is required; a message of a
	// kind without a door is refused.
	S3, GCS *door.Door
	// Concurrency bounds the messages handled at once. Default
	// runtime.NumCPU().
	Concurrency int
	// ProcessTimeout bounds the work on one message. Default
	// DefaultProcessTimeout.
	ProcessTimeout time.Duration
	// MaxRecords bounds the records of one message. Default
	// DefaultMaxRecords.
	MaxRecords int
	// Metrics receives the events' outcomes; nil: a set of its own.
	Metrics *doormetrics.Metrics
	// Logger receives a line per message received and the door's line per
	// event. Default slog.Default().
	Logger *slog.Logger
}

// Worker consumes a subscription. Create it with [New] and call Run.
type Worker struct {
	cfg     Config
	log     *slog.Logger
	metrics *doormetrics.Metrics
}

// New returns a worker for cfg with its defaults filled in.
func New(cfg Config) (*Worker, error) {
	var errs []error
	if cfg.Source == nil {
		errs = append(errs, errors.New("a subscription is required"))
	}
	if cfg.S3 == nil && cfg.GCS == nil {
		errs = append(errs, errors.New("a door is required"))
	}
	if cfg.Concurrency < 0 || cfg.ProcessTimeout < 0 || cfg.MaxRecords < 0 {
		errs = append(errs, errors.New("concurrency, process timeout and max records must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = runtime.NumCPU()
	}
	if cfg.ProcessTimeout == 0 {
		cfg.ProcessTimeout = DefaultProcessTimeout
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics}, nil
}

// NewMetrics returns the doors' metrics with the worker's in-flight gauge,
// thumbpipe_worker_messages_in_flight.
func NewMetrics() *doormetrics.Metrics {
	return doormetrics.New("thumbpipe_worker_messages_in_flight", "Messages being handled.")
}

// Config returns the worker's configuration, defaults filled in.
func (w *Worker) Config() Config { return w.cfg }

// Metrics returns the worker's metrics.
func (w *Worker) Metrics() *doormetrics.Metrics { return w.metrics }

// receiveBackoff bounds the pause after a failed receive.
const receiveBackoff = 5 * time.Second

// Run receives and handles messages, Concurrency at a time, until ctx
// ends; then it finishes what is in flight and returns nil. It does not
// close the source.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	return nil
}

// loop is one of Run's Concurrency receivers: it handles one message at a
// time.
func (w *Worker) loop(ctx context.Context) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		d, err := w.cfg.Source.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("cannot receive; trying again", "error", err, "in", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, receiveBackoff)
			continue
		}
		pause = 100 * time.Millisecond
		if ctx.Err() != nil {
			// Received as the worker was told to stop: someone else's now.
			if err := d.Release(); err != nil {
				w.log.Warn("cannot hand back a message", "message", d.ID(), "error", err)
			}
			return
		}
		w.Handle(context.WithoutCancel(ctx), d)
	}
}

// Result is what Handle did with one message.
type Result struct {
	// Outcomes are the door's, one per event of the message.
	Outcomes []door.Outcome
	// Acked reports whether the message was acknowledged; Retried whether
	// it was handed back for a retry.
	Acked, Retried bool
	// Err says why a message was not a bucket notification.
	Err error
}

// Handle handles one message: decodes it, passes each event through its
// door, then acknowledges it or hands it back for a retry.
func (w *Worker) Handle(ctx context.Context, d Delivery) Result {
	w.metrics.InFlight.Inc()
	defer w.metrics.InFlight.Dec()
	log := w.log.With("message", d.ID())
	log.Info("received", "attempt", d.Attempt())
	ctx, cancel := context.WithTimeout(ctx, w.cfg.ProcessTimeout)
	defer cancel()
	if every := w.cfg.Source.KeepAlive(); every > 0 {
		stop := w.keepAlive(d, every, log)
		defer stop()
	}

	var res Result
	recs, err := Decode(d.Body(), d.Attributes(), w.cfg.MaxRecords)
	if err != nil {
		w.metrics.Count(doormetrics.BadRequest)
		log.Error("not a bucket notification; acknowledged", "outcome", doormetrics.BadRequest, "error", door.Clip(err.Error(), 2048))
		res.Err = err
		res.Acked = w.ack(d, log)
		return res
	}
	for _, r := range recs {
		dr := w.cfg.S3
		if r.Kind == GCS {
			dr = w.cfg.GCS
		}
		var o door.Outcome
		switch {
		case dr == nil:
			o = w.anyDoor().With("message", d.ID()).Refuse(ctx, r.Event, fmt.Errorf("%w: this worker takes no %s notifications", door.ErrRefused, kindName(r.Kind)))
		case r.Err != nil:
			o = dr.With("message", d.ID()).Refuse(ctx, r.Event, r.Err)
		default:
			o = dr.With("message", d.ID()).Handle(ctx, r.Event)
		}
		w.metrics.Observe(o)
		res.Outcomes = append(res.Outcomes, o)
		res.Retried = res.Retried || o.Retry()
	}
	if res.Retried {
		if err := d.Retry(); err != nil {
			log.Warn("cannot hand back a message for a retry; the engine redelivers it after its timeout", "error", err)
		}
		return res
	}
	res.Acked = w.ack(d, log)
	return res
}

func (w *Worker) ack(d Delivery, log *slog.Logger) bool {
	if err := d.Ack(); err != nil {
		// The engine delivers it again; the pipeline finds it done.
		log.Warn("cannot acknowledge a message; it will come again", "error", err)
		return false
	}
	return true
}

// keepAlive calls d.Working every period until the returned stop is
// called.
func (w *Worker) keepAlive(d Delivery, every time.Duration, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := d.Working(); err != nil {
					log.Warn("cannot extend a message's deadline", "error", err)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (w *Worker) anyDoor() *door.Door {
	if w.cfg.S3 != nil {
		return w.cfg.S3
	}
	return w.cfg.GCS
}

func kindName(k Kind) string {
	if k == GCS {
		return "Cloud Storage"
	}
	return "S3-style"
}
