package testserver_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
)

func TestMinIOBlobRoundTripAndRestart(t *testing.T) {
	m := testserver.StartMinIO(t, testserver.MinIOOptions{})
	m.CreateBucket(t, "photos")
	m.SetAWSEnv(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	b, err := blob.OpenBucket(ctx, m.BucketURL("photos"))
	if err != nil {
		t.Fatalf("open %s: %v", m.BucketURL("photos"), err)
	}
	defer b.Close()

	want := []byte("not really a jpeg")
	err = b.WriteAll(ctx, "in/cat.jpg", want, &blob.WriterOptions{
		ContentType: "image/jpeg",
		Metadata:    map[string]string{"origin": "test"},
	})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	attrs, err := b.Attributes(ctx, "in/cat.jpg")
	if err != nil {
		t.Fatalf("attributes: %v", err)
	}
	if attrs.ContentType != "image/jpeg" || attrs.Metadata["origin"] != "test" || attrs.ETag == "" || attrs.Size != int64(len(want)) {
		t.Errorf("attributes = type %q metadata %v etag %q size %d", attrs.ContentType, attrs.Metadata, attrs.ETag, attrs.Size)
	}

	// The minio-go client sees the same object.
	obj, err := m.Client().GetObject(ctx, "photos", "in/cat.jpg", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("minio get: %v", err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("minio get = %q, %v; want %q", got, err, want)
	}

	// Outage: while stopped, requests fail; after Start the data is back.
	m.Stop()
	if m.Running() {
		t.Fatal("Running() after Stop")
	}
	shortCtx, shortCancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := b.ReadAll(shortCtx, "in/cat.jpg"); err == nil {
		t.Error("read succeeded while MinIO was stopped")
	}
	shortCancel()

	m.Start()
	got, err = b.ReadAll(ctx, "in/cat.jpg")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read after restart = %q, %v; want %q", got, err, want)
	}
}
