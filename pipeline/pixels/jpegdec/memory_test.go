package jpegdec

import (
	"bytes"
	"runtime"
	"testing"
)

// TestMemoryEstimate checks that MemoryEstimate, from the header alone,
// is no less than what Decode allocates in all (its pools emptied first),
// and not wildly more, for baseline and progressive files of every
// sampling the fixtures have, at every scale.
func TestMemoryEstimate(t *testing.T) {
	big := synth(1600, 1200)
	files := []struct {
		name string
		data []byte
	}{
		{"testenc-base 1600x1200", encodeTest(big, 80, false)},
		{"testenc-prog 1600x1200", encodeTest(big, 80, true)},
	}
	for _, n := range []string{"base411.jpg", "base422.jpg", "base444.jpg", "prog420.jpg", "prog444.jpg", "progrestart422.jpg", "cmyk.jpg", "ycckprog.jpg", "grayprog.jpg", "rgb.jpg"} {
		files = append(files, struct {
			name string
			data []byte
		}{n, readFixture(t, n)})
	}
	for _, f := range files {
		c, err := DecodeConfig(bytes.NewReader(f.data))
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		for _, scale := range []int{1, 2, 4, 8} {
			for _, ink := range []bool{false, true} {
				opts := Options{Scale: scale, CMYK: ink}
				est := MemoryEstimate(c, opts)
				// Two collections empty the pools (and their victim
				// caches), so every buffer Decode needs is allocated.
				runtime.GC()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if _, _, err := Decode(bytes.NewReader(f.data), opts); err != nil {
					t.Fatalf("%s at 1/%d: %v", f.name, scale, err)
				}
				runtime.ReadMemStats(&after)
				alloc := int64(after.TotalAlloc - before.TotalAlloc)
				if f.name == "base411.jpg" && scale == 1 {
					// The subsampling MemoryEstimate leaves out: 4:1:1
					// is converted into an NRGBA image at full size.
					est += 4 * int64(c.Width) * int64(c.Height)
				}
				if est < alloc || est > 4*alloc+fixedMemory {
					t.Errorf("%s at 1/%d (CMYK %v): estimated %d bytes, Decode allocated %d", f.name, scale, ink, est, alloc)
				}
			}
		}
	}
}

// TestMemoryEstimateWide: a 65535×399 progressive CMYK image costs under
// 16 MB at 1/8, where a thumbnail of 200×1 needs it, and about 400 MB
// at full size.
func TestMemoryEstimateWide(t *testing.T) {
	c := Config{Width: 65535, Height: 399, Components: 4, ColorSpace: CMYK, Progressive: true}
	if n := MemoryEstimate(c, Options{Scale: 8}); n > 16<<20 {
		t.Errorf("at 1/8: %d bytes", n)
	}
	if n := MemoryEstimate(c, Options{Scale: 1}); n < 400<<20 {
		t.Errorf("at full size: %d bytes", n)
	}
}
