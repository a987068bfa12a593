package pixels_test

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// encodeGIF writes img as a GIF through pixels' encoder.
func encodeGIF(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := pixels.Encode(&buf, img, pixels.GIF, 0); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGIFQuality: the adaptive palette keeps a photo-like thumbnail far
// closer to its source than the fixed Plan 9 palette GIFs were written
// with before, and no further than libvips' gifsave (libimagequant with
// dithering) is.
func TestGIFQuality(t *testing.T) {
	src := imaging.Resize(pixeltest.Photo(600, 400, 7), 240, 160, imaging.Lanczos)
	decoded, err := gif.Decode(bytes.NewReader(encodeGIF(t, src)))
	if err != nil {
		t.Fatal(err)
	}
	ours := pixeltest.PSNR(src, decoded)
	plan9 := image.NewPaletted(src.Bounds(), palette.Plan9)
	draw.FloydSteinberg.Draw(plan9, src.Bounds(), src, image.Point{})
	fixed := pixeltest.PSNR(src, plan9)
	t.Logf("PSNR against the source: adaptive palette %.2f dB, Plan 9 palette %.2f dB", ours, fixed)
	if ours < fixed+3 {
		t.Errorf("adaptive palette %.2f dB, not 3 dB better than the fixed palette's %.2f dB", ours, fixed)
	}
	vips := pixeltest.NeedTool(t, "vips", "libvips-tools")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "src.png"), filepath.Join(dir, "vips.gif")
	if err := os.WriteFile(in, pixeltest.PNG(src), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, vips, "gifsave", in, out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := gif.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	theirs := pixeltest.PSNR(src, ref)
	t.Logf("libvips gifsave %.2f dB", theirs)
	if ours < theirs-1 {
		t.Errorf("adaptive palette %.2f dB, more than 1 dB below libvips' %.2f dB", ours, theirs)
	}
}

// halfTransparent is a w×h image whose left half is fully transparent
// and right half a gradient, opaque.
func halfTransparent(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := w / 2; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 200, 255})
		}
	}
	return img
}

// TestGIFTransparency: a transparent GIF's thumbnail keeps its
// transparency in PNG and GIF output (a transparent palette index, where
// GIFs used to get black), and so does a PNG with alpha written as GIF;
// JPEG output is flattened on white.
func TestGIFTransparency(t *testing.T) {
	src := halfTransparent(80, 40)
	pal := color.Palette{color.NRGBA{}}
	for i := 1; i < 256; i++ {
		pal = append(pal, color.NRGBA{uint8(i), uint8(255 - i), 200, 255})
	}
	srcGIF := image.NewPaletted(src.Bounds(), pal)
	draw.Draw(srcGIF, src.Bounds(), src, image.Point{}, draw.Src)
	var gifData bytes.Buffer
	if err := gif.Encode(&gifData, srcGIF, nil); err != nil {
		t.Fatal(err)
	}
	for _, in := range []struct {
		name string
		data []byte
	}{{"gif", gifData.Bytes()}, {"png", pixeltest.PNG(src)}} {
		cfg, err := pixels.DecodeConfig(in.data)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Channels != 4 {
			t.Errorf("%s: header says %d channels, want 4", in.name, cfg.Channels)
		}
		for _, f := range []pixels.Format{pixels.PNG, pixels.GIF, pixels.JPEG} {
			t.Run(in.name+"→"+string(f), func(t *testing.T) {
				out, _ := renderMeta(t, in.data, pixels.Output{Width: 40, Height: 40, Mode: pixels.Fit, Format: f,
					Encode: pixels.EncodeOptions{Quality: 90}})
				thumb, _, err := image.Decode(bytes.NewReader(out))
				if err != nil {
					t.Fatal(err)
				}
				b := thumb.Bounds()
				if b.Dx() != 40 || b.Dy() != 20 {
					t.Fatalf("thumbnail %v, want 40x20", b)
				}
				left := color.NRGBAModel.Convert(thumb.At(5, 10)).(color.NRGBA)
				right := color.NRGBAModel.Convert(thumb.At(35, 10)).(color.NRGBA)
				if f == pixels.JPEG {
					if left.R < 250 || left.G < 250 || left.B < 250 {
						t.Errorf("JPEG's transparent half is %v, want white", left)
					}
					return
				}
				if left.A != 0 {
					t.Errorf("transparent half comes out %v", left)
				}
				if right.A != 255 || right.B < 180 {
					t.Errorf("opaque half comes out %v", right)
				}
				if f == pixels.GIF {
					p, ok := thumb.(*image.Paletted)
					if !ok || len(p.Palette) > 256 {
						t.Fatalf("GIF thumbnail %T", thumb)
					}
				}
			})
		}
	}
}

