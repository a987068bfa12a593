package gcsfunc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/door/doortest"
)

// gcsDoor delivers the suite's events as Eventarc does, through the
// CloudEvent function, and reads what it did from its log line.
type gcsDoor struct{ h *handler }

func (d gcsDoor) Deliver(t *testing.T, dl doortest.Delivery) doortest.Answer {
	typ := TypeFinalized
	if dl.Action == door.Removed {
		typ = TypeDeleted
	}
	e := newEvent(t, typ, "thumbpipe-demo", dl.Key, map[string]any{
		"bucket": "thumbpipe-demo", "name": dl.Key, "generation": map[string]string{"v1": "1", "v2": "2"}[dl.Version],
		"contentType": "image/jpeg", "timeCreated": time.Now().UTC().Format(time.RFC3339Nano),
	})
	var logs bytes.Buffer
	h := *d.h // the same function instance, logging this delivery apart
	h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	err := h.handle(context.Background(), e)
	a := doortest.Answer{Retry: err != nil}
	sc := bufio.NewScanner(&logs)
	for sc.Scan() {
		var line struct {
			Outcome, Error string
			Written        int
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %s: %v", sc.Text(), err)
		}
		a.Written += line.Written
		if line.Outcome == string(door.FailedPermanent) {
			a.Failed = line.Error
		}
	}
	return a
}

// TestDeliveries runs the delivery conformance suite against the function.
func TestDeliveries(t *testing.T) {
	doortest.Run(t, func(t *testing.T, src *blob.Bucket) doortest.Door {
		open := buckets.OpenerFunc(func(_ context.Context, url string) (*blob.Bucket, error) {
			if url != "gs://thumbpipe-demo" {
				return nil, fmt.Errorf("unexpected bucket %s", url)
			}
			return src, nil
		})
		return gcsDoor{newHandler(settings{cfg: doortest.Config(), maxAge: DefaultMaxEventAge}, open, slog.Default())}
	})
}
