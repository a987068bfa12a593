package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// Cloud triggers deliver at least once: twice, late, out of order. These
// tests replay such deliveries against the core and check that exactly one
// correct set of thumbnails, matching the object as it is now, remains.

func deliverySetup(t *testing.T) (context.Context, *blob.Bucket, *pipeline.Thumbnailer) {
	t.Helper()
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 64, Height: 64, Mode: "fill"}}
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return context.Background(), b, th
}

func TestDuplicateEventsSequential(t *testing.T) {
	ctx, b, th := deliverySetup(t)
	if err := b.WriteAll(ctx, "d.jpg", pixeltest.JPEG(pixeltest.Photo(600, 300, 1), 90), nil); err != nil {
		t.Fatal(err)
	}
	written := 0
	for i := 0; i < 5; i++ {
		res, err := th.Process(ctx, b, "d.jpg")
		if err != nil {
			t.Fatal(err)
		}
		written += res.Written()
	}
	if written != 2 {
		t.Errorf("5 deliveries wrote %d thumbnails; want 2 (one per size, once)", written)
	}
	pipelinetest.CheckVariant(t, b, "thumbnails/200x200/d.jpg", "d.jpg", "image/jpeg", 200, 100, true)
}

func TestDuplicateEventsConcurrent(t *testing.T) {
	ctx, b, th := deliverySetup(t)
	if err := b.WriteAll(ctx, "c.jpg", pixeltest.JPEG(pixeltest.Photo(600, 300, 1), 90), nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := th.Process(ctx, b, "c.jpg"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assertKeys(t, b, "thumbnails/", "thumbnails/200x200/c.jpg", "thumbnails/64x64/c.jpg", "thumbnails/manifests/c.jpg.json")
	pipelinetest.CheckVariant(t, b, "thumbnails/64x64/c.jpg", "c.jpg", "image/jpeg", 64, 64, true)
	res, err := th.Process(ctx, b, "c.jpg")
	if err != nil || res.Written() != 0 {
		t.Errorf("after concurrent duplicates the thumbnails are not up to date: %+v, %v", res, err)
	}
}

// TestOutOfOrder: the event of an older upload arrives after the newer
// upload was processed. Thumbnails must stay those of the newer object.
func TestOutOfOrder(t *testing.T) {
	ctx, b, th := deliverySetup(t)
	if err := b.WriteAll(ctx, "o.jpg", pixeltest.JPEG(pixeltest.Photo(400, 400, 1), 90), nil); err != nil {
		t.Fatal(err)
	}
	// The newer upload replaces it before any event is handled.
	if err := b.WriteAll(ctx, "o.jpg", pixeltest.JPEG(pixeltest.Photo(800, 200, 2), 90), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Process(ctx, b, "o.jpg"); err != nil { // newer event
		t.Fatal(err)
	}
	res, err := th.Process(ctx, b, "o.jpg") // older event, late
	if err != nil || res.Written() != 0 {
		t.Fatalf("late older event: %+v, %v; want nothing written", res, err)
	}
	pipelinetest.CheckVariant(t, b, "thumbnails/200x200/o.jpg", "o.jpg", "image/jpeg", 200, 50, true)
}

// TestStaleETag: the event names an ETag the object no longer has; the core
// reads the object as it is now.
func TestStaleETag(t *testing.T) {
	ctx, b, th := deliverySetup(t)
	if err := b.WriteAll(ctx, "e.png", pixeltest.PNG(pixeltest.Photo(300, 300, 1)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Process(ctx, b, "e.png"); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "e.png", pixeltest.PNG(pixeltest.Photo(100, 50, 2)), nil); err != nil {
		t.Fatal(err)
	}
	a, err := b.Attributes(ctx, "e.png")
	if err != nil {
		t.Fatal(err)
	}
	res, err := th.Process(ctx, b, "e.png") // the first upload's event, redelivered
	if err != nil || res.Written() != 2 {
		t.Fatalf("%+v, %v; want both sizes rewritten from the current object", res, err)
	}
	pipelinetest.CheckVariant(t, b, "thumbnails/200x200/e.png", "e.png", "image/png", 100, 50, true)
	ta, err := b.Attributes(ctx, "thumbnails/200x200/e.png")
	if err != nil {
		t.Fatal(err)
	}
	if ta.Metadata[pipeline.MetaETag] != a.ETag {
		t.Errorf("marker ETag %q, want the current object's %q", ta.Metadata[pipeline.MetaETag], a.ETag)
	}
}

// TestEventForDeletedObject: the put event arrives after the object was
// deleted; nothing is written and the error is permanent.
func TestEventForDeletedObject(t *testing.T) {
	ctx, b, th := deliverySetup(t)
	_, err := th.Process(ctx, b, "gone.jpg")
	if !errors.Is(err, pipeline.ErrSourceGone) || pipeline.Retryable(err) {
		t.Fatalf("got %v; want a permanent ErrSourceGone", err)
	}
	assertKeys(t, b, "thumbnails/")
	// The delete event, delivered twice.
	for i := 0; i < 2; i++ {
		if removed, err := th.Delete(ctx, b, "gone.jpg"); err != nil || len(removed) != 0 {
			t.Fatalf("delete %d: %v, %v", i, removed, err)
		}
	}
}

// assertKeys checks that the keys under prefix are exactly want.
func assertKeys(t *testing.T, b *blob.Bucket, prefix string, want ...string) {
	t.Helper()
	var got []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		got = append(got, o.Key)
	}
	if len(got) != len(want) {
		t.Fatalf("keys under %q: %q, want %q", prefix, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("keys under %q: %q, want %q", prefix, got, want)
		}
	}
}

// TestRandomFaults processes many objects through storage that fails a
// seeded fifth of all calls, retrying as the doors do (retryable errors
// only). Every object ends with complete, decodable thumbnails, permanent
// errors are never retried, and no thumbnail key ever holds a partial object.
func TestRandomFaults(t *testing.T) {
	ctx := context.Background()
	base := memblob.OpenBucket(nil)
	defer base.Close()
	faults := faultblob.New(42)
	b := faultblob.Wrap(base, faults)
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 64, Height: 64, Mode: "fit"}, {Width: 32, Height: 32, Mode: "fill"}}
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("f/%02d.jpg", i)
		if err := base.WriteAll(ctx, keys[i], pixeltest.JPEG(pixeltest.Photo(96+i, 80, uint64(i)), 85), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := base.WriteAll(ctx, "f/corrupt.jpg", []byte{0xFF, 0xD8, 0xFF, 0xDB, 0, 1}, nil); err != nil {
		t.Fatal(err)
	}
	for _, op := range []faultblob.Op{faultblob.Attributes, faultblob.Read, faultblob.Write, faultblob.Close, faultblob.Delete} {
		faults.Add(faultblob.Rule{Op: op, Rate: 0.2})
	}
	attempts := 0
	for _, key := range append(keys, "f/corrupt.jpg") {
		for try := 1; ; try++ {
			attempts++
			_, err := th.Process(ctx, b, key)
			if err == nil {
				break
			}
			if !pipeline.Retryable(err) {
				if key != "f/corrupt.jpg" {
					t.Fatalf("%s: permanent error %v", key, err)
				}
				break
			}
			// A fifth of all calls fail and an attempt makes some fifteen
			// (one of them the check that the source did not change after
			// writing), so a few keys take dozens of attempts.
			if try == 100 {
				t.Fatalf("%s: still failing after %d tries: %v", key, try, err)
			}
		}
	}
	faults.Clear()
	t.Logf("%d objects, %d attempts, %d faults injected", n+1, attempts, faults.Injected())
	if faults.Injected() < n/2 {
		t.Errorf("only %d faults injected; the test is not testing much", faults.Injected())
	}
	for _, key := range keys {
		pipelinetest.CheckVariant(t, base, "thumbnails/64x64/"+key, key, "image/jpeg", 64, 64, false)
		pipelinetest.CheckVariant(t, base, "thumbnails/32x32/"+key, key, "image/jpeg", 32, 32, true)
	}
	if pipelinetest.Exists(t, base, "thumbnails/64x64/f/corrupt.jpg") {
		t.Error("corrupt source got a thumbnail")
	}
}
