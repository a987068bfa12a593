package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
	"google.golang.org/api/option"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// s3Err has the methods of smithy-go's response and API errors, as the AWS
// SDK's S3 client returns them.
type s3Err struct {
	status int
	code   string
}

func (e s3Err) Error() string        { return fmt.Sprintf("api error %s: status %d", e.code, e.status) }
func (e s3Err) HTTPStatusCode() int  { return e.status }
func (e s3Err) ErrorCode() string    { return e.code }
func (e s3Err) ErrorMessage() string { return e.code }

// gcsErr has the method of gax-go's apierror.APIError.
type gcsErr int

func (e gcsErr) Error() string { return fmt.Sprintf("googleapi: Error %d", int(e)) }
func (e gcsErr) HTTPCode() int { return int(e) }

func TestRetryableHTTPStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"S3 KeyTooLongError", s3Err{400, "KeyTooLongError"}, false},
		{"S3 InvalidArgument", s3Err{400, "InvalidArgument"}, false},
		{"MinIO invalid object name", s3Err{400, "XMinioInvalidObjectName"}, false},
		{"S3 405", s3Err{405, "MethodNotAllowed"}, false},
		{"S3 411", s3Err{411, "MissingContentLength"}, false},
		{"S3 RequestTimeout is a 400", s3Err{400, "RequestTimeout"}, true},
		{"S3 throttling 400", s3Err{400, "Throttling"}, true},
		{"S3 SlowDown", s3Err{503, "SlowDown"}, true},
		{"S3 expired token", s3Err{400, "ExpiredToken"}, true},
		{"S3 401", s3Err{401, "Unauthorized"}, true},
		{"S3 AccessDenied", s3Err{403, "AccessDenied"}, true},
		{"S3 408", s3Err{408, ""}, true},
		{"S3 OperationAborted", s3Err{409, "OperationAborted"}, true},
		{"S3 429", s3Err{429, ""}, true},
		{"S3 500", s3Err{500, "InternalError"}, true},
		{"S3 404 without a NotFound code", s3Err{404, "NoSuchThing"}, false},
		{"GCS 400", gcsErr(400), false},
		{"GCS 403", gcsErr(403), true},
		{"GCS 429", gcsErr(429), true},
		{"GCS 503", gcsErr(503), true},
		{"no HTTP answer (gax's -1)", gcsErr(-1), true},
		{"wrapped twice", &pipeline.Error{Op: "process", Key: "k", Err: fmt.Errorf("write: %w", s3Err{400, "KeyTooLongError"})}, false},
		{"a permanent sentinel wins over a status", fmt.Errorf("%w: %w", pipeline.ErrKeyTooLong, s3Err{429, ""}), false},
	}
	for _, tc := range tests {
		if got := pipeline.Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key  string
		want string // in the message; "" = accepted
	}{
		{"uploads/ok.jpg", ""},
		{"uploads/", ""}, // a folder marker: selected as nothing, not unsafe
		{"a/.../b.jpg", ""},
		{"日本/café.png", ""},
		{"/uploads/ok.jpg", `starts with "/"`},
		{"/", `starts with "/"`},
		{"uploads//ok.jpg", "empty path segment"},
		{"uploads/ok.jpg//", "empty path segment"},
		{`uploads\..\x.jpg`, "backslash"},
		{`a\b.jpg`, "backslash"},
		{"a/../b.jpg", `".." segment`},
		{"./a.jpg", `"." segment`},
		{"", "empty"},
		{"a\tb.jpg", "control character"},
		{"a\xffb.jpg", "UTF-8"},
	}
	for _, tc := range tests {
		err := pipeline.CheckKey(tc.key)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckKey(%q) = %v, want nil", tc.key, err)
		case tc.want != "" && (!errors.Is(err, pipeline.ErrUnsafeKey) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckKey(%q) = %v, want an ErrUnsafeKey saying %q", tc.key, err, tc.want)
		}
	}
}

func TestCheckThumbnailKeys(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	// thumbnails/200x200/<key> plus, at worst, an appended ".webp" (the
	// longest extension of a format written).
	room := pipeline.MaxKeyBytes - len("thumbnails/200x200/") - len(".webp")
	if err := cfg.CheckThumbnailKeys(strings.Repeat("k", room)); err != nil {
		t.Errorf("a key of %d bytes: %v", room, err)
	}
	err := cfg.CheckThumbnailKeys(strings.Repeat("k", room+1))
	if !errors.Is(err, pipeline.ErrKeyTooLong) || pipeline.Retryable(err) {
		t.Errorf("a key of %d bytes: %v, want a permanent ErrKeyTooLong", room+1, err)
	}
}

// longKey returns a source key of n bytes under uploads/, in segments short
// enough for MinIO's file system (255 bytes), ending in ".jpg".
func longKey(n int) string {
	k := "uploads/"
	for len(k)+len(".jpg") < n {
		seg := strings.Repeat("k", min(200, n-len(k)-len(".jpg")))
		if len(k)+len(seg)+len(".jpg") < n {
			seg = seg[:len(seg)-1] + "/"
		}
		k += seg
	}
	return k + ".jpg"
}

