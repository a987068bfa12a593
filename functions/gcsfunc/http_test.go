package gcsfunc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

var (
	serveOnce sync.Once
	serveURL  string
)

// startFunction serves the registered function the way the Go runtime does
// (FUNCTION_TARGET names it, funcframework serves it at /) on a loopback
// port, once per test binary: the framework's server cannot be stopped.
func startFunction(t *testing.T) string {
	t.Helper()
	serveOnce.Do(func() {
		t.Setenv("FUNCTION_TARGET", EntryPoint)
		port := strconv.Itoa(testserver.FreePort(t))
		errc := make(chan error, 1)
		go func() { errc <- funcframework.StartHostPort("127.0.0.1", port) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			select {
			case err := <-errc:
				t.Fatalf("funcframework: %v", err)
			default:
			}
			if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("funcframework did not listen within 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		serveURL = "http://127.0.0.1:" + port + "/"
	})
	if serveURL == "" {
		t.Fatal("function server failed to start earlier")
	}
	return serveURL
}

// objectResource fetches an object's JSON resource from the emulator's
// JSON API: the same document Cloud Storage puts in an event's data.
func objectResource(t *testing.T, g *testserver.GCS, bucket, key string) json.RawMessage {
	t.Helper()
	resp, err := http.Get(g.Endpoint() + "/storage/v1/b/" + bucket + "/o/" + url.PathEscape(key))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get object %s: %s: %s", key, resp.Status, body)
	}
	return body
}

// post delivers one CloudEvent and returns the status and body. Binary mode
// puts the attributes in ce-* headers and the data in the body; structured
// mode sends one application/cloudevents+json document.
func post(t *testing.T, fnURL string, structured bool, typ, bucket, key string, data json.RawMessage) (int, string) {
	t.Helper()
	id := fmt.Sprintf("%d", time.Now().UnixNano())
	attrs := map[string]string{
		"specversion": "1.0",
		"id":          id,
		"source":      "//storage.googleapis.com/projects/_/buckets/" + bucket,
		"type":        typ,
		"subject":     "objects/" + key,
		"time":        time.Now().UTC().Format(time.RFC3339Nano),
	}
	var req *http.Request
	var err error
	if structured {
		doc := map[string]any{"datacontenttype": "application/json", "data": data}
		for k, v := range attrs {
			doc[k] = v
		}
		body, _ := json.Marshal(doc)
		req, err = http.NewRequest(http.MethodPost, fnURL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/cloudevents+json")
	} else {
		req, err = http.NewRequest(http.MethodPost, fnURL, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range attrs {
			req.Header.Set("ce-"+k, v)
		}
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestOverHTTP calls the registered function as Eventarc does, over HTTP,
// with the real GCS emulator behind gs:// buckets.
func TestOverHTTP(t *testing.T) {
	g := testserver.StartGCS(t)
	g.SetEmulatorEnv(t)
	const bucket = "thumbpipe-http"
	g.CreateBucket(t, bucket)
	b := g.OpenBucket(t, bucket)
	fn := startFunction(t)
	ctx := context.Background()

	put := func(key string, data []byte, contentType string) {
		t.Helper()
		if err := b.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: contentType, CacheControl: "public, max-age=300"}); err != nil {
			t.Fatal(err)
		}
	}
	const jpegKey, pngKey = "uploads/cat photo+1.jpg", "uploads/logo.png"
	put(jpegKey, pixeltest.JPEG(pixeltest.Photo(640, 480, 5), 90), "image/jpeg")
	put(pngKey, pixeltest.PNG(pixeltest.Photo(300, 600, 6)), "image/png")

	// Default configuration: one 200x200 box, thumbnails/ prefix.
	t.Run("binary mode finalized", func(t *testing.T) {
		code, body := post(t, fn, false, TypeFinalized, bucket, jpegKey, objectResource(t, g, bucket, jpegKey))
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		pipelinetest.CheckVariant(t, b, "thumbnails/200x200/"+jpegKey, jpegKey, "image/jpeg", 200, 150, true)
		a, err := b.Attributes(ctx, "thumbnails/200x200/"+jpegKey)
		if err != nil {
			t.Fatal(err)
		}
		if a.CacheControl != "public, max-age=300" {
			t.Errorf("Cache-Control %q, want the source's", a.CacheControl)
		}
	})
	t.Run("structured mode finalized", func(t *testing.T) {
		code, body := post(t, fn, true, TypeFinalized, bucket, pngKey, objectResource(t, g, bucket, pngKey))
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		pipelinetest.CheckVariant(t, b, "thumbnails/200x200/"+pngKey, pngKey, "image/png", 100, 200, true)
	})
	t.Run("thumbnail's own event", func(t *testing.T) {
		key := "thumbnails/200x200/" + jpegKey
		before, err := b.Attributes(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		res := objectResource(t, g, bucket, key)
		if !bytes.Contains(res, []byte(pipeline.MetaSource)) {
			t.Fatalf("the emulator's resource lacks the marker: %s", res)
		}
		code, body := post(t, fn, false, TypeFinalized, bucket, key, res)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		after, err := b.Attributes(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if after.ETag != before.ETag {
			t.Error("the thumbnail was rewritten")
		}
		if ok, err := b.Exists(ctx, "thumbnails/200x200/"+key); err != nil {
			t.Fatal(err)
		} else if ok {
			t.Error("a thumbnail of a thumbnail was made")
		}
	})
	t.Run("malformed data is acknowledged", func(t *testing.T) {
		code, body := post(t, fn, false, TypeFinalized, bucket, "x", json.RawMessage(`{"kind":"storage#object"}`))
		if code != http.StatusOK {
			t.Fatalf("status %d, want 200 (acknowledged): %s", code, body)
		}
	})
	t.Run("not a CloudEvent", func(t *testing.T) {
		// No ce-id: neither a CloudEvent nor a legacy background event.
		req, err := http.NewRequest(http.MethodPost, fn, bytes.NewReader([]byte(`{"bucket":"b","name":"k"}`)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("ce-specversion", "1.0")
		req.Header.Set("ce-type", TypeFinalized)
		code, body := do(t, req)
		if code < 400 || code > 499 {
			t.Fatalf("status %d, want a 4xx: %s", code, body)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		data := objectResource(t, g, bucket, jpegKey)
		if err := b.Delete(ctx, jpegKey); err != nil {
			t.Fatal(err)
		}
		code, body := post(t, fn, true, TypeDeleted, bucket, jpegKey, data)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		if ok, err := b.Exists(ctx, "thumbnails/200x200/"+jpegKey); err != nil {
			t.Fatal(err)
		} else if ok {
			t.Error("thumbnail survived its source's deletion")
		}
	})
	t.Run("storage outage answers 500", func(t *testing.T) {
		data := objectResource(t, g, bucket, pngKey)
		// Cloud Run sets the request timeout; the storage client retries a
		// refused connection until then.
		t.Setenv("CLOUD_RUN_TIMEOUT_SECONDS", "2")
		g.Stop()
		start := time.Now()
		code, body := post(t, fn, false, TypeFinalized, bucket, pngKey, data)
		if code != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500 so that Eventarc redelivers: %s", code, body)
		}
		t.Logf("500 after %v", time.Since(start).Round(time.Millisecond))
	})
}

// TestConformanceOnGCSEmulator runs the core's conformance suite on the GCS
// emulator through gcsblob, opened by URL as the function opens buckets.
func TestConformanceOnGCSEmulator(t *testing.T) {
	g := testserver.StartGCS(t)
	g.SetEmulatorEnv(t)
	n := 0
	pipelinetest.Run(t, func(t *testing.T) *blob.Bucket {
		n++
		name := fmt.Sprintf("conformance-%d", n)
		g.CreateBucket(t, name)
		b, err := blob.OpenBucket(context.Background(), "gs://"+name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
