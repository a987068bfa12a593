package pixels_test

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestInterlacedPNGThumbnail checks that the thumbnail of an interlaced
// PNG is as good as the one made from image/png's full-size decode, on a
// photo-like image and on one of hairlines, where sampling the early Adam7
// passes would alias (17 to 30 dB).
func TestInterlacedPNGThumbnail(t *testing.T) {
	tests := []struct {
		name    string
		img     image.Image
		box     int
		minPSNR float64
	}{
		{"photo 200", pixeltest.Photo(1500, 1000, 3), 200, 40},
		{"photo 400", pixeltest.Photo(1500, 1000, 3), 400, 40},
		{"hairlines 200", pixeltest.Hairlines(1500, 1000, 3), 200, 33},
		{"hairlines 400", pixeltest.Hairlines(1500, 1000, 3), 400, 30},
	}
	for _, tc := range tests {
		data := pixeltest.InterlacedPNG(tc.img)
		full, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want := pixels.Resize(full, tc.box, tc.box, pixels.Fit)
		got := thumbnail(t, data, tc.box, tc.box, pixels.Fit, pixels.PNG)
		if p := pixeltest.PSNR(got, want); p < tc.minPSNR {
			t.Errorf("%s: PSNR %.1f dB against the full decode, want %.0f or more", tc.name, p, tc.minPSNR)
		} else {
			t.Logf("%s: PSNR %.1f dB", tc.name, p)
		}
	}
}
