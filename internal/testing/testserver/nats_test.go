package testserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
)

// TestNATSJetStreamSurvivesRestart publishes to a stream, restarts the
// server and reads the message back: the store is on disk and JetStream is
// on.
func TestNATSJetStreamSurvivesRestart(t *testing.T) {
	srv := testserver.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.one", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	nc.Close()

	srv.Stop()
	srv.Start()

	nc, err = nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, "T", jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(msg.Data()); got != "hello" || msg.Subject() != "t.one" {
		t.Fatalf("got %q on %s, want hello on t.one", got, msg.Subject())
	}
	if err := msg.Ack(); err != nil {
		t.Fatal(err)
	}
}
