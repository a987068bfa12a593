package main

import (
	"bytes"
	"image"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestServeSharesDecodeMemory sends serve two images at once, each of
// which needs most of THUMBPIPE_MAX_DECODE_MEMORY: their decodes never
// hold more than the budget together (one waits for the other, or its
// request gets 503), so the heap stays near one decode's, and both are
// made or answered 503.
func TestServeSharesDecodeMemory(t *testing.T) {
	const budget = 96 << 20
	// A BMP decodes whole, 4 bytes a pixel, from a file as large (so the
	// decompression-ratio guard has nothing to say).
	const side = 4500
	src := image.NewRGBA(image.Rect(0, 0, side, side))
	for i := range src.Pix {
		src.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	if err := bmp.Encode(&buf, src); err != nil {
		t.Fatal(err)
	}
	img := buf.Bytes()
	c, err := pixels.DecodeConfig(img)
	if err != nil {
		t.Fatal(err)
	}
	need := pixels.RenderMemory(c, []pixels.Output{{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.JPEG}})
	if need > budget || 2*need <= budget {
		t.Fatalf("each needs %d bytes: want one, not two, within %d", need, budget)
	}
	dir := t.TempDir()
	for _, k := range []string{"a.bmp", "b.bmp"} {
		writeFile(t, filepath.Join(dir, "images", k), img)
	}
	envm := map[string]string{
		"THUMBPIPE_WEBHOOK_TOKEN":     testToken,
		"THUMBPIPE_BUCKET_URL":        "file://" + filepath.ToSlash(dir) + "/{bucket}",
		"THUMBPIPE_BUCKETS":           "images",
		"THUMBPIPE_WORKERS":           "2",
		"THUMBPIPE_MAX_DECODE_MEMORY": "96MiB",
	}
	base, _, logs := startServe(t, envm)
	// Collect garbage as soon as there is some, so that the heap sampled
	// is what the decodes hold, not what the collector has yet to reach.
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	statuses := make([]int, 2)
	peak := pixeltest.PeakHeap(func() {
		var wg sync.WaitGroup
		for i, k := range []string{"a.bmp", "b.bmp"} {
			wg.Go(func() {
				statuses[i], _ = post(t, base+"/webhook", testToken, webhookBody("s3:ObjectCreated:Put", "images", k))
			})
		}
		wg.Wait()
	})
	t.Logf("each decode needs %.1f MiB of %d MiB; statuses %v; peak heap %.1f MiB above baseline",
		float64(need)/(1<<20), budget>>20, statuses, float64(peak)/(1<<20))
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 503:
		default:
			t.Errorf("status %d, want 200 or 503\n%s", s, logs)
		}
	}
	if ok == 0 {
		t.Errorf("neither image was made\n%s", logs)
	}
	// One decode at a time, and what is not counted in it (the resize,
	// the encoder, the server): two at once would be twice the estimate.
	if limit := uint64(need + need/2); peak > limit {
		t.Errorf("peak heap %.1f MiB above baseline, more than one decode's %.1f MiB and half again", float64(peak)/(1<<20), float64(need)/(1<<20))
	}
	if ok == 1 && !strings.Contains(logs.String(), "busy") {
		t.Errorf("a request got 503 and no log says the memory was busy\n%s", logs)
	}
}

// TestServeMemoryLimit: THUMBPIPE_MEMORY_LIMIT becomes the Go heap's soft
// limit, as GOMEMLIMIT would.
func TestServeMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	envm := map[string]string{
		"THUMBPIPE_WEBHOOK_TOKEN": testToken,
		"THUMBPIPE_BUCKET_URL":    "mem://{bucket}",
		"THUMBPIPE_BUCKETS":       "images",
		"THUMBPIPE_MEMORY_LIMIT":  "3GiB",
	}
	_, stop, logs := startServe(t, envm)
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("memory limit %d, want %d", got, int64(3<<30))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"memory_limit":3221225472`) {
		t.Errorf("the start line does not give the limit:\n%s", logs)
	}
}
