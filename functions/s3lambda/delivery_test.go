package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// putEvent is an S3 put notification for uploads/d.jpg naming an ETag.
func putEvent(etag string) []byte {
	var ev map[string]any
	json.Unmarshal(payload("ObjectCreated:Put", "photos-eu", "uploads/d.jpg"), &ev)
	ev["Records"].([]any)[0].(map[string]any)["s3"].(map[string]any)["object"].(map[string]any)["eTag"] = etag
	data, _ := json.Marshal(ev)
	return data
}

// TestDeliveries replays the deliveries S3 and Lambda make (twice,
// concurrently, late, out of order, about an object since replaced or
// deleted) and checks that one correct set of thumbnails remains, that of
// the object as it is now, and that no delivery fails.
func TestDeliveries(t *testing.T) {
	const key = "uploads/d.jpg"
	landscape := pixeltest.JPEG(pixeltest.Photo(240, 160, 1), 85) // 200x200 fit: 200x133
	portrait := pixeltest.JPEG(pixeltest.Photo(160, 240, 2), 85)  // 200x200 fit: 133x200
	del := payload("ObjectRemoved:Delete", "photos-eu", key)
	both := []string{"thumbnails/200x200/" + key, "thumbnails/64x64/" + key}

	type step struct {
		put        []byte   // upload this as the key first
		remove     bool     // delete the key first
		deliver    [][]byte // then deliver these payloads, in order...
		concurrent bool     // ...or all at once
	}
	tests := []struct {
		name        string
		steps       []step
		wantKeys    []string // thumbnails at the end
		wantW       int      // width of the 200x200 thumbnail: which object it shows
		wantWritten int      // thumbnails written over all deliveries; -1: not checked
	}{
		{"duplicate, sequential", []step{{put: landscape, deliver: [][]byte{putEvent("e1"), putEvent("e1"), putEvent("e1")}}},
			both, 200, 2},
		{"duplicate, concurrent", []step{{put: landscape, deliver: [][]byte{putEvent("e1"), putEvent("e1"), putEvent("e1"),
			putEvent("e1"), putEvent("e1"), putEvent("e1")}, concurrent: true}},
			both, 200, -1},
		{"duplicate messages in one SQS batch", []step{{put: landscape,
			deliver: [][]byte{sqsPayload(string(putEvent("e1")), string(putEvent("e1")))}}},
			both, 200, -1}, // an SQS batch's answer lists failures only
		{"out of order: the older upload's event arrives last", []step{
			{put: landscape}, {put: portrait, deliver: [][]byte{putEvent("e2"), putEvent("e1")}}},
			both, 133, 2},
		{"stale ETag: the event names an object since replaced", []step{
			{put: landscape, deliver: [][]byte{putEvent("e1")}}, {put: portrait, deliver: [][]byte{putEvent("e1")}}},
			both, 133, 4},
		{"put event for an object already deleted", []step{
			{put: landscape, deliver: [][]byte{putEvent("e1")}}, {remove: true, deliver: [][]byte{del, putEvent("e1"), del}}},
			nil, 0, 2},
		{"old delete event after a new upload of the key", []step{
			{put: landscape, deliver: [][]byte{putEvent("e1")}}, {remove: true}, {put: portrait, deliver: [][]byte{del, putEvent("e2")}}},
			both, 133, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mb := &memBuckets{}
			b := mb.bucket(t, "photos-eu")
			h := newHandler(testConfig(), mb, memURL, nil)
			written := 0
			var mu sync.Mutex
			deliver := func(h *handler, p []byte) {
				out, err, _ := invoke(t, h, p)
				if err != nil {
					t.Errorf("delivery failed: %v", err)
					return
				}
				var resp struct {
					response
					BatchItemFailures []any `json:"batchItemFailures"`
				}
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Errorf("response %s: %v", out, err)
				}
				if len(resp.BatchItemFailures) > 0 {
					t.Errorf("batch item failures: %s", out)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, o := range resp.Records {
					written += o.Written
					if o.Error != "" && !strings.Contains(o.Error, "not found") {
						t.Errorf("record failed: %+v", o)
					}
				}
			}
			for _, s := range tc.steps {
				if s.put != nil {
					put(t, b, key, s.put)
				}
				if s.remove {
					if err := b.Delete(context.Background(), key); err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				for _, p := range s.deliver {
					if s.concurrent {
						// Concurrent deliveries go to separate execution
						// environments, each with its own handler.
						wg.Go(func() { deliver(newHandler(testConfig(), mb, memURL, nil), p) })
					} else {
						deliver(h, p)
					}
				}
				wg.Wait()
			}
			got := thumbnailKeys(t, b)
			if !reflect.DeepEqual(got, tc.wantKeys) {
				t.Fatalf("thumbnails %q, want %q", got, tc.wantKeys)
			}
			if tc.wantKeys != nil {
				img := pipelinetest.CheckVariant(t, b, "thumbnails/200x200/"+key, key, "image/jpeg", 200, 200, false)
				if w := img.Bounds().Dx(); w != tc.wantW {
					t.Errorf("the 200x200 thumbnail is %d wide, want %d: it shows another version of the object", w, tc.wantW)
				}
				pipelinetest.CheckVariant(t, b, "thumbnails/64x64/"+key, key, "image/jpeg", 64, 64, true)
				checkETagMarker(t, b, key)
			}
			if tc.wantWritten >= 0 && written != tc.wantWritten {
				t.Errorf("%d thumbnails written over all deliveries, want %d", written, tc.wantWritten)
			}
		})
	}
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
