// Package doortest is the delivery conformance suite every door runs, as
// go-cloud's blob/drivertest runs against every driver. Platforms deliver
// events at least once: twice, concurrently, late, out of order, about an
// object since replaced or deleted. Whatever the order, one correct set of
// thumbnails must remain — that of the object as it is now — a transient
// storage failure must be answered with a retry that later succeeds, and a
// permanent failure must be acknowledged.
//
// A door takes part through a small adapter: given the source bucket (which
// the suite fills and may make fail), it returns a [Door] that delivers a
// created or removed event for a key through the door's real entry point
// and reports the door's answer.
package doortest

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"io"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// Key is the source key every case uses.
const Key = "uploads/d.jpg"

// Config is the pipeline configuration a door under test must use: two
// small sizes (the pixel code is slow under the race detector).
func Config() pipeline.Config {
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 64, Height: 64, Mode: "fit"}, {Width: 32, Height: 32, Mode: "fill"}}
	return cfg
}

// Delivery is one event to deliver.
type Delivery struct {
	Action door.Action // Created or Removed
	Key    string
	// Version names the object version the event is about (an S3 eTag, a
	// generation): "v1" for the first upload of a case, "v2" for the next.
	Version string
}

// Answer is what a door answered to a delivery.
type Answer struct {
	Retry   bool   // the platform is told to deliver the event again
	Written int    // thumbnails written
	Failed  string // the text of a permanent failure that was acknowledged; "" if none
}

// Door delivers events through a door's real entry point. Deliver is
// called from several goroutines at once in the concurrent case; an
// adapter for a door that never sees concurrent deliveries may serialize.
type Door interface {
	Deliver(t *testing.T, d Delivery) Answer
}

// Maker returns a new door whose events name one bucket, served by src.
// The door must use [Config].
type Maker func(t *testing.T, src *blob.Bucket) Door

// Run runs the suite against the doors newDoor returns.
func Run(t *testing.T, newDoor Maker) {
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, newDoor) })
	t.Run("TransientFailureIsRetried", func(t *testing.T) { testTransient(t, newDoor) })
	t.Run("PermanentFailureIsAcknowledged", func(t *testing.T) { testPermanent(t, newDoor) })
	t.Run("WebPWithAlpha", func(t *testing.T) { testWebP(t, newDoor) })
	t.Run("HEIC", func(t *testing.T) { testHEIC(t, newDoor) })
}

// HEICKey is the key of the phone photo the HEIC case uploads.
const HEICKey = "uploads/phone.heic"

// testHEIC: a photo as an iPhone stores it (HEVC tiles in a grid, a
// thumbnail item, turned by irot) gets upright JPEG thumbnails.
func testHEIC(t *testing.T, newDoor Maker) {
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	d := newDoor(t, b)
	if err := b.WriteAll(context.Background(), HEICKey, pixeltest.File("grid.heic"), &blob.WriterOptions{ContentType: "image/heic"}); err != nil {
		t.Fatal(err)
	}
	if a := d.Deliver(t, Delivery{Action: door.Created, Key: HEICKey, Version: "v1"}); a.Retry || a.Failed != "" || a.Written != 2 {
		t.Fatalf("answered %+v, want 2 thumbnails written", a)
	}
	// grid.heic is 640x480 stored, turned a quarter (EXIF 6): seen
	// 480x640, its 64x64 thumbnail is 48 wide.
	img := pipelinetest.CheckVariant(t, b, "thumbnails/64x64/"+HEICKey+".jpg", HEICKey, "image/jpeg", 48, 64, true)
	if got := img.Bounds().Size(); got.X != 48 || got.Y != 64 {
		t.Errorf("64x64 thumbnail %v, want 48x64 (upright)", got)
	}
	pipelinetest.CheckVariant(t, b, "thumbnails/32x32/"+HEICKey+".jpg", HEICKey, "image/jpeg", 32, 32, true)
}

// The two versions of the object: their 64x64 thumbnails are 64 and 48
// wide, which tells which one a thumbnail shows.
var (
	landscape = pixeltest.JPEG(pixeltest.Photo(160, 120, 1), 85)
	portrait  = pixeltest.JPEG(pixeltest.Photo(120, 160, 2), 85)
)

func created(v string) Delivery { return Delivery{Action: door.Created, Key: Key, Version: v} }
func removed(v string) Delivery { return Delivery{Action: door.Removed, Key: Key, Version: v} }

