package pixels_test

import (
	"image"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/av1"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/hevc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestHEIFMemoryEstimate measures the memory a decode takes at its peak
// (the heap and the decoders' mapped memory, which PeakHeap counts)
// against DecodeMemory: the estimate must cover
// it (allowing heapSlack for a race-detector build), and not by more than
// three times.
func TestHEIFMemoryEstimate(t *testing.T) {
	if err := hevc.Compile(); err != nil {
		t.Fatal(err)
	}
	if err := av1.Compile(); err != nil {
		t.Fatal(err)
	}
	t.Run("HEIC grid, tile by tile", func(t *testing.T) {
		data, _ := gridHEIC(t, 1)
		cfg, err := pixels.DecodeConfig(data)
		if err != nil {
			t.Fatal(err)
		}
		peak := pixeltest.PeakHeap(func() { _, err = pixels.Decode(data, cfg, 400, 300) })
		if err != nil {
			t.Fatal(err)
		}
		est, full := pixels.DecodeMemory(cfg, 400, 300), pixels.DecodeMemory(cfg, 0, 0)
		t.Logf("1280x960 grid for 400x300: peak heap and mapped memory %.1f MiB, estimate %.1f MiB (whole image: %.1f MiB)",
			float64(peak)/(1<<20), float64(est)/(1<<20), float64(full)/(1<<20))
		if float64(est)*heapSlack < float64(peak) {
			t.Errorf("estimate %d bytes for a peak of %d", est, peak)
		}
	})
	for _, tc := range []struct {
		name string
		w, h int
		avif bool
	}{
		{"HEIC 512x384", 512, 384, false},
		{"HEIC 1536x1152", 1536, 1152, false},
		{"AVIF 512x384", 512, 384, true},
		{"AVIF 1536x1152", 1536, 1152, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := pixeltest.Photo(tc.w, tc.h, 9)
			var data []byte
			if tc.avif {
				data = avifEnc(t, img, "--min", "20", "--max", "30")
			} else {
				data = heifEnc(t, []image.Image{img}, "-q", "60")
			}
			cfg, err := pixels.DecodeConfig(data)
			if err != nil {
				t.Fatal(err)
			}
			var out image.Image
			peak := pixeltest.PeakHeap(func() { out, err = pixels.Decode(data, cfg, 0, 0) })
			if err != nil {
				t.Fatal(err)
			}
			_ = out
			est := pixels.DecodeMemory(cfg, 0, 0)
			t.Logf("%s: peak heap and mapped memory %.1f MiB, estimate %.1f MiB", tc.name, float64(peak)/(1<<20), float64(est)/(1<<20))
			if float64(est)*heapSlack < float64(peak) || est > 3*int64(peak) {
				t.Errorf("estimate %d bytes for a peak of %d: want between 1 and 3 times the peak", est, peak)
			}
		})
	}
}