// animated returns a GIF of the given frames, each one colour, each
// covering the screen.
func animated(t *testing.T, w, h int, colors ...color.Color) []byte {
	t.Helper()
	var g gif.GIF
	for _, c := range colors {
		p := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{c, color.Black})
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, &g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGIFAnimated: an animated GIF's header counts its frames without
// decoding them, and its thumbnail is its first frame; a file cut short
// after the first frame still gives it.
func TestGIFAnimated(t *testing.T) {
	red, green, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}
	data := animated(t, 60, 40, red, green, blue)
	tests := []struct {
		name   string
		data   []byte
		frames int
	}{
		{"whole", data, 3},
		{"without its trailer", data[:len(data)-1], 3},
		{"cut in the second frame", data[:len(data)*3/5], 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := pixels.DecodeConfig(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Frames != tc.frames || cfg.Width != 60 || cfg.Height != 40 {
				t.Errorf("header %dx%d, %d frames; want 60x40, %d", cfg.Width, cfg.Height, cfg.Frames, tc.frames)
			}
			out, _ := renderMeta(t, tc.data, pixels.Output{Width: 30, Height: 30, Mode: pixels.Fit, Format: pixels.PNG})
			thumb, _, err := image.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if c := color.RGBAModel.Convert(thumb.At(15, 10)).(color.RGBA); c != red {
				t.Errorf("thumbnail is %v, want the first frame's red", c)
			}
		})
	}
}

// TestGIFSmallFrame: a first frame smaller than the logical screen is
// shown where it lies on a transparent screen, and is decoded onto a
// canvas reduced for the box, not one of the screen's size.
func TestGIFSmallFrame(t *testing.T) {
	frame := image.NewPaletted(image.Rect(200, 100, 240, 130), color.Palette{color.RGBA{255, 0, 0, 255}})
	g := gif.GIF{Image: []*image.Paletted{frame}, Delay: []int{0}, Config: image.Config{Width: 400, Height: 300, ColorModel: frame.Palette}}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, &g); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 400 || cfg.Height != 300 || cfg.Channels != 4 {
		t.Fatalf("header %+v, want the 400x300 screen with alpha", cfg)
	}
	img, err := pixels.Decode(data, cfg, 100, 100)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 134 || b.Dy() != 100 {
		t.Errorf("decoded onto a %v canvas, want 134x100 (the screen reduced by 3, the most that covers the box)", b)
	}
	out, _ := renderMeta(t, data, pixels.Output{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.PNG})
	thumb, _, err := image.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if b := thumb.Bounds(); b.Dx() != 200 || b.Dy() != 150 {
		t.Fatalf("thumbnail %v, want 200x150", b)
	}
	for _, p := range []struct {
		x, y  int
		alpha uint8
	}{{10, 10, 0}, {110, 57, 255}, {190, 140, 0}} {
		if c := color.NRGBAModel.Convert(thumb.At(p.x, p.y)).(color.NRGBA); c.A != p.alpha || p.alpha == 255 && c.R < 240 {
			t.Errorf("pixel (%d,%d) is %v, want alpha %d", p.x, p.y, c, p.alpha)
		}
	}
}

// TestGIFHostile: a GIF that is nothing but frame headers is refused by
// the header walk, before any decoder reads it; a huge logical screen is
// reported as it is, for the pixel limit to refuse.
func TestGIFHostile(t *testing.T) {
	head := "GIF89a\x0a\x00\x0a\x00\x00\x00\x00"
	frame := "\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00" // 1×1, no data
	_, err := pixels.DecodeConfig([]byte(head + strings.Repeat(frame, 100_001) + ";"))
	if err == nil || !strings.Contains(err.Error(), "frames") {
		t.Errorf("100001 frames: %v, want a refusal naming the frames", err)
	}
	cfg, err := pixels.DecodeConfig([]byte("GIF89a\x60\xea\x60\xea\x00\x00\x00" + frame + ";"))
	if err != nil || cfg.Pixels() != 60000*60000 {
		t.Errorf("huge screen: %+v, %v; want 60000x60000 reported", cfg, err)
	}
	for _, bad := range []string{"GIF89a\x0a\x00", head + "\x99", head + "\x21\xf9\x04"} {
		if _, err := pixels.DecodeConfig([]byte(bad)); err == nil {
			t.Errorf("%q: header read", bad)
		}
	}
}

// BenchmarkGIFEncode writes a 200×200 photo-like thumbnail as a GIF: the
// adaptive palette's cost.
func BenchmarkGIFEncode(b *testing.B) {
	img := imaging.Resize(pixeltest.Photo(600, 600, 5), 200, 200, imaging.Lanczos)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := pixels.Encode(&buf, img, pixels.GIF, 0); err != nil {
			b.Fatal(err)
		}
	}
}