func testDeliveries(t *testing.T, newDoor Maker) {
	type step struct {
		put        []byte     // upload this as the key first
		remove     bool       // delete the key first
		deliver    []Delivery // then deliver these, in order...
		concurrent bool       // ...or all at once
	}
	c1, c2, r1 := created("v1"), created("v2"), removed("v1")
	tests := []struct {
		name        string
		steps       []step
		wantW       int // width of the 64x64 thumbnail (which version it shows); 0: no thumbnails
		wantWritten int // thumbnails written over all deliveries; -1: not checked
	}{
		{"duplicate, sequential", []step{{put: landscape, deliver: []Delivery{c1, c1, c1}}}, 64, 2},
		{"duplicate, concurrent", []step{{put: landscape, deliver: []Delivery{c1, c1, c1, c1, c1, c1}, concurrent: true}}, 64, -1},
		{"out of order: the older upload's event arrives last", []step{{put: landscape}, {put: portrait, deliver: []Delivery{c2, c1}}}, 48, 2},
		{"stale version: the event names an object since replaced", []step{
			{put: landscape, deliver: []Delivery{c1}}, {put: portrait, deliver: []Delivery{c1}}}, 48, 4},
		{"redelivered after an overwrite", []step{
			{put: landscape, deliver: []Delivery{c1}}, {put: portrait, deliver: []Delivery{c2, r1, c2}}}, 48, 4},
		{"create event for an object already deleted", []step{
			{put: landscape, deliver: []Delivery{c1}}, {remove: true, deliver: []Delivery{r1, c1, r1}}}, 0, 2},
		{"old delete event after a new upload of the key", []step{
			{put: landscape, deliver: []Delivery{c1}}, {remove: true}, {put: portrait, deliver: []Delivery{r1, c2}}}, 48, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := memblob.OpenBucket(nil)
			t.Cleanup(func() { b.Close() })
			d := newDoor(t, b)
			var mu sync.Mutex
			written := 0
			deliver := func(dl Delivery) {
				a := d.Deliver(t, dl)
				if a.Retry {
					t.Errorf("%+v: answered retry, want it acknowledged", dl)
				}
				if a.Failed != "" && !strings.Contains(a.Failed, "not found") {
					t.Errorf("%+v: failed: %s", dl, a.Failed)
				}
				mu.Lock()
				written += a.Written
				mu.Unlock()
			}
			for _, s := range tc.steps {
				if s.put != nil {
					Put(t, b, Key, s.put)
				}
				if s.remove {
					if err := b.Delete(ctx, Key); err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				for _, dl := range s.deliver {
					if s.concurrent {
						wg.Go(func() { deliver(dl) })
					} else {
						deliver(dl)
					}
				}
				wg.Wait()
			}
			CheckThumbnails(t, b, tc.wantW)
			if tc.wantWritten >= 0 && written != tc.wantWritten {
				t.Errorf("%d thumbnails written over all deliveries, want %d", written, tc.wantWritten)
			}
		})
	}
}

// testTransient: a storage outage is answered with a retry, and the
// redelivery, once storage is back, makes the thumbnails.
func testTransient(t *testing.T, newDoor Maker) {
	for _, op := range []faultblob.Op{faultblob.Attributes, faultblob.Read, faultblob.Close} {
		t.Run(string(op), func(t *testing.T) {
			mem := memblob.OpenBucket(nil)
			t.Cleanup(func() { mem.Close() })
			faults := faultblob.New(1)
			d := newDoor(t, faultblob.Wrap(mem, faults))
			Put(t, mem, Key, landscape)
			faults.Add(faultblob.Rule{Op: op, Times: 1000})
			if a := d.Deliver(t, created("v1")); !a.Retry || a.Failed != "" {
				t.Errorf("%s outage: answered %+v, want a retry", op, a)
			}
			CheckThumbnails(t, mem, 0)
			faults.Clear()
			if a := d.Deliver(t, created("v1")); a.Retry || a.Written != 2 || a.Failed != "" {
				t.Errorf("redelivery: answered %+v, want 2 thumbnails written and acknowledged", a)
			}
			CheckThumbnails(t, mem, 64)
		})
	}
}

// testPermanent: a corrupt image, a JPEG whose scans break their
// progression and one of more scans than the decoder reads are each
// acknowledged with their failure, and redelivering one is acknowledged
// again and writes nothing.
func testPermanent(t *testing.T, newDoor Maker) {
	for _, tc := range []struct {
		name  string
		data  []byte
		class string
	}{
		{"a corrupt image", landscape[:len(landscape)/3], "corrupt"},
		{"a JPEG of one scan repeated", pixeltest.ScanBomb(256, 256, 1000), "corrupt"},
		{"a JPEG of too many scans", pixeltest.ManyScans(64, 64, 600), "too-expensive"},
	} {
		b := memblob.OpenBucket(nil)
		t.Cleanup(func() { b.Close() })
		d := newDoor(t, b)
		Put(t, b, Key, tc.data)
		if a := d.Deliver(t, created("v1")); a.Retry || a.Failed == "" || a.Written != 0 {
			t.Errorf("%s: answered %+v, want a permanent failure, acknowledged", tc.name, a)
		}
		// A door may remember the failure (watch does) or fail again.
		if a := d.Deliver(t, created("v1")); a.Retry || a.Written != 0 {
			t.Errorf("%s again: answered %+v, want it acknowledged", tc.name, a)
		}
		CheckThumbnails(t, b, 0)
		CheckFailure(t, b, tc.class)
	}
}

// WebPKey is the key of the WebP source of the WebP case.
const WebPKey = "uploads/w.webp"

