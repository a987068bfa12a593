package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/schema"
)

// TestRecordCommands drives manifest, failures, backfill --retry-failed and
// prune over a folder with good and bad images.
func TestRecordCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bad := mixedFolder(t, dir)
	two := map[string]string{"THUMBPIPE_SIZES": "200x200,64x64:fill"}
	if _, _, err := runCmd(ctx, t, two, "backfill", "--bucket", dir, "--concurrency", "1"); err == nil {
		t.Fatal("backfill with bad files exited 0")
	}

	// manifest KEY prints the manifest, valid against the schema.
	out, _, err := runCmd(ctx, t, two, "manifest", "--bucket", dir, "uploads/rotated.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(schema.ManifestID, []byte(out)); err != nil {
		t.Errorf("manifest output does not validate: %v\n%s", err, out)
	}
	var m pipeline.Manifest
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m.Source.Width != 300 || m.Source.Height != 200 || len(m.Variants) != 2 || m.Variants[1].Key != "thumbnails/64x64/uploads/rotated.jpg" {
		t.Errorf("manifest of the rotated photo: %+v", m)
	}
	if _, _, err := runCmd(ctx, t, two, "manifest", "--bucket", dir, "uploads/truncated.jpg"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("manifest of a failed source: %v; want its failure named", err)
	}
	if _, _, err := runCmd(ctx, t, two, "manifest", "--bucket", dir, "uploads/none.jpg"); err == nil || !strings.Contains(err.Error(), "no manifest") {
		t.Errorf("manifest of nothing: %v", err)
	}

	// failures lists every permanent failure with its reason.
	out, _, err = runCmd(ctx, t, two, "failures", "--bucket", dir)
	if err != nil {
		t.Fatal(err)
	}
	for key, why := range bad {
		if !lineHas(out, key, why) {
			t.Errorf("failures does not list %s with %q:\n%s", key, why, out)
		}
	}
	out, _, err = runCmd(ctx, t, two, "failures", "--bucket", dir, "--prefix", "uploads/t", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || schema.Validate(schema.FailureID, []byte(lines[0])) != nil ||
		!strings.Contains(lines[0], `"uploads/truncated.jpg"`) {
		t.Errorf("failures --prefix uploads/t --json:\n%s", out)
	}

	// A good file replaces one; --retry-failed tries the failures only.
	writeFile(t, filepath.Join(dir, "uploads/truncated.jpg"), pixeltest.JPEG(pixeltest.Photo(400, 400, 3), 90))
	out, _, err = runCmd(ctx, t, two, "backfill", "--bucket", dir, "--retry-failed")
	if err == nil || !strings.Contains(out, "processed 1, up-to-date 0, skipped 0, failed 3") {
		t.Errorf("backfill --retry-failed: %v\n%s", err, out)
	}
	out, _, _ = runCmd(ctx, t, two, "failures", "--bucket", dir)
	if strings.Contains(out, "truncated") || strings.Count(out, "\nuploads/") != 3 {
		t.Errorf("failures after the fix:\n%s", out)
	}

	// The 64x64 size is dropped and a photo deleted without an event: prune
	// removes their thumbnails, a dry run first.
	one := map[string]string{"THUMBPIPE_SIZES": "200x200"}
	if _, _, err := runCmd(ctx, t, one, "process", "--bucket", dir, "uploads/cat.jpg"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "uploads/logo.png")); err != nil {
		t.Fatal(err)
	}
	dry, _, err := runCmd(ctx, t, one, "prune", "--bucket", dir, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	wantGone := []string{"thumbnails/64x64/uploads/cat.jpg", "thumbnails/200x200/uploads/logo.png", "thumbnails/64x64/uploads/logo.png", "thumbnails/manifests/uploads/logo.png.json"}
	for _, k := range wantGone {
		if !strings.Contains(dry, "would remove "+k+": ") {
			t.Errorf("prune --dry-run does not name %s:\n%s", k, dry)
		}
		if _, err := os.Stat(filepath.Join(dir, k)); err != nil {
			t.Errorf("a dry run removed %s", k)
		}
	}
	out, _, err = runCmd(ctx, t, one, "prune", "--bucket", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "removed 4, kept ") {
		t.Errorf("prune:\n%s", out)
	}
	for _, k := range wantGone {
		if _, err := os.Stat(filepath.Join(dir, k)); !os.IsNotExist(err) {
			t.Errorf("%s survived prune: %v", k, err)
		}
	}
	for _, k := range []string{"thumbnails/200x200/uploads/cat.jpg", "thumbnails/64x64/uploads/rotated.jpg", "thumbnails/manifests/uploads/cat.jpg.json"} {
		if _, err := os.Stat(filepath.Join(dir, k)); err != nil {
			t.Errorf("prune removed %s: %v", k, err)
		}
	}
}
