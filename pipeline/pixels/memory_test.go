package pixels_test

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestDecodeMemory checks that DecodeMemory, computed from the header,
// does not undercount the heap that decoding for a 200×200 box takes, format
// by format.
func TestDecodeMemory(t *testing.T) {
	// The estimates count live memory: collect garbage as soon as there
	// is some, so the sampled heap is mostly what is live.
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	photo := pixeltest.Photo(1200, 900, 5)
	tests := []struct {
		name string
		data []byte
	}{
		{"jpeg", pixeltest.JPEG(photo, 90)},
		{"progressive cmyk jpeg", pixeltest.ProgressiveCMYK(1200, 900)},
		{"png", pixeltest.PNG(photo)},
		{"16-bit png", pixeltest.DeepPNG(1200, 900, false)},
		{"interlaced png", pixeltest.InterlacedPNG(photo)},
		{"gif", pixeltest.GIF(photo)},
		{"webp", pixeltest.OneColourWebP(1200, 900, 0xff102030)},
		{"16-bit tiff", pixeltest.DeepTIFF(1200, 900)},
		{"tiff", pixeltest.TIFF(photo)},
		{"bmp", pixeltest.BMP(photo)},
	}
	for _, tc := range tests {
		c, err := pixels.DecodeConfig(tc.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		estimate := pixels.DecodeMemory(c, 200, 200)
		used := int64(pixeltest.PeakHeap(func() {
			_, err = pixels.DecodeFrom(bytes.NewReader(tc.data), c, 200, 200)
		}))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: estimated %d bytes, peak heap %d (%.2f)", tc.name, estimate, used, float64(estimate)/float64(used))
		// Slack for the small allocations no estimate names and for the
		// garbage the collector has not reached yet (compress/flate's
		// Huffman tables, new for every block; a bytes.Buffer's earlier
		// arrays), more of it under the race detector.
		if used > estimate+estimate/4+2<<20 {
			t.Errorf("%s: estimated %d bytes, decoding took %d", tc.name, estimate, used)
		}
	}
}

// A 396 KB 16-bit RGBA PNG of 7071×7071 pixels streams into a 200×200
// thumbnail with well under a megabyte; the same image as a deflated TIFF
// streams too, strip by strip, estimated at the costliest layout of strips
// or tiles since the header it keeps does not say which it has.
func ExampleRenderMemory() {
	outs := []pixels.Output{{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.JPEG}}
	for _, data := range [][]byte{pixeltest.DeepPNG(7071, 7071, false), pixeltest.DeepTIFF(7071, 7071)} {
		c, err := pixels.DecodeConfig(data)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %.1f MiB\n", c.Format, float64(pixels.RenderMemory(c, outs))/(1<<20))
	}
	// Output:
	// png: 0.4 MiB
	// tiff: 6.7 MiB
}
