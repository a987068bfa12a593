package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// manyKeys is how many sources the scale tests list.
const manyKeys = 100_000

// manySources returns a memblob bucket of n sources that the pipeline
// handles without decoding or writing anything: each carries the
// thumbnail marker, so it is skipped after one Attributes call.
func manySources(t *testing.T, n int) (*blob.Bucket, *pipeline.Thumbnailer) {
	t.Helper()
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	opts := &blob.WriterOptions{Metadata: map[string]string{pipeline.MetaSource: "elsewhere.jpg"}}
	for i := range n {
		if err := b.WriteAll(ctx, fmt.Sprintf("uploads/%06d.jpg", i), []byte{0xff, 0xd8}, opts); err != nil {
			t.Fatal(err)
		}
	}
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, th
}

// heap returns the bytes of live heap objects. Two collections: the first
// runs the finalizers of what it finds unreachable, the second frees it.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestBackfillMemoryFlat: backfill over 100,000 keys holds its memory flat.
// The heap, measured every 5,000 keys, stays under a quarter of what
// merely holding the listing takes.
func TestBackfillMemoryFlat(t *testing.T) {
	ctx := context.Background()
	b, th := manySources(t, manyKeys)

	base := heap()
	listing, err := listSources(ctx, b, "", th.Config())
	if err != nil || len(listing) != manyKeys {
		t.Fatalf("listed %d keys (%v)", len(listing), err)
	}
	withListing := heap()
	runtime.KeepAlive(listing)
	t.Logf("heap %d KiB, with the listing %d KiB", base>>10, withListing>>10)
	if withListing <= base {
		t.Fatalf("the listing of %d keys took no heap: %d KiB before, %d KiB after", manyKeys, base>>10, withListing>>10)
	}
	held := withListing - base
	listing = nil

	base = heap()
	var samples []uint64
	n := 0
	bf := &backfiller{door: bucketDoor(th, b, false), bucket: b, cfg: th.Config(), workers: 4,
		observe: func(o door.Outcome) {
			if n++; n%5000 == 0 {
				samples = append(samples, heap())
			}
		}}
	// The keys come one at a time, as from a bucket that lists in pages:
	// memblob computes each page from a sorted copy of all its keys, and
	// a sample taken while it does would count that copy (10 MiB here),
	// which is memblob's, not the backfill's.
	bf.list = func(yield func(*blob.ListObject, error) bool) {
		for i := range manyKeys {
			if !yield(&blob.ListObject{Key: fmt.Sprintf("uploads/%06d.jpg", i)}, nil) {
				return
			}
		}
	}
	sum, complete, err := bf.run(ctx)
	if err != nil || !complete || sum.skipped != manyKeys {
		t.Fatalf("backfill: %v, complete %v, %s", err, complete, sum)
	}
	var peak uint64
	for _, s := range samples {
		if s > base {
			peak = max(peak, s-base)
		}
	}
	t.Logf("holding the listing: %d KiB; backfill's heap above its start: at most %d KiB over %d samples", held>>10, peak>>10, len(samples))
	if peak > held/4 {
		t.Errorf("backfill's heap grew by %d KiB, more than a quarter of the %d KiB the whole listing takes", peak>>10, held>>10)
	}
	if last, first := samples[len(samples)-1], samples[0]; last > first && last-first > held/8 {
		t.Errorf("backfill's heap kept growing: %d KiB at 5,000 keys, %d KiB at the end", first>>10, last>>10)
	}
}

