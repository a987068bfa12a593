package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// runCmd runs the command line in-process with an environment of its own.
func runCmd(ctx context.Context, t *testing.T, envm map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb testserver.Buffer
	err = run(ctx, args, func(k string) string { return envm[k] }, &out, &errb)
	return out.String(), errb.String(), err
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// mixedFolder fills dir with good images and bad files, and returns the
// bad files' keys with the reason each must be refused for.
func mixedFolder(t *testing.T, dir string) map[string]string {
	writeFile(t, filepath.Join(dir, "uploads/cat.jpg"), pixeltest.JPEG(pixeltest.Photo(800, 600, 1), 90))
	writeFile(t, filepath.Join(dir, "uploads/logo.png"), pixeltest.PNG(pixeltest.TransparentPalette(300, 100)))
	writeFile(t, filepath.Join(dir, "uploads/deep/anim.gif"), pixeltest.GIF(pixeltest.Photo(120, 120, 2)))
	writeFile(t, filepath.Join(dir, "uploads/rotated.jpg"), pixeltest.OrientedJPEG(300, 200, 6))
	full := pixeltest.JPEG(pixeltest.Photo(400, 400, 3), 90)
	bad := map[string]string{
		"uploads/truncated.jpg": "corrupt image",
		"uploads/notes.jpg":     "unsupported image format",
		"uploads/empty.png":     "object is empty",
		"uploads/bomb.png":      "too many pixels",
	}
	writeFile(t, filepath.Join(dir, "uploads/truncated.jpg"), full[:len(full)/2])
	writeFile(t, filepath.Join(dir, "uploads/notes.jpg"), []byte("shopping list: milk, eggs"))
	writeFile(t, filepath.Join(dir, "uploads/empty.png"), nil)
	writeFile(t, filepath.Join(dir, "uploads/bomb.png"), pixeltest.PNGBomb(60000, 60000))
	return bad
}

func TestBackfillTwice(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bad := mixedFolder(t, dir)
	out, _, err := runCmd(ctx, t, nil, "backfill", "--bucket", dir, "--concurrency", "2")
	if err == nil {
		t.Fatal("backfill with bad files exited 0; want a failure status")
	}
	if !strings.Contains(out, "processed 4, up-to-date 0, skipped 0, failed 4") {
		t.Fatalf("first run summary wrong:\n%s", out)
	}
	for key, why := range bad {
		if !strings.Contains(out, key+": ") || !lineHas(out, key, why) {
			t.Errorf("output does not name %s with reason %q:\n%s", key, why, out)
		}
	}
	for _, k := range []string{"uploads/cat.jpg", "uploads/logo.png", "uploads/deep/anim.gif", "uploads/rotated.jpg"} {
		if _, err := os.Stat(filepath.Join(dir, "thumbnails/200x200", k)); err != nil {
			t.Errorf("no thumbnail for %s: %v", k, err)
		}
	}

	out2, _, err := runCmd(ctx, t, nil, "backfill", "--bucket", dir)
	if err == nil {
		t.Fatal("second run exited 0 although the bad files are still bad")
	}
	if !strings.Contains(out2, "processed 0, up-to-date 4, skipped 0, failed 4") || strings.Contains(out2, "written") {
		t.Fatalf("second run wrote or miscounted:\n%s", out2)
	}
	for key, why := range bad {
		if !lineHas(out2, key, why) {
			t.Errorf("second run does not refuse %s for %q again:\n%s", key, why, out2)
		}
	}
}

func lineHas(out, key, why string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, key) && strings.Contains(line, why) {
			return true
		}
	}
	return false
}

func TestBackfillDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.jpg"), pixeltest.JPEG(pixeltest.Photo(300, 300, 1), 90))
	out, _, err := runCmd(context.Background(), t, nil, "backfill", "--bucket", dir, "--dry-run")
	if err != nil || !strings.Contains(out, "would-write") || !strings.Contains(out, "processed 1") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "thumbnails")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote thumbnails: %v", err)
	}
}

// TestListingsSelect checks that backfill and watch --once list only the
// sources THUMBPIPE_INCLUDE and THUMBPIPE_EXCLUDE select: the others are
// neither processed, nor counted, nor reported as skipped.
func TestListingsSelect(t *testing.T) {
	keys := []string{"uploads/a.jpg", "uploads/b.png", "other/c.jpg"}
	tests := []struct {
		env     map[string]string
		want    []string // keys processed
		summary string   // backfill's
	}{
		{nil, keys, "processed 3, up-to-date 0, skipped 0, failed 0"},
		{map[string]string{"THUMBPIPE_INCLUDE": "uploads/**"}, keys[:2], "processed 2, up-to-date 0, skipped 0, failed 0"},
		{map[string]string{"THUMBPIPE_EXCLUDE": "**/*.png"}, []string{keys[0], keys[2]}, "processed 2, up-to-date 0, skipped 0, failed 0"},
		{map[string]string{"THUMBPIPE_INCLUDE": "uploads/**", "THUMBPIPE_EXCLUDE": "**/*.png"}, keys[:1], "processed 1, up-to-date 0, skipped 0, failed 0"},
	}
	for _, tc := range tests {
		for _, args := range [][]string{{"backfill"}, {"watch", "--once"}} {
			dir := t.TempDir()
			for _, k := range keys {
				writeFile(t, filepath.Join(dir, k), pixeltest.PNG(pixeltest.Photo(40, 30, 1)))
			}
			out, _, err := runCmd(context.Background(), t, tc.env, append(args, "--bucket", dir)...)
			if err != nil {
				t.Errorf("%v %v: %v\n%s", args, tc.env, err, out)
				continue
			}
			if args[0] == "backfill" && !strings.Contains(out, tc.summary) {
				t.Errorf("%v %v: summary is not %q:\n%s", args, tc.env, tc.summary, out)
			}
			if strings.Contains(out, "skipped     ") {
				t.Errorf("%v %v: reports a skipped key:\n%s", args, tc.env, out)
			}
			for _, k := range keys {
				if want := slices.Contains(tc.want, k); strings.Contains(out, k) != want {
					t.Errorf("%v %v: output names %s: %v, want %v:\n%s", args, tc.env, k, !want, want, out)
				}
			}
		}
	}
}

