package queue

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gocloud.dev/pubsub"
)

// Open opens a subscription URL: nats:// through [OpenNATS], anything else
// through gocloud.dev/pubsub (awssqs://, gcppubsub://, mem://), whose
// drivers the program imports. name names the connection where the engine
// shows one; concurrency is how many messages the caller handles at once.
func Open(ctx context.Context, rawURL, name string, concurrency int) (Source, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("subscription %q: want a URL such as nats://host:4222/STREAM/CONSUMER, awssqs://..., gcppubsub://... or mem://topic", Redact(rawURL))
	}
	if scheme == "nats" {
		c, err := ParseNATS(rawURL)
		if err != nil {
			return nil, err
		}
		c.Prefetch = concurrency
		return OpenNATS(ctx, c, name)
	}
	sub, err := pubsub.OpenSubscription(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("subscription %q: %w", Redact(rawURL), err)
	}
	return &PubSub{Sub: sub}, nil
}

// PubSub is a gocloud.dev/pubsub subscription as a [Source]: SQS, Pub/Sub,
// or mempubsub in tests. A message to retry is left unacknowledged: the
// engine delivers it again once its visibility timeout or ack deadline has
// passed, and moves it to its dead-letter queue or topic after the
// subscription's maximum.
type PubSub struct {
	Sub *pubsub.Subscription
}

// Receive returns the next message.
func (p *PubSub) Receive(ctx context.Context) (Delivery, error) {
	m, err := p.Sub.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return pubsubDelivery{m}, nil
}

// KeepAlive is 0: gocloud does not extend a message's deadline.
func (p *PubSub) KeepAlive() time.Duration { return 0 }

// Close flushes the acknowledgements and shuts the subscription down.
func (p *PubSub) Close(ctx context.Context) error { return p.Sub.Shutdown(ctx) }

type pubsubDelivery struct{ m *pubsub.Message }

func (d pubsubDelivery) Body() []byte                  { return d.m.Body }
func (d pubsubDelivery) Attributes() map[string]string { return d.m.Metadata }
func (d pubsubDelivery) ID() string                    { return d.m.LoggableID }
func (d pubsubDelivery) Attempt() int                  { return 0 }
func (d pubsubDelivery) Ack() error                    { d.m.Ack(); return nil }
func (d pubsubDelivery) Retry() error                  { return nil }
func (d pubsubDelivery) Working() error                { return nil }

// Release nacks the message where the engine can, for a redelivery now;
// elsewhere it comes again after its deadline.
func (d pubsubDelivery) Release() error {
	if d.m.Nackable() {
		d.m.Nack()
	}
	return nil
}
