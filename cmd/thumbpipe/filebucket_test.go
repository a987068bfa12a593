package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// files lists the regular files and links under dir, as slash paths.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestFileBucketSymlinks: with a source that links to a file outside the
// folder and a thumbnail folder that links to a folder outside it, process
// and watch --once read nothing and write nothing outside the folder.
func TestFileBucketSymlinks(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir, outside := filepath.Join(base, "photos"), filepath.Join(base, "outside")
	writeFile(t, filepath.Join(outside, "private.png"), pixeltest.PNG(pixeltest.Photo(300, 200, 1)))
	if err := os.MkdirAll(filepath.Join(outside, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "uploads/ok.png"), pixeltest.PNG(pixeltest.Photo(300, 200, 2)))
	writeFile(t, filepath.Join(dir, "other/b.png"), pixeltest.PNG(pixeltest.Photo(300, 200, 3)))
	if err := os.MkdirAll(filepath.Join(dir, "thumbnails/200x200"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"uploads/link.png":           filepath.Join(outside, "private.png"),
		"thumbnails/200x200/uploads": filepath.Join(outside, "dir"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	before := files(t, outside)

	out, _, err := runCmd(ctx, t, nil, "process", "--bucket", dir, "uploads/link.png", "uploads/ok.png", "other/b.png")
	if err == nil {
		t.Errorf("process succeeded:\n%s", out)
	}
	for _, want := range []string{
		"unsafe object key: its path goes through a symbolic link (uploads/link.png)",
		"unsafe object key: its path goes through a symbolic link (thumbnails/200x200/uploads)",
		"written     thumbnails/200x200/other/b.png",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("process output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCmd(ctx, t, nil, "watch", "--once", "--bucket", dir)
	if err == nil || !strings.Contains(out, "failed      uploads/link.png") {
		t.Errorf("watch --once: %v\n%s", err, out)
	}
	if after := files(t, outside); !slices.Equal(after, before) {
		t.Errorf("outside the folder: %q, was %q", after, before)
	}
}

// TestProcessLeadingSlash: "/uploads/a.png" is the same file as
// "uploads/a.png" in a folder; it is refused, so one file never gets two
// thumbnail trees.
func TestProcessLeadingSlash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "uploads/a.png"), pixeltest.PNG(pixeltest.Photo(300, 200, 1)))
	out, _, err := runCmd(ctx, t, nil, "process", "--bucket", dir, "/uploads/a.png", "uploads//a.png", "uploads/a.png")
	if err == nil {
		t.Errorf("process succeeded:\n%s", out)
	}
	for _, want := range []string{
		`failed      /uploads/a.png: unsafe object key: "/uploads/a.png" starts with "/"`,
		`failed      uploads//a.png: unsafe object key: "uploads//a.png" has an empty path segment`,
		"written     thumbnails/200x200/uploads/a.png",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("process output lacks %q:\n%s", want, out)
		}
	}
	want := []string{"thumbnails/200x200/uploads/a.png", "thumbnails/200x200/uploads/a.png.attrs",
		"thumbnails/manifests/uploads/a.png.json", "thumbnails/manifests/uploads/a.png.json.attrs", "uploads/a.png"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Errorf("folder holds %q, want %q", got, want)
	}
}
