package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/thumbpipe/thumbpipe/pipeline"
)

// addEventFixtures seeds f with every captured payload in testdata/events.
func addEventFixtures(f *testing.F, add func(data []byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "events", "*.json"))
	if err != nil || len(files) < 10 {
		f.Fatalf("event fixtures: %d files, %v", len(files), err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(data)
	}
}

// sqsPayload wraps bodies in an SQS batch, one message each.
func sqsPayload(bodies ...string) []byte {
	ev := events.SQSEvent{}
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m" + string(rune('0'+i%10)), Body: b,
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:thumbpipe-uploads"})
	}
	data, _ := json.Marshal(ev)
	return data
}

// checkInvocation runs payload through the handler as the Lambda runtime
// does, on empty buckets, and checks what must hold for any payload: no
// panic; an error only for an SQS batch that does not decode or is over
// the cap (never a transient one: no object exists, so every record fails
// permanently or is skipped); no batch item failures; an outcome's key, when the record
// was accepted, passes pipeline.CheckKey; and nothing is ever written.
func checkInvocation(t *testing.T, payload []byte) {
	mb := &memBuckets{}
	h := newHandler(testConfig(), mb, memURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		var te *TransientError
		if errors.As(err, &te) || !strings.Contains(err.Error(), "decode sqs batch") && !strings.Contains(err.Error(), "one invocation handles") {
			t.Fatalf("payload %q: error %v", payload, err)
		}
		return
	}
	var resp struct {
		response
		BatchItemFailures []events.SQSBatchItemFailure `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if len(resp.BatchItemFailures) > 0 {
		t.Fatalf("payload %q: batch item failures %+v on empty buckets", payload, resp.BatchItemFailures)
	}
	for _, o := range resp.Records {
		if o.Error == "" {
			if err := pipeline.CheckKey(o.Key); err != nil {
				t.Fatalf("payload %q: record accepted with key %q: %v", payload, o.Key, err)
			}
		}
		if o.Written != 0 || len(o.Removed) != 0 {
			t.Fatalf("payload %q: outcome %+v on empty buckets", payload, o)
		}
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for url, b := range mb.m {
		it := b.List(nil)
		if obj, err := it.Next(context.Background()); err == nil {
			t.Fatalf("payload %q wrote %s to %s", payload, obj.Key, url)
		}
	}
}

// FuzzHandle feeds arbitrary payloads to the function: S3 notifications,
// SQS batches of them, test events and anything else.
func FuzzHandle(f *testing.F) {
	addEventFixtures(f, func(data []byte) { f.Add(data) })
	f.Add(payload("ObjectCreated:Put", "photos-eu", "uploads%2F..%2F..%2Fetc%2Fpasswd"))
	f.Add(sqsPayload(`{"Event":"s3:TestEvent"}`, `not json`, `{"Records":[{"eventSource":"aws:s3"}]}`))
	f.Add([]byte(`{"Records":[{"eventSource":"aws:sqs","body":7}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // the runtime refuses it before the handler runs
		}
		checkInvocation(t, data)
	})
}

// FuzzSQSMessage fuzzes the body of an SQS message (an S3 notification
// carried as a string), which the function decodes a second time.
func FuzzSQSMessage(f *testing.F) {
	addEventFixtures(f, func(data []byte) {
		var ev events.SQSEvent
		if json.Unmarshal(data, &ev) == nil {
			for _, m := range ev.Records {
				f.Add(m.Body)
			}
		}
		f.Add(string(data))
	})
	f.Add(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"photos-eu"},"object":{"key":"a%00b"}}}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		checkInvocation(t, sqsPayload(body, body))
	})
}
