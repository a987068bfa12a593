package buckets

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
)

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

func TestConformanceConfinedFileBucket(t *testing.T) {
	pipelinetest.Run(t, func(t *testing.T) *blob.Bucket {
		b, err := OpenBucket(context.Background(), fileURL(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestFileBucketRefusesSymlinks: no call on a key whose path goes through a
// link reads, writes or deletes anything, inside or outside the folder.
func TestFileBucketRefusesSymlinks(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	root, outside := filepath.Join(base, "bucket"), filepath.Join(base, "outside")
	for _, d := range []string{root + "/uploads", root + "/thumbnails/200x200", outside + "/dir"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret.png")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"uploads/link.png":             secret,
		"thumbnails/200x200/uploads":   filepath.Join(outside, "dir"),
		"uploads/side.png.attrs":       filepath.Join(outside, "side.attrs"),
		"uploads/inside.png":           filepath.Join(root, "uploads/real.png"), // inside, still a link
		"thumbnails/200x200/elsewhere": filepath.Join(root, "uploads"),
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "uploads/real.png"), []byte("real"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The root itself may be a link.
	rootLink := filepath.Join(base, "root-link")
	if err := os.Symlink(root, rootLink); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBucket(ctx, fileURL(rootLink))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrSymlink) || !errors.Is(err, pipeline.ErrUnsafeKey) || pipeline.Retryable(err) {
			t.Errorf("%s: %v, want a permanent ErrSymlink", what, err)
		}
	}
	for _, key := range []string{"uploads/link.png", "uploads/inside.png", "thumbnails/200x200/uploads/x.png", "thumbnails/200x200/elsewhere/real.png"} {
		_, err := b.Attributes(ctx, key)
		refused("Attributes "+key, err)
		_, err = b.ReadAll(ctx, key)
		refused("ReadAll "+key, err)
		refused("WriteAll "+key, b.WriteAll(ctx, key, []byte("x"), nil))
		refused("Delete "+key, b.Delete(ctx, key))
	}
	refused("WriteAll with a linked .attrs", b.WriteAll(ctx, "uploads/side.png", []byte("x"), nil))
	refused("Copy out of a link", b.Copy(ctx, "uploads/copy.png", "uploads/link.png", nil))
	refused("Copy into a link", b.Copy(ctx, "thumbnails/200x200/uploads/copy.png", "uploads/real.png", nil))

	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 { // secret.png and dir
		t.Errorf("something was written outside the bucket: %v", entries)
	}
	if data, _ := os.ReadFile(secret); string(data) != "secret" {
		t.Errorf("the outside file changed: %q", data)
	}
	if sub, _ := os.ReadDir(filepath.Join(outside, "dir")); len(sub) != 0 {
		t.Errorf("written into the linked folder: %v", sub)
	}
	if data, err := b.ReadAll(ctx, "uploads/real.png"); err != nil || string(data) != "real" {
		t.Errorf("a plain file: %q, %v", data, err)
	}
	if err := b.WriteAll(ctx, "thumbnails/200x200/fresh/a.png", []byte("ok"), nil); err != nil {
		t.Errorf("a write under new folders: %v", err)
	}
	// Keys CheckKey refuses never reach the file system.
	for _, key := range []string{"/uploads/real.png", "uploads//real.png", "../outside/secret.png"} {
		if _, err := b.Attributes(ctx, key); !errors.Is(err, pipeline.ErrUnsafeKey) {
			t.Errorf("Attributes(%q): %v, want an ErrUnsafeKey", key, err)
		}
	}
}
