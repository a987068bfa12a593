package pixeltest_test

import (
	"bytes"
	"compress/zlib"
	"image"
	"image/color"
	"image/gif"
	"io"
	"testing"

	_ "image/jpeg"
	_ "image/png"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/jpegdec"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/tiffdec"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// TestZeroZlib checks the stream inflates to exactly n zeros with a valid
// checksum, on both sides of the size where blocks start to repeat.
func TestZeroZlib(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 1<<20 + 7, 2 << 20, 5<<20 + 12345} {
		zr, err := zlib.NewReader(bytes.NewReader(pixeltest.ZeroZlib(n)))
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || int64(len(got)) != n || bytes.ContainsFunc(got, func(r rune) bool { return r != 0 }) {
			t.Errorf("%d zeros: inflated %d bytes, %v", n, len(got), err)
		}
	}
}

// TestCostlyFiles decodes small versions of the costly files with the
// standard library's decoders (and jpegdec, for the progressive CMYK
// JPEG): each is valid, of its size and colour.
func TestCostlyFiles(t *testing.T) {
	const w, h = 301, 203
	tests := []struct {
		name string
		data []byte
		want color.NRGBA
	}{
		{"16-bit png", pixeltest.DeepPNG(w, h, false), color.NRGBA{}},
		{"16-bit interlaced png", pixeltest.DeepPNG(w, h, true), color.NRGBA{}},
		{"one-colour webp", pixeltest.OneColourWebP(w, h, 0xff336699), color.NRGBA{R: 0x33, G: 0x66, B: 0x99, A: 0xff}},
		{"16-bit tiff", pixeltest.DeepTIFF(w, h), color.NRGBA{}},
		{"16-bit gray+alpha png", pixeltest.DeepGrayAlphaPNG(w, h), color.NRGBA{}},
		{"16-bit png in 1-byte IDAT chunks", pixeltest.SplitIDAT(pixeltest.DeepPNG(w, h, false), 1), color.NRGBA{}},
		{"tiled 16-bit tiff", pixeltest.TiledTIFF(w, h, 64), color.NRGBA{}},
	}
	for _, tc := range tests {
		img, _, err := image.Decode(bytes.NewReader(tc.data))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("%s: %v, want %dx%d", tc.name, b, w, h)
		}
		for _, p := range []image.Point{{0, 0}, {w - 1, h - 1}, {w / 2, h / 3}} {
			if got := color.NRGBAModel.Convert(img.At(p.X, p.Y)); got != tc.want {
				t.Errorf("%s at %v: %v, want %v", tc.name, p, got, tc.want)
			}
		}
	}
	// x/image/tiff reads no extra sample on gray: tiffdec checks this one.
	ga, _, err := tiffdec.Decode(bytes.NewReader(pixeltest.GrayAlphaTIFF(w, h)), tiffdec.Options{})
	if err != nil || ga.Bounds() != image.Rect(0, 0, w, h) || color.NRGBAModel.Convert(ga.At(w-1, h-1)) != (color.NRGBA{}) {
		t.Errorf("16-bit gray+alpha tiff: %v", err)
	}
	g, err := gif.DecodeAll(bytes.NewReader(pixeltest.HugeScreenGIF(w, h)))
	if err != nil || g.Config.Width != w || g.Config.Height != h || len(g.Image) != 1 ||
		g.Image[0].Bounds() != image.Rect(0, 0, 16, 16) || g.Image[0].ColorIndexAt(15, 15) != 0 {
		t.Errorf("huge-screen GIF: %v", err)
	}
	img, c, err := jpegdec.Decode(bytes.NewReader(pixeltest.ProgressiveCMYK(w, h)), jpegdec.Options{})
	if err != nil || !c.Progressive || c.Components != 4 || img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Errorf("progressive CMYK: %+v, %v", c, err)
	}
	if _, _, err := image.Decode(bytes.NewReader(pixeltest.ProgressiveCMYK(w, h))); err != nil {
		t.Errorf("progressive CMYK through image/jpeg: %v", err)
	}
}
