// Package pipelinetest is a conformance suite for the thumbnail pipeline:
// the same checks run against every storage backend thumbpipe supports, as
// gocloud's drivertest runs against every blob driver.
package pipelinetest

import (
	"bytes"
	"context"
	"errors"
	"image"
	_ "image/gif" // decode outputs in assertions
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/url"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// Opener returns a new, empty bucket for one test; the suite closes it.
// Each call must return a distinct bucket: the separate-output test asks
// for two.
type Opener func(t *testing.T) *blob.Bucket

// Run runs the suite on buckets from open.
func Run(t *testing.T, open Opener) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"ProcessWritesEveryVariant", testProcess},
		{"RerunWritesNothing", testRerun},
		{"NewSourceVersionRewrites", testNewVersion},
		{"DeleteRemovesVariants", testDelete},
		{"NoThumbnailOfThumbnail", testNoRecursion},
		{"SeparateOutputBucket", testSeparateOutput},
		{"FormatFromBytesNotName", testSniffedFormat},
		{"AwkwardKeys", testAwkwardKeys},
		{"CorruptWritesNothing", testCorrupt},
		{"CollisionIsRefused", testCollision},
		{"UploadDuringProcess", testUploadDuringProcess},
		{"DeleteDuringProcess", testDeleteDuringProcess},
		{"UploadDuringDelete", testUploadDuringDelete},
		{"ManifestMatchesVariants", testManifest},
		{"ManifestIsNeverASource", testManifestNoRecursion},
		{"DeleteAfterSizeChange", testDeleteAfterSizeChange},
		{"FailureRecordComesAndGoes", testFailureRecord},
		{"PruneWhileUploading", testPruneWhileUploading},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func openBucket(t *testing.T, open Opener) *blob.Bucket {
	t.Helper()
	b := open(t)
	t.Cleanup(func() { b.Close() })
	return b
}

func newThumbnailer(t *testing.T, cfg pipeline.Config, out *blob.Bucket) *pipeline.Thumbnailer {
	t.Helper()
	th, err := pipeline.NewThumbnailer(cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func put(t *testing.T, b *blob.Bucket, key string, data []byte, contentType string) {
	t.Helper()
	opts := &blob.WriterOptions{ContentType: contentType, CacheControl: "public, max-age=60"}
	if err := b.WriteAll(context.Background(), key, data, opts); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

// CheckVariant asserts that key in b is a thumbnail of source: decodable,
// of Content-Type contentType, at most (or, exact, exactly) w×h pixels, and
// carrying the marker. It returns the decoded image.
func CheckVariant(t *testing.T, b *blob.Bucket, key, source, contentType string, w, h int, exact bool) image.Image {
	t.Helper()
	ctx := context.Background()
	a, err := b.Attributes(ctx, key)
	if err != nil {
		t.Fatalf("variant %q: %v", key, err)
	}
	if a.ContentType != contentType {
		t.Errorf("variant %q: Content-Type %q, want %q", key, a.ContentType, contentType)
	}
	if got, _ := url.PathUnescape(a.Metadata[pipeline.MetaSource]); got != source {
		t.Errorf("variant %q: marker source %q, want %q (metadata %v)", key, got, source, a.Metadata)
	}
	if a.Metadata[pipeline.MetaETag] == "" || a.Metadata[pipeline.MetaConfig] == "" {
		t.Errorf("variant %q: marker incomplete: %v", key, a.Metadata)
	}
	data, err := b.ReadAll(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("variant %q does not decode: %v", key, err)
	}
	gw, gh := img.Bounds().Dx(), img.Bounds().Dy()
	if exact && (gw != w || gh != h) || !exact && (gw > w || gh > h) {
		t.Errorf("variant %q is %dx%d, want %s %dx%d", key, gw, gh, map[bool]string{true: "exactly", false: "within"}[exact], w, h)
	}
	return img
}

// Exists reports whether key is in b. It fails the test when the storage
// cannot say, so that a check that something is absent never passes on a
// failed request.
func Exists(t testing.TB, b *blob.Bucket, key string) bool {
	t.Helper()
	ok, err := b.Exists(context.Background(), key)
	if err != nil {
		t.Fatalf("exists %q: %v", key, err)
	}
	return ok
}

func testProcess(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	put(t, b, "uploads/cat.jpg", pixeltest.JPEG(pixeltest.Photo(640, 480, 1), 90), "application/octet-stream")
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 64, Height: 64, Mode: "fill"}}
	th := newThumbnailer(t, cfg, nil)
	res, err := th.Process(ctx, b, "uploads/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != "" || len(res.Variants) != 2 || res.Written() != 2 {
		t.Fatalf("result %+v, want two variants written", res)
	}
	CheckVariant(t, b, "thumbnails/200x200/uploads/cat.jpg", "uploads/cat.jpg", "image/jpeg", 200, 150, true)
	CheckVariant(t, b, "thumbnails/64x64/uploads/cat.jpg", "uploads/cat.jpg", "image/jpeg", 64, 64, true)
	a, err := b.Attributes(ctx, "thumbnails/200x200/uploads/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if a.CacheControl != "public, max-age=60" {
		t.Errorf("Cache-Control %q, want the source's", a.CacheControl)
	}
}

func testRerun(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	put(t, b, "a.png", pixeltest.PNG(pixeltest.Photo(300, 300, 2)), "image/png")
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	if _, err := th.Process(ctx, b, "a.png"); err != nil {
		t.Fatal(err)
	}
	before, err := b.Attributes(ctx, "thumbnails/200x200/a.png")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		res, err := th.Process(ctx, b, "a.png")
		if err != nil {
			t.Fatal(err)
		}
		if res.Written() != 0 || res.Variants[0].Status != pipeline.UpToDate || res.SourceBytes != 0 {
			t.Fatalf("re-run %d: %+v, want up-to-date without reading the source", i, res)
		}
	}
	after, err := b.Attributes(ctx, "thumbnails/200x200/a.png")
	if err != nil {
		t.Fatal(err)
	}
	if before.ETag != after.ETag || !before.ModTime.Equal(after.ModTime) {
		t.Errorf("thumbnail rewritten by a re-run: %v/%v -> %v/%v", before.ETag, before.ModTime, after.ETag, after.ModTime)
	}
}

