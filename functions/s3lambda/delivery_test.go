package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/door/doortest"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// putEvent is an S3 put notification for uploads/d.jpg naming an ETag.
func putEvent(etag string) []byte {
	return withETag(payload("ObjectCreated:Put", "photos-eu", "uploads/d.jpg"), etag)
}

// withETag sets the eTag of a one-record notification.
func withETag(p []byte, etag string) []byte {
	var ev map[string]any
	json.Unmarshal(p, &ev)
	ev["Records"].([]any)[0].(map[string]any)["s3"].(map[string]any)["object"].(map[string]any)["eTag"] = etag
	data, _ := json.Marshal(ev)
	return data
}

// lambdaDoor delivers the suite's events as direct S3 notifications through
// the runtime's handler, each to a handler of its own: deliveries, and
// concurrent ones above all, go to separate execution environments.
type lambdaDoor struct{ mb *memBuckets }

func (d lambdaDoor) Deliver(t *testing.T, dl doortest.Delivery) doortest.Answer {
	name := "ObjectCreated:Put"
	if dl.Action == door.Removed {
		name = "ObjectRemoved:Delete"
	}
	h := newHandler(doortest.Config(), d.mb, memURL, nil)
	out, err, _ := invoke(t, h, withETag(payload(name, "photos-eu", url.QueryEscape(dl.Key)), dl.Version))
	var a doortest.Answer
	var te *TransientError
	switch {
	case errors.As(err, &te):
		a.Retry = true
		return a
	case err != nil:
		t.Fatalf("delivery: %v", err)
	}
	var resp response
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	for _, o := range resp.Records {
		a.Written += o.Written
		if o.Error != "" {
			a.Failed = o.Error
		}
	}
	return a
}

// TestDeliveries runs the delivery conformance suite against the handler.
func TestDeliveries(t *testing.T) {
	doortest.Run(t, func(t *testing.T, src *blob.Bucket) doortest.Door {
		mb := &memBuckets{m: map[string]*blob.Bucket{memURL("photos-eu"): src}}
		return lambdaDoor{mb}
	})
}

// TestDuplicatesInOneSQSBatch: the same notification twice in one SQS
// batch makes one set of thumbnails and fails no message.
func TestDuplicatesInOneSQSBatch(t *testing.T) {
	mb := &memBuckets{}
	b := mb.bucket(t, "photos-eu")
	put(t, b, "uploads/d.jpg", pixeltest.JPEG(pixeltest.Photo(240, 160, 1), 85))
	h := newHandler(testConfig(), mb, memURL, nil)
	out, err, _ := invoke(t, h, sqsPayload(string(putEvent("e1")), string(putEvent("e1"))))
	if err != nil {
		t.Fatalf("delivery failed: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if len(resp.BatchItemFailures) > 0 {
		t.Errorf("batch item failures: %s", out)
	}
	if got, want := thumbnailKeys(t, b), []string{"thumbnails/200x200/uploads/d.jpg", "thumbnails/64x64/uploads/d.jpg", "thumbnails/manifests/uploads/d.jpg.json"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("thumbnails %q, want %q", got, want)
	}
	img := pipelinetest.CheckVariant(t, b, "thumbnails/200x200/uploads/d.jpg", "uploads/d.jpg", "image/jpeg", 200, 200, false)
	if w := img.Bounds().Dx(); w != 200 {
		t.Errorf("the 200x200 thumbnail is %d wide, want 200", w)
	}
	pipelinetest.CheckVariant(t, b, "thumbnails/64x64/uploads/d.jpg", "uploads/d.jpg", "image/jpeg", 64, 64, true)
	checkETagMarker(t, b, "uploads/d.jpg")
}

// thumbnailKeys lists the keys under thumbnails/, sorted; nil if none.
func thumbnailKeys(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var out []string
	for _, k := range keys(t, b) {
		if strings.HasPrefix(k, "thumbnails/") {
			out = append(out, k)
		}
	}
	return out
}

// checkETagMarker checks that every thumbnail of key names key's current
// ETag.
func checkETagMarker(t *testing.T, b *blob.Bucket, key string) {
	t.Helper()
	ctx := context.Background()
	src, err := b.Attributes(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range thumbnailKeys(t, b) {
		a, err := b.Attributes(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if e := a.Metadata["thumbpipe-source-etag"]; e == "" || !strings.Contains(src.ETag, e) {
			t.Errorf("%s names source ETag %q, the source's is %s", k, e, src.ETag)
		}
	}
}
