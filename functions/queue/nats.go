package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS defaults, overridden by the subscription URL's query.
const (
	// DefaultAckWait is how long JetStream waits for an acknowledgement
	// before it delivers a message again; the worker tells it every third
	// of that that it is still working on a message.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver is how often JetStream delivers a message that is
	// never acknowledged.
	DefaultMaxDeliver = 100
	// maxRetryDelay bounds the delay before a failed message comes again.
	maxRetryDelay = 5 * time.Minute
	// pullWait is how long one pull request waits for messages before the
	// client makes another.
	pullWait = 10 * time.Second
)

// NATSConfig is a JetStream subscription: the stream of bucket
// notifications and the durable pull consumer that the workers share.
type NATSConfig struct {
	// URL is the server, nats://[user:password@]host:port.
	URL string
	// Stream and Consumer name the stream and the durable consumer.
	Stream, Consumer string
	// Subject is what the stream stores when the worker creates it, the
	// subject MinIO publishes to (MINIO_NOTIFY_NATS_SUBJECT_<ID>). Default:
	// the stream's name.
	Subject string
	// AckWait, MaxDeliver: see DefaultAckWait and DefaultMaxDeliver.
	AckWait    time.Duration
	MaxDeliver int
	// Prefetch is how many messages the client asks for ahead of the ones
	// being handled: the worker's concurrency. Default 1.
	Prefetch int
}

// ParseNATS reads a subscription URL:
//
//	nats://[user:password@]host:port/STREAM/CONSUMER[?subject=S&ack_wait=30s&max_deliver=100]
func ParseNATS(raw string) (NATSConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return NATSConfig{}, fmt.Errorf("subscription %q: %w", Redact(raw), err)
	}
	if u.Scheme != "nats" || u.Host == "" {
		return NATSConfig{}, fmt.Errorf("subscription %q: want nats://host:port/STREAM/CONSUMER", Redact(raw))
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || !validName(parts[0]) || !validName(parts[1]) {
		return NATSConfig{}, fmt.Errorf("subscription %q: the path must be /STREAM/CONSUMER, two names without '.', '*', '>' or spaces", Redact(raw))
	}
	c := NATSConfig{Stream: parts[0], Consumer: parts[1], AckWait: DefaultAckWait, MaxDeliver: DefaultMaxDeliver}
	q := u.Query()
	var errs []error
	for k, vs := range q {
		v := vs[0]
		switch k {
		case "subject":
			c.Subject = v
		case "ack_wait":
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				errs = append(errs, fmt.Errorf("ack_wait=%q: want a duration of at least 1s", v))
			}
			c.AckWait = d
		case "max_deliver":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("max_deliver=%q: want a positive whole number", v))
			}
			c.MaxDeliver = n
		default:
			errs = append(errs, fmt.Errorf("unknown parameter %q (known: subject, ack_wait, max_deliver)", k))
		}
	}
	if c.Subject == "" {
		c.Subject = c.Stream
	}
	if err := errors.Join(errs...); err != nil {
		return NATSConfig{}, fmt.Errorf("subscription %q: %w", Redact(raw), err)
	}
	u.Path, u.RawQuery = "", ""
	c.URL = u.String()
	return c, nil
}

// validName reports whether s can name a stream or consumer.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n/\\")
}

// Redact returns a URL with its password hidden, for logs and errors.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// natsSource is a JetStream durable pull consumer, read through one
// message iterator that keeps pull requests overlapping.
type natsSource struct {
	nc      *nats.Conn
	it      jetstream.MessagesContext
	ackWait time.Duration
}

// OpenNATS connects to JetStream and returns the consumer of c. It creates
// the stream when it does not exist (storing c.Subject, file storage,
// work-queue retention: an acknowledged event is deleted) and creates or
// updates the durable consumer (explicit acks, c.AckWait, c.MaxDeliver).
// Both calls are idempotent, so every worker makes them at start: the
// first one to start sets up what MinIO publishes into, and a stream that
// exists is left as its operator made it.
func OpenNATS(ctx context.Context, c NATSConfig, name string) (Source, error) {
	nc, err := nats.Connect(c.URL, nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", Redact(c.URL), err)
	}
	src, err := openConsumer(ctx, nc, c)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return src, nil
}

func openConsumer(ctx context.Context, nc *nats.Conn, c NATSConfig) (*natsSource, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := js.Stream(ctx, c.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        c.Stream,
			Description: "bucket notifications for thumbpipe",
			Subjects:    []string{c.Subject},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another worker made it meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("create stream %s for subject %s: %w", c.Stream, c.Subject, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("stream %s: %w", c.Stream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:       c.Consumer,
		Description:   "thumbpipe workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s of stream %s: %w", c.Consumer, c.Stream, err)
	}
	// The client holds at most Prefetch messages it has not handed out, so
	// none waits in a buffer long enough for its ack wait to pass.
	it, err := cons.Messages(jetstream.PullMaxMessages(max(c.Prefetch, 1)), jetstream.PullExpiry(pullWait))
	if err != nil {
		return nil, fmt.Errorf("consume %s of stream %s: %w", c.Consumer, c.Stream, err)
	}
	return &natsSource{nc: nc, it: it, ackWait: c.AckWait}, nil
}

// Receive returns the next message.
func (s *natsSource) Receive(ctx context.Context) (Delivery, error) {
	m, err := s.it.Next(jetstream.NextContext(ctx))
	switch {
	case err == nil:
		return natsDelivery{m}, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("pull from NATS: %w", err)
}

func (s *natsSource) KeepAlive() time.Duration { return s.ackWait / 3 }

// Close flushes the acknowledgements sent and closes the connection.
func (s *natsSource) Close(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	// Messages fetched but never handed out go back at once, for another
	// worker, rather than after their ack wait.
	s.it.Drain()
	for {
		m, err := s.it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			break
		}
		m.Nak()
	}
	err := s.nc.FlushWithContext(ctx)
	s.nc.Close()
	if err != nil {
		return fmt.Errorf("flush NATS: %w", err)
	}
	return nil
}

type natsDelivery struct{ m jetstream.Msg }

func (d natsDelivery) Body() []byte { return d.m.Data() }

// Attributes are the message's headers (MinIO sends none).
func (d natsDelivery) Attributes() map[string]string {
	h := d.m.Headers()
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k := range h {
		out[k] = h.Get(k)
	}
	return out
}

func (d natsDelivery) ID() string {
	md, err := d.m.Metadata()
	if err != nil {
		return d.m.Subject()
	}
	return md.Stream + "/" + strconv.FormatUint(md.Sequence.Stream, 10)
}

func (d natsDelivery) Attempt() int {
	md, err := d.m.Metadata()
	if err != nil {
		return 0
	}
	return int(md.NumDelivered)
}

// Ack waits for the server to confirm, so that a message reported done is
// done.
func (d natsDelivery) Ack() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.m.DoubleAck(ctx)
}

// Retry asks for a redelivery after a delay that doubles with each
// delivery: 1 s, 2 s, 4 s... up to 5 minutes.
func (d natsDelivery) Retry() error { return d.m.NakWithDelay(RetryDelay(d.Attempt())) }

func (d natsDelivery) Release() error { return d.m.Nak() }

func (d natsDelivery) Working() error { return d.m.InProgress() }

// RetryDelay is the delay before the next delivery of a message that has
// failed on its attempt'th delivery: 1 s doubled per attempt, at most 5
// minutes.
func RetryDelay(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}