func TestProcess(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p/photo.png"), pixeltest.PNG(pixeltest.Photo(640, 320, 1)))
	env := map[string]string{"THUMBPIPE_SIZES": "100x100,32x32:fill", "THUMBPIPE_FORMAT": "jpeg"}
	out, _, err := runCmd(context.Background(), t, env, "process", "--bucket", dir, "p/photo.png")
	if err != nil {
		t.Fatal(err, out)
	}
	for _, want := range []string{
		"written     thumbnails/100x100/p/photo.png.jpg (100x50,",
		"written     thumbnails/32x32/p/photo.png.jpg (32x32,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCmd(context.Background(), t, env, "process", "--bucket", dir, "--sizes", "100x100", "p/photo.png", "thumbnails/100x100/p/photo.png.jpg")
	if err != nil || !strings.Contains(out, "up-to-date  thumbnails/100x100/p/photo.png.jpg") || !strings.Contains(out, "skipped     thumbnails/100x100/p/photo.png.jpg: under the output prefix") {
		t.Fatalf("second process: %v\n%s", err, out)
	}
}

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args []string
		env  map[string]string
		want error
		msg  string
	}{
		{nil, nil, errUsage, ""},
		{[]string{"frobnicate"}, nil, errUsage, "unknown command"},
		{[]string{"process", "--bucket", "mem://"}, nil, errUsage, "at least one KEY"},
		{[]string{"backfill"}, nil, errUsage, "--bucket"},
		{[]string{"backfill", "--bucket", "mem://", "--sizes", "0x0"}, nil, nil, "width and height must be 1 to 10000"},
		{[]string{"backfill", "--bucket", "mem://"}, map[string]string{"THUMBPIPE_INCLUDE": "**"}, nil, "would be thumbnailed"},
		{[]string{"watch", "--help"}, nil, flag.ErrHelp, ""},
		{[]string{"process", "-h"}, nil, flag.ErrHelp, ""},
	}
	for _, tc := range tests {
		_, stderr, err := runCmd(ctx, t, tc.env, tc.args...)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) || !strings.Contains(err.Error()+stderr, tc.msg) {
			t.Errorf("%v: err %v, stderr %q; want %v mentioning %q", tc.args, err, stderr, tc.want, tc.msg)
		}
	}
	_, stderr, _ := runCmd(ctx, t, nil, "backfill", "--help")
	for _, flagName := range []string{"-bucket", "-prefix", "-dry-run", "-concurrency", "-sizes", "THUMBPIPE_SIZES", "-output-prefix"} {
		if !strings.Contains(stderr, flagName) {
			t.Errorf("backfill --help lacks %s:\n%s", flagName, stderr)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err    error
		code   int
		stderr string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{fmt.Errorf("%w: bad flag", errUsage), 2, "thumbpipe: usage: bad flag\n"},
		{fmt.Errorf("2 objects failed: %w", errQuiet), 1, ""},
		{errors.New("list bucket: boom"), 1, "thumbpipe: list bucket: boom\n"},
	}
	for _, tc := range tests {
		var stderr strings.Builder
		if code := exitCode(tc.err, &stderr); code != tc.code || stderr.String() != tc.stderr {
			t.Errorf("exitCode(%v) = %d, stderr %q; want %d, %q", tc.err, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}

// TestWatch drops a photo into a watched folder and waits for its
// thumbnail, then deletes the photo and waits for the thumbnail to go.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testserver.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"watch", "--bucket", dir, "--interval", "50ms"}, func(string) string { return "" }, &out, &errb)
	}()
	src := filepath.Join(dir, "uploads/cat.jpg")
	thumb := filepath.Join(dir, "thumbnails/200x200/uploads/cat.jpg")
	writeFile(t, src, pixeltest.JPEG(pixeltest.Photo(1200, 900, 1), 90))
	waitFor(t, "thumbnail to appear", func() bool { _, err := os.Stat(thumb); return err == nil })
	// The manifest is written last, and the watcher reports the source
	// once it has checked that the source did not change meanwhile: only
	// then is its processing over.
	manifest := filepath.Join(dir, "thumbnails/manifests/uploads/cat.jpg.json")
	waitFor(t, "manifest to appear", func() bool { _, err := os.Stat(manifest); return err == nil })
	waitFor(t, "the watcher to report the source", func() bool {
		return strings.Contains(out.String(), "written     thumbnails/200x200/uploads/cat.jpg")
	})
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "thumbnail to go", func() bool { _, err := os.Stat(thumb); return os.IsNotExist(err) })
	waitFor(t, "manifest to go", func() bool { _, err := os.Stat(manifest); return os.IsNotExist(err) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "written     thumbnails/200x200/uploads/cat.jpg (200x150") ||
		!strings.Contains(out.String(), "deleted     thumbnails/200x200/uploads/cat.jpg") {
		t.Errorf("watch output:\n%s", out.String())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