func testNewVersion(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	put(t, b, "v.jpg", pixeltest.JPEG(pixeltest.Photo(400, 400, 3), 90), "image/jpeg")
	if _, err := th.Process(ctx, b, "v.jpg"); err != nil {
		t.Fatal(err)
	}
	put(t, b, "v.jpg", pixeltest.JPEG(pixeltest.Photo(800, 400, 4), 90), "image/jpeg")
	res, err := th.Process(ctx, b, "v.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if res.Written() != 1 {
		t.Fatalf("new version: %+v, want the thumbnail rewritten", res)
	}
	CheckVariant(t, b, "thumbnails/200x200/v.jpg", "v.jpg", "image/jpeg", 200, 100, true)
}

func testDelete(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 50, Height: 50, Mode: "fit"}}
	th := newThumbnailer(t, cfg, nil)
	// A TIFF is written as JPEG, under a key with ".jpg" appended.
	put(t, b, "d/x.tiff", pixeltest.TIFF(pixeltest.Photo(100, 80, 4)), "image/tiff")
	put(t, b, "d/keep.jpg", pixeltest.JPEG(pixeltest.Photo(100, 100, 5), 90), "image/jpeg")
	for _, k := range []string{"d/x.tiff", "d/keep.jpg"} {
		if _, err := th.Process(ctx, b, k); err != nil {
			t.Fatal(err)
		}
	}
	// Still there: a delete event that arrives after a re-upload removes nothing.
	if removed, err := th.Delete(ctx, b, "d/x.tiff"); err != nil || len(removed) != 0 {
		t.Fatalf("delete of an existing source removed %v, %v", removed, err)
	}
	if err := b.Delete(ctx, "d/x.tiff"); err != nil {
		t.Fatal(err)
	}
	removed, err := th.Delete(ctx, b, "d/x.tiff")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"thumbnails/200x200/d/x.tiff.jpg", "thumbnails/50x50/d/x.tiff.jpg"}
	if strings.Join(removed, ",") != strings.Join(want, ",") {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, k := range want {
		if Exists(t, b, k) {
			t.Errorf("%q still exists", k)
		}
	}
	if !Exists(t, b, "thumbnails/200x200/d/keep.jpg") {
		t.Error("another source's thumbnail was removed")
	}
	if removed, err := th.Delete(ctx, b, "d/x.webp"); err != nil || len(removed) != 0 {
		t.Errorf("second delete: %v, %v; want nothing, no error", removed, err)
	}
}