// TestBackfillResume: a backfill over 100,000 keys cancelled midway and
// resumed from its checkpoint does each key once in all; only the keys in
// flight at the interruption are tried twice.
func TestBackfillResume(t *testing.T) {
	b, th := manySources(t, manyKeys)
	cp := &checkpointFile{path: filepath.Join(t.TempDir(), "backfill.checkpoint"), Bucket: "mem://", Prefix: ""}
	done := map[string]int{}
	retried := 0
	count := func(o door.Outcome) {
		if o.Status == door.FailedTransient {
			retried++
			return
		}
		done[o.Key]++
	}
	const workers = 4

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &backfiller{door: bucketDoor(th, b, false), bucket: b, cfg: th.Config(), workers: workers, save: cp.save,
		observe: func(o door.Outcome) {
			count(o)
			if len(done) == manyKeys/2 {
				cancel()
			}
		}}
	sum, complete, err := first.run(ctx)
	if err != nil || complete {
		t.Fatalf("interrupted run: %v, complete %v (%s)", err, complete, sum)
	}
	after, err := cp.load()
	if err != nil || after == "" {
		t.Fatalf("checkpoint %q (%v)", after, err)
	}
	firstDone := len(done)
	t.Logf("interrupted after %d keys, checkpoint %q, %d in flight", firstDone, after, retried)

	second := &backfiller{door: bucketDoor(th, b, false), bucket: b, cfg: th.Config(), workers: workers, save: cp.save,
		after: after, observe: count}
	sum, complete, err = second.run(context.Background())
	if err != nil || !complete {
		t.Fatalf("resumed run: %v, complete %v (%s)", err, complete, sum)
	}
	if len(done) != manyKeys {
		t.Errorf("%d keys done in all, want %d", len(done), manyKeys)
	}
	for k, n := range done {
		if n != 1 {
			t.Errorf("%s done %d times", k, n)
		}
	}
	if retried > workers {
		t.Errorf("%d keys tried again, more than the %d in flight", retried, workers)
	}
	if sum.skipped+firstDone != manyKeys {
		t.Errorf("the resumed run did %d keys, the first %d: want %d in all", sum.skipped, firstDone, manyKeys)
	}
}

// TestBackfillCheckpointFlags drives --checkpoint and --resume end to end on
// a folder.
func TestBackfillCheckpointFlags(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, k := range []string{"a.jpg", "b.jpg", "c.jpg"} {
		writeFile(t, filepath.Join(dir, k), pixeltest.JPEG(pixeltest.Photo(64, 48, 1), 85))
	}
	cpPath := filepath.Join(t.TempDir(), "cp.json")
	u, err := bucketURL(dir)
	if err != nil {
		t.Fatal(err)
	}

	if _, _, err := runCmd(ctx, t, nil, "backfill", "--bucket", dir, "--resume"); err == nil || !strings.Contains(err.Error(), "--checkpoint") {
		t.Errorf("--resume without --checkpoint: %v", err)
	}

	// A checkpoint saved after b.jpg: the resumed run does c.jpg only.
	if err := (&checkpointFile{path: cpPath, Bucket: u}).save("b.jpg"); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmd(ctx, t, nil, "backfill", "--bucket", dir, "--checkpoint", cpPath, "--resume")
	if err != nil || !strings.Contains(out, "processed 1,") || !strings.Contains(out, "thumbnails/200x200/c.jpg") ||
		strings.Contains(out, "a.jpg") || !strings.Contains(stderr, `resuming after "b.jpg"`) {
		t.Fatalf("resume: %v\n%s%s", err, out, stderr)
	}
	if _, err := os.Stat(cpPath); !os.IsNotExist(err) {
		t.Errorf("the finished run left its checkpoint: %v", err)
	}

	// Without a checkpoint, --resume starts from the beginning.
	out, _, err = runCmd(ctx, t, nil, "backfill", "--bucket", dir, "--checkpoint", cpPath, "--resume")
	if err != nil || !strings.Contains(out, "processed 2, up-to-date 1") {
		t.Errorf("resume without a checkpoint: %v\n%s", err, out)
	}

	// A checkpoint of another bucket or prefix is refused.
	if err := (&checkpointFile{path: cpPath, Bucket: "s3://other"}).save("b.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(ctx, t, nil, "backfill", "--bucket", dir, "--checkpoint", cpPath, "--resume"); err == nil ||
		!strings.Contains(err.Error(), "s3://other") {
		t.Errorf("another bucket's checkpoint: %v", err)
	}
}
