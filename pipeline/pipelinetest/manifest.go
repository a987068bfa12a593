package pipelinetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// CheckManifest asserts that the manifest of source in out lists exactly
// the thumbnails of source that are in out (every key under prefix whose
// marker names source, but for the records), each with the bytes, pixels
// and Content-Type it has there, made from the source's current version,
// and that it carries the marker. It returns the manifest.
func CheckManifest(t *testing.T, th *pipeline.Thumbnailer, src, out *blob.Bucket, source string) *pipeline.Manifest {
	t.Helper()
	ctx := context.Background()
	cfg := th.Config()
	m, err := th.ReadManifest(ctx, src, source)
	if err != nil {
		t.Fatalf("manifest of %q: %v", source, err)
	}
	mkey := cfg.ManifestKey(source)
	a, err := out.Attributes(ctx, mkey)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := url.PathUnescape(a.Metadata[pipeline.MetaSource]); got != source || a.Metadata[pipeline.MetaKind] != pipeline.KindManifest {
		t.Errorf("manifest %q: marker %v, want the source %q and kind manifest", mkey, a.Metadata, source)
	}
	if a.ContentType != "application/json" {
		t.Errorf("manifest %q: Content-Type %q", mkey, a.ContentType)
	}
	sa, err := src.Attributes(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	if m.Schema != pipeline.ManifestSchema || m.Source.Key != source || m.Status != pipeline.ManifestStatusComplete {
		t.Errorf("manifest %+v: want schema %q, source %q, status complete", m, pipeline.ManifestSchema, source)
	}
	if sa.ETag != "" && m.Source.Version != sa.ETag || a.Metadata[pipeline.MetaETag] != m.Source.Version {
		t.Errorf("manifest version %q (marker %q), source ETag %q", m.Source.Version, a.Metadata[pipeline.MetaETag], sa.ETag)
	}
	if m.Source.Bytes != sa.Size || m.Source.Width <= 0 || m.Source.Height <= 0 || m.Source.Format == "" {
		t.Errorf("manifest source %+v; the source has %d bytes", m.Source, sa.Size)
	}
	if len(m.BlurHash) < 6 || len(m.DominantColor) != 7 || m.DominantColor[0] != '#' || m.Time.IsZero() {
		t.Errorf("manifest placeholder %q, colour %q, time %v", m.BlurHash, m.DominantColor, m.Time)
	}
	// What is actually there.
	var there []string
	it := out.List(&blob.ListOptions{Prefix: cfg.Prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		oa, err := out.Attributes(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if owner, _ := url.PathUnescape(oa.Metadata[pipeline.MetaSource]); owner == source && oa.Metadata[pipeline.MetaKind] == "" {
			there = append(there, o.Key)
		}
	}
	var listed []string
	for _, v := range m.Variants {
		listed = append(listed, v.Key)
		data, err := out.ReadAll(ctx, v.Key)
		if err != nil {
			t.Errorf("listed variant %q: %v", v.Key, err)
			continue
		}
		va, err := out.Attributes(ctx, v.Key)
		if err != nil {
			t.Fatal(err)
		}
		img, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Errorf("listed variant %q does not decode: %v", v.Key, err)
			continue
		}
		if img.Width != v.Width || img.Height != v.Height || int64(len(data)) != v.Bytes || va.ContentType != v.ContentType || format != v.Format {
			t.Errorf("listed variant %+v; the object is %dx%d %s, %d bytes, %s", v, img.Width, img.Height, format, len(data), va.ContentType)
		}
		if va.Metadata[pipeline.MetaETag] != m.Source.Version {
			t.Errorf("listed variant %q made from %q, the manifest's version is %q", v.Key, va.Metadata[pipeline.MetaETag], m.Source.Version)
		}
	}
	slices.Sort(there)
	slices.Sort(listed)
	if !slices.Equal(there, listed) {
		t.Errorf("manifest of %q lists %q; the bucket holds %q", source, listed, there)
	}
	return m
}

func testManifest(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 64, Height: 64, Mode: "fill"}}
	th := newThumbnailer(t, cfg, nil)
	// Orientation 6: stored 480×640, shown 640×480.
	put(t, b, "m/cat.jpg", pixeltest.OrientedJPEG(640, 480, 6), "image/jpeg")
	res, err := th.Process(ctx, b, "m/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest == nil {
		t.Fatal("Process returned no manifest")
	}
	m := CheckManifest(t, th, b, b, "m/cat.jpg")
	if m.Source.Width != 640 || m.Source.Height != 480 || m.Source.Format != "jpeg" {
		t.Errorf("source %+v, want a 640x480 jpeg", m.Source)
	}
	if len(m.Variants) != 2 || m.Variants[0].Box != "200x200" || m.Variants[0].Mode != "fit" || m.Variants[1].Mode != "fill" ||
		m.Variants[0].Width != 200 || m.Variants[0].Height != 150 || m.Variants[1].Width != 64 || m.Variants[1].Height != 64 {
		t.Errorf("variants %+v, want 200x150 fit then 64x64 fill", m.Variants)
	}
	if res.Manifest.BlurHash != m.BlurHash || res.Manifest.Source != m.Source {
		t.Errorf("Process returned %+v, stored %+v", res.Manifest, m)
	}
	// A re-run neither rewrites the manifest nor reads the source, and
	// still returns it.
	before, err := b.Attributes(ctx, cfg.ManifestKey("m/cat.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	res, err = th.Process(ctx, b, "m/cat.jpg")
	if err != nil || res.Written() != 0 || res.SourceBytes != 0 || res.Manifest == nil || res.Manifest.BlurHash != m.BlurHash {
		t.Fatalf("re-run: %+v, %v; want nothing written, the manifest returned", res, err)
	}
	after, err := b.Attributes(ctx, cfg.ManifestKey("m/cat.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if before.ETag != after.ETag || !before.ModTime.Equal(after.ModTime) {
		t.Error("a re-run rewrote the manifest")
	}
	// Without its manifest (thumbnails made before there were manifests),
	// the next run writes it from the thumbnails' attributes alone.
	if err := b.Delete(ctx, cfg.ManifestKey("m/cat.jpg")); err != nil {
		t.Fatal(err)
	}
	res, err = th.Process(ctx, b, "m/cat.jpg")
	if err != nil || res.Written() != 0 || res.SourceBytes != 0 {
		t.Fatalf("run without a manifest: %+v, %v; want no thumbnail rewritten", res, err)
	}
	again := CheckManifest(t, th, b, b, "m/cat.jpg")
	if fmt.Sprint(again.Variants) != fmt.Sprint(m.Variants) || again.Source != m.Source || again.BlurHash != m.BlurHash || again.DominantColor != m.DominantColor {
		t.Errorf("rebuilt manifest %+v, want %+v", again, m)
	}
	// Thumbnails made before they recorded their sizes: the manifest reads
	// their headers, and the source's.
	for _, v := range m.Variants {
		a, err := b.Attributes(ctx, v.Key)
		if err != nil {
			t.Fatal(err)
		}
		data, err := b.ReadAll(ctx, v.Key)
		if err != nil {
			t.Fatal(err)
		}
		old := map[string]string{}
		for _, k := range []string{pipeline.MetaSource, pipeline.MetaETag, pipeline.MetaConfig} {
			old[k] = a.Metadata[k]
		}
		if err := b.WriteAll(ctx, v.Key, data, &blob.WriterOptions{ContentType: a.ContentType, Metadata: old}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, cfg.ManifestKey("m/cat.jpg")); err != nil {
		t.Fatal(err)
	}
	if res, err := th.Process(ctx, b, "m/cat.jpg"); err != nil || res.Written() != 0 {
		t.Fatalf("run over older thumbnails: %+v, %v; want none rewritten", res, err)
	}
	if again := CheckManifest(t, th, b, b, "m/cat.jpg"); fmt.Sprint(again.Variants) != fmt.Sprint(m.Variants) || again.Source != m.Source {
		t.Errorf("manifest of older thumbnails %+v, want %+v", again, m)
	}
	// A size added: the manifest lists it.
	cfg.Sizes = append(cfg.Sizes, pipeline.Size{Width: 32, Height: 32, Mode: "fit"})
	th = newThumbnailer(t, cfg, nil)
	if res, err := th.Process(ctx, b, "m/cat.jpg"); err != nil || res.Written() != 1 {
		t.Fatalf("new size: %+v, %v", res, err)
	}
	if m := CheckManifest(t, th, b, b, "m/cat.jpg"); len(m.Variants) != 3 {
		t.Errorf("manifest after a size was added lists %d variants", len(m.Variants))
	}
}

// testManifestNoRecursion: a manifest and a failure record are never
// processed as sources, wherever they lie.
func testManifestNoRecursion(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	cfg := th.Config()
	put(t, b, "r.jpg", pixeltest.JPEG(pixeltest.Photo(300, 200, 22), 90), "image/jpeg")
	full := pixeltest.JPEG(pixeltest.Photo(300, 300, 23), 90)
	put(t, b, "bad.jpg", full[:len(full)/3], "image/jpeg")
	if _, err := th.Process(ctx, b, "r.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Process(ctx, b, "bad.jpg"); !errors.Is(err, pipeline.ErrCorrupt) {
		t.Fatalf("corrupt: %v", err)
	}
	for _, rkey := range []string{cfg.ManifestKey("r.jpg"), cfg.FailureKey("bad.jpg")} {
		// The event for the record itself: skipped by the prefix.
		res, err := th.Process(ctx, b, rkey)
		if err != nil || res.Skipped == "" {
			t.Errorf("%q processed: %+v, %v", rkey, res, err)
		}
		// Copied out of the prefix: skipped for its marker.
		copied := "copies/" + rkey[strings.LastIndex(rkey, "/")+1:]
		if err := b.Copy(ctx, copied, rkey, nil); err != nil {
			t.Fatal(err)
		}
		res, err = th.Process(ctx, b, copied)
		if err != nil || !strings.Contains(res.Skipped, "marker") {
			t.Errorf("%q copied to %q: %+v, %v; want skipped for its marker", rkey, copied, res, err)
		}
		if _, err := th.ReadManifest(ctx, b, copied); !errors.Is(err, pipeline.ErrNoRecord) {
			t.Errorf("a copied record got a manifest of its own: %v", err)
		}
	}
	// The config guard: an include glob that matches records is refused.
	bad := pipeline.DefaultConfig()
	bad.Include = []string{"**/*.json"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "manifests/") {
		t.Errorf("include **/*.json: %v; want it refused for matching the manifests", err)
	}
}

func testDeleteAfterSizeChange(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	old := pipeline.DefaultConfig()
	old.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 64, Height: 64, Mode: "fill"}}
	put(t, b, "sz/a.png", pixeltest.PNG(pixeltest.Photo(300, 200, 24)), "image/png")
	put(t, b, "sz/keep.png", pixeltest.PNG(pixeltest.Photo(300, 200, 25)), "image/png")
	th := newThumbnailer(t, old, nil)
	for _, k := range []string{"sz/a.png", "sz/keep.png"} {
		if _, err := th.Process(ctx, b, k); err != nil {
			t.Fatal(err)
		}
	}
	// Now 64x64 is gone from the configuration and every thumbnail is JPEG.
	now := pipeline.DefaultConfig()
	now.Format = "jpeg"
	th = newThumbnailer(t, now, nil)
	if err := b.Delete(ctx, "sz/a.png"); err != nil {
		t.Fatal(err)
	}
	removed, err := th.Delete(ctx, b, "sz/a.png")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"thumbnails/200x200/sz/a.png", "thumbnails/64x64/sz/a.png"}
	slices.Sort(removed)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	for _, k := range append(want, now.ManifestKey("sz/a.png")) {
		if Exists(t, b, k) {
			t.Errorf("%q left behind", k)
		}
	}
	CheckManifest(t, th, b, b, "sz/keep.png")
}

func testFailureRecord(t *testing.T, open Opener) {
	b := openBucket(t, open)
	ctx := context.Background()
	th := newThumbnailer(t, pipeline.DefaultConfig(), nil)
	cfg := th.Config()
	full := pixeltest.JPEG(pixeltest.Photo(300, 300, 26), 90)
	put(t, b, "f/up.jpg", full[:len(full)/3], "image/jpeg")
	res, err := th.ProcessAttempt(ctx, b, "f/up.jpg", 3)
	if !errors.Is(err, pipeline.ErrCorrupt) || pipeline.Retryable(err) {
		t.Fatalf("corrupt upload: %v", err)
	}
	sa, err := b.Attributes(ctx, "f/up.jpg")
	if err != nil {
		t.Fatal(err)
	}
	f, err := th.ReadFailure(ctx, b, "f/up.jpg")
	if err != nil {
		t.Fatalf("no failure record: %v", err)
	}
	if res.Failure == nil || *res.Failure != *f {
		t.Errorf("Process returned failure %+v, stored %+v", res.Failure, f)
	}
	if f.Schema != pipeline.FailureSchema || f.Key != "f/up.jpg" || f.Class != "corrupt" || f.Attempts != 3 ||
		!strings.Contains(f.Reason, "corrupt image") || f.Time.IsZero() || sa.ETag != "" && f.Version != sa.ETag {
		t.Errorf("failure record %+v", f)
	}
	var listed []string
	if err := th.Failures(ctx, b, "f/", func(f *pipeline.Failure) error { listed = append(listed, f.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, []string{"f/up.jpg"}) {
		t.Errorf("failures under f/: %q", listed)
	}
	if _, err := th.ReadManifest(ctx, b, "f/up.jpg"); !errors.Is(err, pipeline.ErrNoRecord) {
		t.Errorf("a failed source has a manifest: %v", err)
	}
	// A duplicated event: the record is written again, harmlessly.
	if _, err := th.Process(ctx, b, "f/up.jpg"); !errors.Is(err, pipeline.ErrCorrupt) {
		t.Fatal(err)
	}
	// A good file replaces it: thumbnails, a manifest, and no record.
	put(t, b, "f/up.jpg", full, "image/jpeg")
	if _, err := th.Process(ctx, b, "f/up.jpg"); err != nil {
		t.Fatal(err)
	}
	if Exists(t, b, cfg.FailureKey("f/up.jpg")) {
		t.Error("the failure record outlived a success")
	}
	CheckManifest(t, th, b, b, "f/up.jpg")
	listed = nil
	if err := th.Failures(ctx, b, "", func(f *pipeline.Failure) error { listed = append(listed, f.Key); return nil }); err != nil || len(listed) != 0 {
		t.Errorf("failures after the fix: %q, %v", listed, err)
	}
}

// testPruneWhileUploading: prune removes the thumbnails of a size no longer
// configured, and the thumbnails and records of deleted sources (their
// delete events lost), and nothing else, while uploads go on: one that
// lands, and is processed, between prune's finding a source gone and its
// removing the source's thumbnails; and a stream of others, concurrently.
func testPruneWhileUploading(t *testing.T, open Opener) {
	base := openBucket(t, open)
	faults := faultblob.New(1)
	b := faultblob.Wrap(base, faults)
	ctx := context.Background()
	old := pipeline.DefaultConfig()
	old.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 64, Height: 64, Mode: "fit"}}
	th := newThumbnailer(t, old, nil)
	img := func(seed uint64) []byte { return pixeltest.JPEG(pixeltest.Photo(240, 160, seed), 85) }
	for i, k := range []string{"p/live.jpg", "p/gone.jpg", "p/back.jpg"} {
		put(t, base, k, img(uint64(30+i)), "image/jpeg")
		if _, err := th.Process(ctx, base, k); err != nil {
			t.Fatal(err)
		}
	}
	full := img(33)
	put(t, base, "p/broken.jpg", full[:len(full)/3], "image/jpeg")
	if _, err := th.Process(ctx, base, "p/broken.jpg"); !errors.Is(err, pipeline.ErrCorrupt) {
		t.Fatal(err)
	}
	// Deleted without their delete events.
	for _, k := range []string{"p/gone.jpg", "p/back.jpg", "p/broken.jpg"} {
		if err := base.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	// The configuration drops 64x64; live.jpg's manifest is rewritten.
	now := pipeline.DefaultConfig()
	th = newThumbnailer(t, now, nil)
	if _, err := th.Process(ctx, base, "p/live.jpg"); err != nil {
		t.Fatal(err)
	}
	// back.jpg is uploaded again, and processed, right after prune found
	// it gone.
	raced := false
	faults.AddHook(faultblob.Hook{Op: faultblob.Attributes, Key: "p/back.jpg", Fn: func() {
		raced = true
		put(t, base, "p/back.jpg", img(34), "image/jpeg")
		if _, err := th.Process(ctx, base, "p/back.jpg"); err != nil {
			t.Errorf("the new upload's event: %v", err)
		}
	}})
	// Meanwhile, other uploads stream in, each processed as its event
	// comes.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var uploaded []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Sprintf("p/new/%03d.jpg", i)
			put(t, base, k, img(uint64(100+i)), "image/jpeg")
			if _, err := th.Process(ctx, base, k); err != nil {
				t.Errorf("upload %q: %v", k, err)
				return
			}
			uploaded = append(uploaded, k)
			if i >= 200 {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var reasons []string
	res, err := th.Prune(ctx, b, pipeline.PruneOptions{Removed: func(k, why string) { reasons = append(reasons, k+": "+why) }})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !raced {
		t.Fatal("back.jpg was never uploaded again: the hook did not run")
	}
	t.Logf("removed %d, kept %d, remade %q, %d uploads meanwhile", len(res.Removed), res.Kept, res.Remade, len(uploaded))
	for _, r := range reasons {
		t.Log(r)
	}
	for _, k := range []string{
		"thumbnails/64x64/p/live.jpg",
		"thumbnails/200x200/p/gone.jpg", "thumbnails/64x64/p/gone.jpg", now.ManifestKey("p/gone.jpg"),
		"thumbnails/64x64/p/back.jpg", now.FailureKey("p/broken.jpg"),
	} {
		if !slices.Contains(res.Removed, k) {
			t.Errorf("%q not pruned", k)
		}
		if Exists(t, base, k) {
			t.Errorf("%q left behind", k)
		}
	}
	// Nothing else: every live source keeps its thumbnails and manifest.
	for _, k := range append([]string{"p/live.jpg", "p/back.jpg"}, uploaded...) {
		CheckVariant(t, base, "thumbnails/200x200/"+k, k, "image/jpeg", 200, 200, false)
		checkMarksCurrent(t, base, "thumbnails/200x200/"+k, k)
		CheckManifest(t, th, base, base, k)
	}
	// A second prune finds nothing.
	if again, err := th.Prune(ctx, base, pipeline.PruneOptions{DryRun: true}); err != nil || len(again.Removed) != 0 {
		t.Errorf("second prune would remove %q, %v", again.Removed, err)
	}
}