func testNoRecursion(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	put(t, b, "p.jpg", pixeltest.JPEG(pixeltest.Photo(300, 200, 6), 90), "image/jpeg")
	if _, err := th.Process(ctx, b, "p.jpg"); err != nil {
		t.Fatal(err)
	}
	// The event for the thumbnail itself.
	res, err := th.Process(ctx, b, "thumbnails/200x200/p.jpg")
	if err != nil || res.Skipped == "" {
		t.Fatalf("thumbnail processed: %+v, %v", res, err)
	}
	// A thumbnail copied out of the prefix still carries the marker.
	if err := b.Copy(ctx, "copies/p.jpg", "thumbnails/200x200/p.jpg", nil); err != nil {
		t.Fatal(err)
	}
	res, err = th.Process(ctx, b, "copies/p.jpg")
	if err != nil || !strings.Contains(res.Skipped, "marker") {
		t.Fatalf("marked copy: %+v, %v; want skipped for its marker", res, err)
	}
	list := b.List(&blob.ListOptions{Prefix: "thumbnails/"})
	for {
		o, err := list.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("list thumbnails/: %v", err)
		}
		if strings.Count(o.Key, "thumbnails/") > 1 || strings.HasPrefix(o.Key, "thumbnails/200x200/thumbnails") ||
			strings.HasPrefix(o.Key, "thumbnails/200x200/copies") {
			t.Errorf("thumbnail of a thumbnail: %q", o.Key)
		}
	}
}

func testSeparateOutput(t *testing.T, open Opener) {
	src := openBucket(t, open)
	out := openBucket(t, open)
	ctx := context.Background()
	cfg := pipeline.DefaultConfig()
	th := newThumbnailer(t, cfg, out)
	put(t, src, "s.gif", pixeltest.GIF(pixeltest.Photo(300, 150, 7)), "image/gif")
	if _, err := th.Process(ctx, src, "s.gif"); err != nil {
		t.Fatal(err)
	}
	CheckVariant(t, out, "thumbnails/200x200/s.gif", "s.gif", "image/gif", 200, 100, true)
	if Exists(t, src, "thumbnails/200x200/s.gif") {
		t.Error("thumbnail written to the source bucket")
	}
	if err := src.Delete(ctx, "s.gif"); err != nil {
		t.Fatal(err)
	}
	if removed, err := th.Delete(ctx, src, "s.gif"); err != nil || len(removed) != 1 {
		t.Fatalf("delete: %v, %v", removed, err)
	}
}

func testSniffedFormat(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	put(t, b, "really-a.png.jpg", pixeltest.PNG(pixeltest.Photo(100, 80, 8)), "application/octet-stream")
	res, err := th.Process(ctx, b, "really-a.png.jpg")
	if err != nil {
		t.Fatal(err)
	}
	CheckVariant(t, b, "thumbnails/200x200/really-a.png.jpg.png", "really-a.png.jpg", "image/png", 100, 80, true)
	if res.Variants[0].Key != "thumbnails/200x200/really-a.png.jpg.png" {
		t.Errorf("variant key %q", res.Variants[0].Key)
	}
	put(t, b, "notes.jpg", []byte("these are not pixels, whatever the name says"), "image/jpeg")
	_, err = th.Process(ctx, b, "notes.jpg")
	if !errors.Is(err, pipeline.ErrUnsupported) || pipeline.Retryable(err) {
		t.Fatalf("text named .jpg: %v; want a permanent ErrUnsupported", err)
	}
}