// TestKeyTooLongRefusedBeforeReading: a source whose thumbnail keys could
// never be stored fails permanently before any storage call, where it used
// to be decoded, fail to write, and be retried forever.
func TestKeyTooLongRefusedBeforeReading(t *testing.T) {
	ctx := context.Background()
	faults := faultblob.New(1)
	for _, op := range []faultblob.Op{faultblob.Attributes, faultblob.Read, faultblob.Write, faultblob.Close, faultblob.List, faultblob.Delete} {
		faults.Add(faultblob.Rule{Op: op, Rate: 1})
	}
	b := faultblob.Wrap(memblob.OpenBucket(nil), faults)
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key := longKey(1006)
	if len(key) != 1006 || pipeline.CheckKey(key) != nil {
		t.Fatalf("longKey(1006) = %d bytes, CheckKey: %v", len(key), pipeline.CheckKey(key))
	}
	res, err := th.Process(ctx, b, key)
	if !errors.Is(err, pipeline.ErrKeyTooLong) || pipeline.Retryable(err) || res.SourceBytes != 0 {
		t.Errorf("Process of a %d-byte key = %+v, %v; want a permanent ErrKeyTooLong", len(key), res, err)
	}
	if n := faults.Injected(); n != 0 {
		t.Errorf("%d storage calls were made for a key whose thumbnails cannot be stored", n)
	}
	// A long key under the output prefix is still skipped, not refused: it
	// may be a thumbnail's own event.
	long := "thumbnails/200x200/" + strings.Repeat("k", 1000) + ".jpg"
	if res, err := th.Process(ctx, b, long); err != nil || res.Skipped == "" {
		t.Errorf("Process(%d-byte thumbnail key) = %+v, %v; want skipped", len(long), res, err)
	}
}

// TestRetryableOnMinIO checks the classification against the answers of a
// real MinIO server through s3blob.
func TestRetryableOnMinIO(t *testing.T) {
	ctx := context.Background()
	m := testserver.StartMinIO(t, testserver.MinIOOptions{})
	m.SetAWSEnv(t)
	m.CreateBucket(t, "retry")
	b, err := blob.OpenBucket(ctx, m.BucketURL("retry"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, key := range []string{strings.Repeat("k", pipeline.MaxKeyBytes+1), "uploads//ok.jpg", `uploads\..\x.jpg`} {
		err := b.WriteAll(ctx, key, []byte("x"), nil)
		if err == nil || pipeline.Retryable(err) {
			t.Errorf("write %.40q: %v; want a permanent 400", key, err)
		}
	}
	// The whole path: a source MinIO stores, whose thumbnail key it would
	// refuse, fails permanently without being read.
	key := longKey(1006)
	if err := b.WriteAll(ctx, key, pixeltest.JPEG(pixeltest.Photo(64, 48, 1), 85), nil); err != nil {
		t.Fatal(err)
	}
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := th.Process(ctx, b, key); !errors.Is(err, pipeline.ErrKeyTooLong) || pipeline.Retryable(err) || res.SourceBytes != 0 {
		t.Errorf("Process(%d-byte key) = %+v, %v; want a permanent ErrKeyTooLong before decoding", len(key), res, err)
	}

	// Wrong credentials: 403, which an operator may fix.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	denied, err := blob.OpenBucket(ctx, m.BucketURL("retry"))
	if err != nil {
		t.Fatal(err)
	}
	defer denied.Close()
	if err := denied.WriteAll(ctx, "a.jpg", []byte("x"), nil); err == nil || !pipeline.Retryable(err) {
		t.Errorf("write with a wrong secret: %v; want a retryable error", err)
	}
}

// TestRetryableOnGCS checks the classification of Cloud Storage answers
// through gcsblob: the emulator's, and a stub's for the statuses the
// emulator never sends (gcsblob reports a 403 as NotFound and a 400 as
// Unknown, so only the HTTP status tells them apart).
func TestRetryableOnGCS(t *testing.T) {
	ctx := context.Background()
	g := testserver.StartGCS(t)
	g.CreateBucket(t, "retry")
	missing := g.OpenBucket(t, "no-such-bucket")
	if err := missing.WriteAll(ctx, "a.jpg", []byte("x"), nil); err == nil || pipeline.Retryable(err) {
		t.Errorf("write to a missing bucket: %v; want a permanent 404", err)
	}

	for _, tc := range []struct {
		status int
		want   bool
	}{{400, false}, {401, true}, {403, true}, {408, true}, {413, false}, {429, true}, {500, true}, {503, true}} {
		stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			fmt.Fprintf(w, `{"error":{"code":%d,"message":"stub answer %d","errors":[{"reason":"stub"}]}}`, tc.status, tc.status)
		}))
		client, err := storage.NewClient(ctx, option.WithoutAuthentication(), option.WithEndpoint(stub.URL+"/storage/v1/"),
			option.WithHTTPClient(stub.Client()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := gcsblob.OpenBucket(ctx, nil, "stub", &gcsblob.Options{Client: client})
		if err != nil {
			t.Fatal(err)
		}
		// No retries inside the client, so the stub's answer comes back.
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = b.WriteAll(wctx, "a.jpg", []byte("x"), nil)
		cancel()
		if err == nil || pipeline.Retryable(err) != tc.want {
			t.Errorf("GCS answers %d: %v; Retryable = %v, want %v", tc.status, err, pipeline.Retryable(err), tc.want)
		}
		b.Close()
		client.Close()
		stub.Close()
	}
}
