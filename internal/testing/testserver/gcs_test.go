package testserver_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcerrors"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
)

func TestGCSBlobSemantics(t *testing.T) {
	g := testserver.StartGCS(t)
	g.CreateBucket(t, "photos")
	b := g.OpenBucket(t, "photos")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("x"), 100)...)
	err := b.WriteAll(ctx, "in/cat.jpg", jpeg, &blob.WriterOptions{
		ContentType:  "image/jpeg",
		CacheControl: "public, max-age=60",
		Metadata:     map[string]string{"origin": "test", "Mixed-Case": "v"},
	})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	attrs, err := b.Attributes(ctx, "in/cat.jpg")
	if err != nil {
		t.Fatalf("attributes: %v", err)
	}
	if attrs.ContentType != "image/jpeg" {
		t.Errorf("ContentType = %q, want image/jpeg", attrs.ContentType)
	}
	if attrs.Size != int64(len(jpeg)) {
		t.Errorf("Size = %d, want %d", attrs.Size, len(jpeg))
	}
	if attrs.ETag == "" || len(attrs.MD5) != 16 {
		t.Errorf("ETag = %q, MD5 = %x: want both set", attrs.ETag, attrs.MD5)
	}
	// gcsblob lower-cases metadata keys on write, like the other drivers.
	if attrs.Metadata["origin"] != "test" || attrs.Metadata["mixed-case"] != "v" {
		t.Errorf("Metadata = %v", attrs.Metadata)
	}
	if attrs.CacheControl != "public, max-age=60" {
		t.Errorf("CacheControl = %q", attrs.CacheControl)
	}

	got, err := b.ReadAll(ctx, "in/cat.jpg")
	if err != nil || !bytes.Equal(got, jpeg) {
		t.Fatalf("read = %d bytes, %v; want %d bytes", len(got), err, len(jpeg))
	}
	r, err := b.NewRangeReader(ctx, "in/cat.jpg", 2, 3, nil)
	if err != nil {
		t.Fatalf("range reader: %v", err)
	}
	part, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(part, jpeg[2:5]) {
		t.Errorf("range read = %x, %v; want %x", part, err, jpeg[2:5])
	}

	// Overwriting changes the ETag.
	if err := b.WriteAll(ctx, "in/cat.jpg", []byte("other"), &blob.WriterOptions{ContentType: "image/jpeg"}); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	attrs2, err := b.Attributes(ctx, "in/cat.jpg")
	if err != nil {
		t.Fatalf("attributes after overwrite: %v", err)
	}
	if attrs2.ETag == attrs.ETag {
		t.Errorf("ETag unchanged after overwrite: %q", attrs2.ETag)
	}

	// Without a ContentType, gocloud.dev sniffs one from the content.
	if err := b.WriteAll(ctx, "in/dog.jpg", jpeg, nil); err != nil {
		t.Fatalf("write without content type: %v", err)
	}
	if a, err := b.Attributes(ctx, "in/dog.jpg"); err != nil || a.ContentType != "image/jpeg" {
		t.Errorf("sniffed ContentType = %q, %v; want image/jpeg", a.ContentType, err)
	}
	if err := b.WriteAll(ctx, "out/cat.webp", []byte("thumb"), &blob.WriterOptions{ContentType: "image/webp"}); err != nil {
		t.Fatalf("write: %v", err)
	}

	// List with a prefix, and with a delimiter.
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: "in/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		keys = append(keys, obj.Key)
	}
	if len(keys) != 2 || keys[0] != "in/cat.jpg" || keys[1] != "in/dog.jpg" {
		t.Errorf("list in/ = %v", keys)
	}
	var dirs []string
	it = b.List(&blob.ListOptions{Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if !obj.IsDir {
			t.Errorf("unexpected top-level object %q", obj.Key)
		}
		dirs = append(dirs, obj.Key)
	}
	if len(dirs) != 2 || dirs[0] != "in/" || dirs[1] != "out/" {
		t.Errorf("list with delimiter = %v", dirs)
	}

	// Delete, and NotFound afterwards.
	if err := b.Delete(ctx, "in/dog.jpg"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := b.Attributes(ctx, "in/dog.jpg"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("attributes after delete: %v, want NotFound", err)
	}
	if _, err := b.ReadAll(ctx, "missing"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("read missing: %v, want NotFound", err)
	}
	if err := b.Delete(ctx, "missing"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("delete missing: %v, want NotFound", err)
	}

	// The plain storage client sees the metadata as written.
	oa, err := g.StorageClient(t).Bucket("photos").Object("out/cat.webp").Attrs(ctx)
	if err != nil {
		t.Fatalf("storage attrs: %v", err)
	}
	if oa.ContentType != "image/webp" || oa.Size != 5 {
		t.Errorf("storage attrs = type %q size %d", oa.ContentType, oa.Size)
	}
}

// Production code opens gs:// URLs; with STORAGE_EMULATOR_HOST set they reach
// the emulator without credentials.
func TestGCSURLWithEmulatorEnv(t *testing.T) {
	g := testserver.StartGCS(t)
	g.CreateBucket(t, "photos")
	g.SetEmulatorEnv(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := blob.OpenBucket(ctx, "gs://photos")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "a.png", []byte("png"), &blob.WriterOptions{ContentType: "image/png", Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatalf("write: %v", err)
	}
	a, err := g.OpenBucket(t, "photos").Attributes(ctx, "a.png")
	if err != nil {
		t.Fatalf("attributes: %v", err)
	}
	if a.ContentType != "image/png" || a.Metadata["k"] != "v" {
		t.Errorf("attributes = %q %v", a.ContentType, a.Metadata)
	}
	got, err := b.ReadAll(ctx, "a.png")
	if err != nil || string(got) != "png" {
		t.Errorf("read = %q, %v", got, err)
	}
}

func TestGCSRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("memory", func(t *testing.T) {
		g := testserver.StartGCS(t)
		g.CreateBucket(t, "photos")
		b := g.OpenBucket(t, "photos")
		if err := b.WriteAll(ctx, "k", []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
		g.Stop()
		if g.Running() {
			t.Fatal("Running() after Stop")
		}
		if _, err := http.Get(g.Endpoint() + "/storage/v1/b"); err == nil {
			t.Error("server answers after Stop")
		}
		g.Start()
		// The memory backend starts empty.
		if _, err := b.Attributes(ctx, "k"); err == nil {
			t.Error("object survived a restart of the memory backend")
		}
		g.CreateBucket(t, "photos")
		if err := b.WriteAll(ctx, "k", []byte("v2"), nil); err != nil {
			t.Fatalf("write after restart: %v", err)
		}
	})

	t.Run("persistent", func(t *testing.T) {
		g := testserver.StartGCSWithOptions(t, testserver.GCSOptions{Persistent: true})
		g.CreateBucket(t, "photos")
		b := g.OpenBucket(t, "photos")
		if err := b.WriteAll(ctx, "in/k.jpg", []byte("v"), &blob.WriterOptions{ContentType: "image/jpeg", Metadata: map[string]string{"m": "1"}}); err != nil {
			t.Fatal(err)
		}
		g.Stop()
		g.Start()
		a, err := b.Attributes(ctx, "in/k.jpg")
		if err != nil {
			t.Fatalf("attributes after restart: %v", err)
		}
		if a.ContentType != "image/jpeg" || a.Metadata["m"] != "1" {
			t.Errorf("attributes after restart = %q %v", a.ContentType, a.Metadata)
		}
		if got, err := b.ReadAll(ctx, "in/k.jpg"); err != nil || string(got) != "v" {
			t.Errorf("read after restart = %q, %v", got, err)
		}
	})
}