func testAwkwardKeys(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	img := pixeltest.JPEG(pixeltest.Photo(120, 90, 9), 85)
	for _, key := range []string{"uploads/my photo+1.jpg", "uploads/ünïcødé/猫.jpg", "a/b/c/d/e.JPG", "100%.jpeg"} {
		put(t, b, key, img, "image/jpeg")
		if _, err := th.Process(ctx, b, key); err != nil {
			t.Fatalf("%q: %v", key, err)
		}
		CheckVariant(t, b, "thumbnails/200x200/"+key, key, "image/jpeg", 120, 90, true)
	}
}

func testCorrupt(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	full := pixeltest.JPEG(pixeltest.Photo(300, 300, 10), 90)
	put(t, b, "broken.jpg", full[:len(full)/3], "image/jpeg")
	_, err := th.Process(ctx, b, "broken.jpg")
	if !errors.Is(err, pipeline.ErrCorrupt) || pipeline.Retryable(err) || !strings.Contains(err.Error(), "broken.jpg") {
		t.Fatalf("truncated JPEG: %v; want a permanent ErrCorrupt naming the key", err)
	}
	if Exists(t, b, "thumbnails/200x200/broken.jpg") {
		t.Error("a thumbnail was written for a corrupt source")
	}
}

func testCollision(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	cfg := pipeline.DefaultConfig()
	cfg.Format = "jpeg"
	th := newThumbnailer(t, cfg, nil)
	put(t, b, "c/b.png", pixeltest.PNG(pixeltest.Photo(64, 64, 11)), "image/png")
	put(t, b, "c/b.png.jpg", pixeltest.JPEG(pixeltest.Photo(64, 64, 12), 90), "image/jpeg")
	if _, err := th.Process(ctx, b, "c/b.png"); err != nil {
		t.Fatal(err)
	}
	_, err := th.Process(ctx, b, "c/b.png.jpg")
	if !errors.Is(err, pipeline.ErrCollision) {
		t.Fatalf("second source for one thumbnail key: %v; want ErrCollision", err)
	}
	CheckVariant(t, b, "thumbnails/200x200/c/b.png.jpg", "c/b.png", "image/jpeg", 64, 64, true)
}

// processAsDoor runs Process as the doors do: a retryable error is retried,
// a few times.
func processAsDoor(t *testing.T, th *pipeline.Thumbnailer, b *blob.Bucket, key string) (pipeline.Result, error) {
	t.Helper()
	for try := 1; ; try++ {
		res, err := th.Process(context.Background(), b, key)
		if err == nil || !pipeline.Retryable(err) || try == 3 {
			return res, err
		}
		t.Logf("try %d: %v", try, err)
	}
}

