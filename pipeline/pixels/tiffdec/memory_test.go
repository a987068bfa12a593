package tiffdec

import (
	"bytes"
	"runtime/debug"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestMemoryEstimate checks that MemoryEstimate, from the header alone,
// does not undercount the heap a streamed decode for a 200×200 box takes,
// for each layout, and that the estimate from a header that does not say
// the layout is no lower.
func TestMemoryEstimate(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	side := uint32(3000)
	if raceEnabled {
		side = 1200
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"16-bit rgba, one strip", pixeltest.DeepTIFF(side, side)},
		{"16-bit rgba, 256² tiles", pixeltest.TiledTIFF(side, side, 256)},
		{"16-bit rgba, 1024² tiles", pixeltest.TiledTIFF(side, side, 1024)},
		{"16-bit gray+alpha, strips", pixeltest.GrayAlphaTIFF(side, side)},
		{"8-bit rgb, strips of a row", pixeltest.BuildTIFF(pixeltest.TIFFSpec{Width: int(side), Height: int(side),
			Samples: 3, Photometric: 2, Compression: 8, RowsPerStrip: 1})},
	}
	for _, tc := range tests {
		c, err := DecodeConfig(bytes.NewReader(tc.data))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		opts := Options{BoxWidth: 200, BoxHeight: 200}
		estimate := MemoryEstimate(c, opts)
		blind := MemoryEstimate(Config{Width: c.Width, Height: c.Height}, opts)
		used := int64(pixeltest.PeakHeap(func() {
			_, _, err = Decode(stream{bytes.NewReader(tc.data)}, opts)
		}))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: estimated %d bytes (%d not knowing the layout), peak heap %d", tc.name, estimate, blind, used)
		// Slack for the garbage the collector has not reached yet
		// (compress/flate's Huffman tables, new for every block), as
		// pixels' TestDecodeMemory allows.
		if used > estimate+estimate/4+2<<20 {
			t.Errorf("%s: estimated %d bytes, decoding took %d", tc.name, estimate, used)
		}
		if blind < estimate {
			t.Errorf("%s: %d bytes not knowing the layout, under the %d knowing it", tc.name, blind, estimate)
		}
	}
}