// testWebP: a translucent WebP source gets WebP thumbnails (auto keeps
// WebP), under keys that keep its name, with Content-Type image/webp and
// its transparency.
func testWebP(t *testing.T, newDoor Maker) {
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	d := newDoor(t, b)
	src := image.NewNRGBA(image.Rect(0, 0, 160, 120))
	for y := range 120 {
		for x := 80; x < 160; x++ { // the left half transparent
			src.SetNRGBA(x, y, color.NRGBA{G: 200, A: 255})
		}
	}
	var data bytes.Buffer
	if err := pixels.EncodeWith(&data, src, pixels.WebP, pixels.EncodeOptions{Lossless: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(context.Background(), WebPKey, data.Bytes(), &blob.WriterOptions{ContentType: "image/webp"}); err != nil {
		t.Fatal(err)
	}
	if a := d.Deliver(t, Delivery{Action: door.Created, Key: WebPKey, Version: "v1"}); a.Retry || a.Failed != "" || a.Written != 2 {
		t.Fatalf("a WebP: answered %+v, want 2 thumbnails written and acknowledged", a)
	}
	for _, size := range []struct {
		box   string
		w, h  int
		exact bool
	}{{"64x64", 64, 48, true}, {"32x32", 32, 32, true}} {
		img := pipelinetest.CheckVariant(t, b, "thumbnails/"+size.box+"/"+WebPKey, WebPKey, "image/webp", size.w, size.h, size.exact)
		left := color.NRGBAModel.Convert(img.At(1, 1)).(color.NRGBA)
		right := color.NRGBAModel.Convert(img.At(img.Bounds().Dx()-2, 1)).(color.NRGBA)
		if left.A != 0 || right.A != 255 {
			t.Errorf("%s thumbnail: alpha %d on the transparent side, %d on the opaque one; want 0 and 255", size.box, left.A, right.A)
		}
	}
}

// CheckFailure checks that b holds the failure record of Key, of class,
// made from its current version.
func CheckFailure(t *testing.T, b *blob.Bucket, class string) {
	t.Helper()
	ctx := context.Background()
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := th.ReadFailure(ctx, b, Key)
	if err != nil {
		t.Fatalf("no failure record: %v", err)
	}
	src, err := b.Attributes(ctx, Key)
	if err != nil {
		t.Fatal(err)
	}
	if f.Key != Key || f.Class != class || f.Attempts < 1 || !strings.Contains(src.ETag, f.Version) {
		t.Errorf("failure record %+v, want %s's, class %s, version %s", f, Key, class, src.ETag)
	}
}

// Put writes data at key.
func Put(t *testing.T, b *blob.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.WriteAll(context.Background(), key, data, &blob.WriterOptions{ContentType: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
}

// CheckThumbnails checks that b holds exactly the two thumbnails of Key and
// its manifest, made from its current version, with a 64x64 thumbnail wantW
// wide; or, with wantW 0, no thumbnail and no manifest at all. Failure
// records (under thumbnails/failures/) are left to [CheckFailure].
func CheckThumbnails(t *testing.T, b *blob.Bucket, wantW int) {
	t.Helper()
	ctx := context.Background()
	var thumbs []string
	it := b.List(&blob.ListOptions{Prefix: "thumbnails/"})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		if !strings.HasPrefix(obj.Key, "thumbnails/"+pipeline.FailureDir) {
			thumbs = append(thumbs, obj.Key)
		}
	}
	if wantW == 0 {
		if len(thumbs) != 0 {
			t.Fatalf("thumbnails %q, want none", thumbs)
		}
		return
	}
	manifest := "thumbnails/" + pipeline.ManifestDir + Key + ".json"
	if want := []string{"thumbnails/32x32/" + Key, "thumbnails/64x64/" + Key, manifest}; strings.Join(thumbs, ",") != strings.Join(want, ",") {
		t.Fatalf("thumbnails %q, want %q", thumbs, want)
	}
	img := pipelinetest.CheckVariant(t, b, "thumbnails/64x64/"+Key, Key, "image/jpeg", 64, 64, false)
	if w := img.Bounds().Dx(); w != wantW {
		t.Errorf("the 64x64 thumbnail is %d wide, want %d: it shows another version of the object", w, wantW)
	}
	pipelinetest.CheckVariant(t, b, "thumbnails/32x32/"+Key, Key, "image/jpeg", 32, 32, true)
	src, err := b.Attributes(ctx, Key)
	if err != nil {
		t.Fatal(err)
	}
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := pipelinetest.CheckManifest(t, th, b, b, Key); len(m.Variants) != 2 || m.Variants[0].Width != wantW {
		t.Errorf("manifest lists %+v, want two thumbnails, the 64x64 one %d wide", m.Variants, wantW)
	}
	for _, k := range thumbs {
		a, err := b.Attributes(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if e := a.Metadata[pipeline.MetaETag]; e == "" || !strings.Contains(src.ETag, e) {
			t.Errorf("%s names source ETag %q, the source's is %s", k, e, src.ETag)
		}
	}
}