// checkMarksCurrent asserts that the thumbnail at vkey is marked with the
// source's current ETag, where the storage gives one.
func checkMarksCurrent(t *testing.T, b *blob.Bucket, vkey, source string) {
	t.Helper()
	ctx := context.Background()
	src, err := b.Attributes(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	thumb, err := b.Attributes(ctx, vkey)
	if err != nil {
		t.Fatal(err)
	}
	if src.ETag != "" && thumb.Metadata[pipeline.MetaETag] != src.ETag {
		t.Errorf("%q is marked as made from %q; the source is %q", vkey, thumb.Metadata[pipeline.MetaETag], src.ETag)
	}
}

// testUploadDuringProcess: event 1 has read v1's attributes and opened its
// body when v2 is uploaded and its event fully handled; event 1 then writes
// v1's pixels. The thumbnail must end as v2's.
func testUploadDuringProcess(t *testing.T, open Opener) {
	base := openBucket(t, open)
	faults := faultblob.New(1)
	b := faultblob.Wrap(base, faults)
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	put(t, base, "race.jpg", pixeltest.JPEG(pixeltest.Photo(400, 400, 13), 90), "image/jpeg")
	raced := false
	// The first read of the source is the sniff; the second, its body.
	faults.AddHook(faultblob.Hook{Op: faultblob.Read, Key: "race.jpg", Skip: 1, Fn: func() {
		raced = true
		put(t, base, "race.jpg", pixeltest.JPEG(pixeltest.Photo(800, 400, 14), 90), "image/jpeg")
		if res, err := processAsDoor(t, th, base, "race.jpg"); err != nil || res.Written() != 1 {
			t.Errorf("event 2: %+v, %v", res, err)
		}
	}})
	if _, err := processAsDoor(t, th, b, "race.jpg"); err != nil {
		t.Fatalf("event 1: %v", err)
	}
	if !raced {
		t.Fatal("the second upload never happened: the hook did not run")
	}
	CheckVariant(t, base, "thumbnails/200x200/race.jpg", "race.jpg", "image/jpeg", 200, 100, true)
	checkMarksCurrent(t, base, "thumbnails/200x200/race.jpg", "race.jpg")
	// And nothing is left for a later event to fix.
	if res, err := th.Process(context.Background(), base, "race.jpg"); err != nil || res.Written() != 0 {
		t.Errorf("a later event: %+v, %v; want everything up to date", res, err)
	}
}

// testDeleteDuringProcess: the source is deleted, and its delete event
// handled, while its thumbnails are being made. None may be left behind.
func testDeleteDuringProcess(t *testing.T, open Opener) {
	base := openBucket(t, open)
	faults := faultblob.New(1)
	b := faultblob.Wrap(base, faults)
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	put(t, base, "brief.png", pixeltest.PNG(pixeltest.Photo(300, 300, 15)), "image/png")
	raced := false
	faults.AddHook(faultblob.Hook{Op: faultblob.Read, Key: "brief.png", Skip: 1, Fn: func() {
		raced = true
		if err := base.Delete(context.Background(), "brief.png"); err != nil {
			t.Error(err)
		}
		if _, err := th.Delete(context.Background(), base, "brief.png"); err != nil {
			t.Errorf("delete event: %v", err)
		}
	}})
	_, err := processAsDoor(t, th, b, "brief.png")
	if !raced {
		t.Fatal("the delete never happened: the hook did not run")
	}
	if !errors.Is(err, pipeline.ErrSourceGone) || pipeline.Retryable(err) {
		t.Errorf("process of a source deleted under it: %v; want a permanent ErrSourceGone", err)
	}
	if Exists(t, base, "thumbnails/200x200/brief.png") {
		t.Error("the thumbnail of a deleted source was left behind")
	}
}

// testUploadDuringDelete: a delete event finds the source gone; a new
// upload lands and its event is handled; the delete then removes the
// thumbnails it finds. The new upload's thumbnails must be there at the end.
func testUploadDuringDelete(t *testing.T, open Opener) {
	base := openBucket(t, open)
	faults := faultblob.New(1)
	b := faultblob.Wrap(base, faults)
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	ctx := context.Background()
	put(t, base, "back.jpg", pixeltest.JPEG(pixeltest.Photo(400, 400, 16), 90), "image/jpeg")
	if _, err := th.Process(ctx, base, "back.jpg"); err != nil {
		t.Fatal(err)
	}
	if err := base.Delete(ctx, "back.jpg"); err != nil {
		t.Fatal(err)
	}
	raced := false
	// Delete's first call is its check that the source is gone.
	faults.AddHook(faultblob.Hook{Op: faultblob.Attributes, Key: "back.jpg", Fn: func() {
		raced = true
		put(t, base, "back.jpg", pixeltest.JPEG(pixeltest.Photo(800, 400, 17), 90), "image/jpeg")
		if res, err := processAsDoor(t, th, base, "back.jpg"); err != nil || res.Written() != 1 {
			t.Errorf("the new upload's event: %+v, %v", res, err)
		}
	}})
	if _, err := th.Delete(ctx, b, "back.jpg"); err != nil {
		t.Fatalf("delete event: %v", err)
	}
	if !raced {
		t.Fatal("the new upload never happened: the hook did not run")
	}
	CheckVariant(t, base, "thumbnails/200x200/back.jpg", "back.jpg", "image/jpeg", 200, 100, true)
	checkMarksCurrent(t, base, "thumbnails/200x200/back.jpg", "back.jpg")
}
