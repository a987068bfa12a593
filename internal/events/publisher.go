package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/mempubsub" // mem://, for tests and local runs
)

// Publisher publishes events to one topic. It connects on the first
// Publish, so that a program's start does no I/O, and is safe for
// concurrent use.
type Publisher struct {
	url *url.URL

	mu     sync.Mutex
	sender sender // nil until the first Publish
	closed bool
}

// sender is an open topic.
type sender interface {
	send(ctx context.Context, ev Event, body []byte) error
	close() error
}

// New returns a Publisher to the topic at rawURL, or nil when rawURL is
// empty (events are off). It checks the URL and does no I/O.
//
// Topic URLs are NATS JetStream's nats://[user:password@]host:port/SUBJECT
// (tls:// for TLS), published with acknowledgements (a stream must capture
// SUBJECT), and those of the gocloud.dev/pubsub drivers the program
// imports: mem://NAME always; awssns:///arn:aws:sns:REGION:ACCOUNT:NAME?region=REGION
// and awssqs://sqs.REGION.amazonaws.com/ACCOUNT/NAME?region=REGION with
// gocloud.dev/pubsub/awssnssqs; gcppubsub://projects/PROJECT/topics/NAME
// with gocloud.dev/pubsub/gcppubsub. Each program imports the drivers of
// its cloud, so that none carries every cloud's SDK.
func New(rawURL string) (*Publisher, error) {
	if rawURL == "" {
		return nil, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("events topic: %w", err)
	}
	switch u.Scheme {
	case "nats", "tls":
		if u.Host == "" || subject(u) == "" {
			return nil, fmt.Errorf("events topic %q: want nats://host:port/SUBJECT", redacted(u))
		}
	default:
		if !pubsub.DefaultURLMux().ValidTopicScheme(u.Scheme) {
			return nil, fmt.Errorf("events topic %q: scheme %q is not one of %s", redacted(u), u.Scheme, strings.Join(Schemes(), ", "))
		}
	}
	return &Publisher{url: u}, nil
}

// Schemes lists the topic URL schemes [New] accepts in this program.
func Schemes() []string {
	s := append([]string{"nats", "tls"}, pubsub.DefaultURLMux().TopicSchemes()...)
	slices.Sort(s)
	return s
}

// String returns the topic URL without its password.
func (p *Publisher) String() string { return redacted(p.url) }

// Publish publishes ev and returns once the topic has accepted it (for
// NATS, once JetStream acknowledged it). A nil Publisher publishes nothing.
func (p *Publisher) Publish(ctx context.Context, ev Event) error {
	if p == nil {
		return nil
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	s, err := p.open(ctx)
	if err != nil {
		return err
	}
	if err := s.send(ctx, ev, body); err != nil {
		return fmt.Errorf("publish %s to %s: %w", ev.Type, p, err)
	}
	return nil
}

// open connects on first use.
func (p *Publisher) open(ctx context.Context) (sender, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("events: publisher closed")
	}
	if p.sender != nil {
		return p.sender, nil
	}
	var (
		s   sender
		err error
	)
	switch p.url.Scheme {
	case "nats", "tls":
		s, err = openNATS(p.url)
	default:
		var t *pubsub.Topic
		if t, err = pubsub.OpenTopic(ctx, p.url.String()); err == nil {
			s = topic{t}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open events topic %s: %w", p, err)
	}
	p.sender = s
	return s, nil
}

// Close flushes and closes the topic. A nil Publisher closes nothing.
func (p *Publisher) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.sender == nil {
		return nil
	}
	err := p.sender.close()
	p.sender = nil
	return err
}

// topic is a gocloud.dev/pubsub topic.
type topic struct{ t *pubsub.Topic }

func (t topic) send(ctx context.Context, ev Event, body []byte) error {
	return t.t.Send(ctx, &pubsub.Message{Body: body, Metadata: map[string]string{"content-type": ContentType}})
}

func (t topic) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return t.t.Shutdown(ctx)
}

// jetStream publishes to a NATS JetStream subject.
type jetStream struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
}

func openNATS(u *url.URL) (sender, error) {
	server := *u
	server.Path, server.RawPath, server.RawQuery, server.Fragment = "", "", "", ""
	nc, err := nats.Connect(server.String(), nats.Name("thumbpipe"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &jetStream{nc: nc, js: js, subject: subject(u)}, nil
}

// send publishes with the event's id as the JetStream message id, so that
// the stream drops a duplicate within its duplicate window.
func (j *jetStream) send(ctx context.Context, ev Event, body []byte) error {
	msg := nats.NewMsg(j.subject)
	msg.Data = body
	msg.Header.Set("Content-Type", ContentType)
	_, err := j.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID))
	return err
}

func (j *jetStream) close() error {
	return j.nc.Drain()
}

// subject is the NATS subject of a topic URL: its path without the
// leading slash.
func subject(u *url.URL) string { return strings.TrimPrefix(u.Path, "/") }

// redacted is u without its password.
func redacted(u *url.URL) string { return u.Redacted() }
