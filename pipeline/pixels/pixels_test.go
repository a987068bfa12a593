package pixels_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"testing"
	"testing/iotest"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

func TestSniff(t *testing.T) {
	small := pixeltest.Photo(16, 16, 1)
	tests := []struct {
		name string
		data []byte
		want pixels.Format
	}{
		{"jpeg", pixeltest.JPEG(small, 80), pixels.JPEG},
		{"png", pixeltest.PNG(small), pixels.PNG},
		{"gif", pixeltest.GIF(small), pixels.GIF},
		{"webp", pixeltest.File("lossy.webp"), pixels.WebP},
		{"tiff", pixeltest.TIFF(small), pixels.TIFF},
		{"bmp", pixeltest.BMP(small), pixels.BMP},
		{"text", []byte("hello, I am not an image"), pixels.Unknown},
		{"html", []byte("<!doctype html><img src=x onerror=alert(1)>"), pixels.Unknown},
		{"empty", nil, pixels.Unknown},
		{"two bytes of jpeg", []byte{0xFF, 0xD8}, pixels.Unknown},
		{"RIFF but not WebP", []byte("RIFF\x00\x00\x00\x00WAVEfmt "), pixels.Unknown},
	}
	for _, tc := range tests {
		if got := pixels.Sniff(tc.data); got != tc.want {
			t.Errorf("%s: Sniff = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// thumbnail runs the pixel path the pipeline runs: the header, then Render
// with one output, and decodes the result back.
func thumbnail(t *testing.T, data []byte, w, h int, mode pixels.Mode, out pixels.Format) image.Image {
	t.Helper()
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatalf("DecodeConfig: %v", err)
	}
	var encoded []byte
	outs := []pixels.Output{{Width: w, Height: h, Mode: mode, Format: out, Encode: pixels.EncodeOptions{Quality: 90}}}
	err = pixels.Render(bytes.NewReader(data), cfg, outs, func(r pixels.Rendered) error {
		encoded = bytes.Clone(r.Data)
		return nil
	})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if got := pixels.Sniff(encoded); got != out {
		t.Fatalf("encoded %s, sniffed %s", out, got)
	}
	back, _, err := image.Decode(bytes.NewReader(encoded))
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// near reports whether two colours are within tol per channel.
func near(c color.Color, want color.NRGBA, tol int) bool {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	d := func(a, b uint8) bool { x := int(a) - int(b); return x <= tol && x >= -tol }
	return d(n.R, want.R) && d(n.G, want.G) && d(n.B, want.B)
}

// TestOrientation stores the same upright picture as a camera would under
// each EXIF orientation 1 to 8: every thumbnail comes out upright, with the
// red marker top-left and the expected landscape size.
func TestOrientation(t *testing.T) {
	for _, f := range []struct {
		name string
		file func(w, h, o int) []byte
	}{{"jpeg", pixeltest.OrientedJPEG}, {"tiff", pixeltest.OrientedTIFF}} {
		for o := 1; o <= 8; o++ {
			t.Run(fmt.Sprint(f.name, o), func(t *testing.T) {
				data := f.file(160, 120, o)
				cfg, err := pixels.DecodeConfig(data)
				if err != nil || cfg.Orientation != o {
					t.Fatalf("orientation read as %d (%v), want %d", cfg.Orientation, err, o)
				}
				checkUprightThumbnail(t, "", data)
			})
		}
	}
}

// checkUprightThumbnail makes an 80x80 fit thumbnail of data, an
// [pixeltest.Upright] 160x120 picture stored under some orientation, and
// checks that it comes out upright: 80x60, with the red marker top-left.
// name prefixes the messages.
func checkUprightThumbnail(t *testing.T, name string, data []byte) {
	t.Helper()
	img := thumbnail(t, data, 80, 80, pixels.Fit, pixels.PNG)
	if b := img.Bounds(); b.Dx() != 80 || b.Dy() != 60 {
		t.Fatalf("%sthumbnail %dx%d, want 80x60 (upright)", name, b.Dx(), b.Dy())
	}
	corners := map[image.Point]color.NRGBA{
		{3, 3}:   pixeltest.Marker,
		{76, 3}:  {G: 255, A: 255},
		{3, 56}:  {B: 255, A: 255},
		{76, 56}: {A: 255},
	}
	for p, want := range corners {
		if got := img.At(p.X, p.Y); !near(got, want, 60) {
			t.Errorf("%spixel %v = %v, want about %v", name, p, got, want)
		}
	}
}

func TestFormats(t *testing.T) {
	white := color.NRGBA{255, 255, 255, 255}
	blue := color.NRGBA{0, 0, 255, 255}
	tests := []struct {
		name   string
		data   []byte
		out    pixels.Format
		w, h   int                         // expected thumbnail size in a 64x64 fit box
		checks map[image.Point]color.NRGBA // colours in the thumbnail
	}{
		{"baseline jpeg", pixeltest.JPEG(pixeltest.Photo(128, 96, 1), 90), pixels.JPEG, 64, 48, nil},
		{"progressive jpeg", pixeltest.File("progressive.jpg"), pixels.JPEG, 64, 42, nil},
		{"cmyk jpeg", pixeltest.File("cmyk.jpg"), pixels.JPEG, 64, 42,
			map[image.Point]color.NRGBA{{1, 1}: {255, 0, 0, 255}, {1, 41}: {0, 0, 255, 255}}},
		{"16-bit png", pixeltest.PNG(pixeltest.Deep(100, 50)), pixels.PNG, 64, 32, nil},
		{"palette png with transparency as jpeg", pixeltest.PNG(pixeltest.TransparentPalette(128, 64)), pixels.JPEG, 64, 32,
			map[image.Point]color.NRGBA{{5, 16}: white, {58, 16}: blue}},
		{"palette png with transparency as png", pixeltest.PNG(pixeltest.TransparentPalette(128, 64)), pixels.PNG, 64, 32,
			map[image.Point]color.NRGBA{{58, 16}: blue}},
		{"gif", pixeltest.GIF(pixeltest.Photo(100, 100, 2)), pixels.GIF, 64, 64, nil},
		{"lossy webp", pixeltest.File("lossy.webp"), pixels.JPEG, 64, 42, nil},
		{"lossless webp", pixeltest.File("lossless.webp"), pixels.JPEG, 64, 42, nil},
		{"webp with alpha as jpeg", pixeltest.File("alpha.webp"), pixels.JPEG, 64, 42,
			map[image.Point]color.NRGBA{{5, 20}: white, {58, 20}: blue}},
		{"tiff", pixeltest.TIFF(pixeltest.Photo(64, 128, 3)), pixels.JPEG, 32, 64, nil},
		{"bmp", pixeltest.BMP(pixeltest.Photo(30, 20, 4)), pixels.JPEG, 30, 20, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := thumbnail(t, tc.data, 64, 64, pixels.Fit, tc.out)
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Errorf("thumbnail %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.w, tc.h)
			}
			for p, want := range tc.checks {
				if got := img.At(p.X, p.Y); !near(got, want, 40) {
					t.Errorf("pixel %v = %v, want about %v", p, got, want)
				}
			}
		})
	}
}

func TestResize(t *testing.T) {
	src := pixeltest.Photo(400, 100, 1)
	tests := []struct {
		w, h int
		mode pixels.Mode
		want image.Point
	}{
		{200, 200, pixels.Fit, image.Pt(200, 50)},
		{200, 200, pixels.Fill, image.Pt(100, 100)}, // covering would upscale: crop what overhangs
		{50, 50, pixels.Fill, image.Pt(50, 50)},
		{800, 800, pixels.Fit, image.Pt(400, 100)}, // never upscale
		{800, 800, pixels.Fill, image.Pt(100, 100)},
		{100, 50, pixels.Fill, image.Pt(100, 50)},
		{1000, 100, pixels.Fill, image.Pt(400, 40)},
		{300, 200, pixels.Fill, image.Pt(150, 100)},
		{400, 100, pixels.Fit, image.Pt(400, 100)},
	}
	for _, tc := range tests {
		got := pixels.Resize(src, tc.w, tc.h, tc.mode).Bounds().Size()
		if got != tc.want {
			t.Errorf("Resize 400x100 into %dx%d %s = %v, want %v", tc.w, tc.h, tc.mode, got, tc.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	full := pixeltest.JPEG(pixeltest.Photo(200, 200, 1), 90)
	png := pixeltest.PNG(pixeltest.Photo(200, 200, 1))
	tests := []struct {
		name       string
		data       []byte
		headerErr  error // from DecodeConfig; nil means the header reads
		decodeFail bool
	}{
		{"empty", nil, pixels.ErrUnsupported, false},
		{"text", []byte("not an image"), pixels.ErrUnsupported, false},
		{"jpeg cut in the header", full[:20], pixels.ErrCorrupt, false},
		{"jpeg cut in the scan", full[:len(full)/2], nil, true},
		{"png cut in the header", png[:20], pixels.ErrCorrupt, false},
		{"png cut in the data", png[:len(png)/2], nil, true},
		{"gif without frames", []byte("GIF89a\x10\x00\x10\x00\x00\x00\x00;"), pixels.ErrCorrupt, false}, // refused by the header walk
		{"zero-size png", pixeltest.PNGBomb(0, 10), pixels.ErrCorrupt, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := pixels.DecodeConfig(tc.data)
			if tc.headerErr != nil {
				if !errors.Is(err, tc.headerErr) {
					t.Fatalf("DecodeConfig: %v, want %v", err, tc.headerErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeConfig: %v", err)
			}
			_, err = pixels.Decode(tc.data, cfg, 0, 0)
			if tc.decodeFail && !errors.Is(err, pixels.ErrCorrupt) {
				t.Fatalf("Decode: %v, want ErrCorrupt", err)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bytes through the pixel path under a pixel
// limit, as the pipeline does: it must never panic, and nothing over the
// limit is decoded.
func FuzzDecode(f *testing.F) {
	small := pixeltest.Photo(24, 16, 1)
	for _, seed := range [][]byte{
		pixeltest.JPEG(small, 80), pixeltest.PNG(small), pixeltest.GIF(small), pixeltest.TIFF(small),
		pixeltest.BMP(small), pixeltest.File("lossy.webp"), pixeltest.File("alpha.webp"),
		pixeltest.File("cmyk.jpg"), pixeltest.File("progressive.jpg"), pixeltest.OrientedJPEG(16, 8, 6),
		pixeltest.PNGBomb(60000, 60000), pixeltest.GIFBomb(60000, 60000), pixeltest.JPEGBomb(60000, 60000),
		pixeltest.PNG(pixeltest.TransparentPalette(8, 8)), pixeltest.PNG(pixeltest.Deep(8, 8)),
		[]byte("GIF89a"), []byte("\x89PNG\r\n\x1a\n"), {0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0},
	} {
		f.Add(seed)
	}
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := pixels.DecodeConfig(data)
		if err != nil || cfg.Pixels() > limit {
			return
		}
		if cfg.Orientation < 1 || cfg.Orientation > 8 {
			t.Fatalf("orientation %d", cfg.Orientation)
		}
		outs := []pixels.Output{{Width: 16, Height: 16, Mode: pixels.Fill, Format: pixels.JPEG, Encode: pixels.EncodeOptions{Quality: 80}}}
		err = pixels.Render(bytes.NewReader(data), cfg, outs, func(r pixels.Rendered) error {
			if r.Width > 16 || r.Height > 16 || len(r.Data) == 0 {
				t.Fatalf("thumbnail %dx%d of %d bytes for a 16x16 box", r.Width, r.Height, len(r.Data))
			}
			return nil
		})
		// The decoder may refuse the bytes; the encoder must not fail.
		if err != nil && !errors.Is(err, pixels.ErrCorrupt) && !errors.Is(err, pixels.ErrUnsupported) {
			t.Fatal(err)
		}
	})
}

func ExampleSniff() {
	png := pixeltest.PNG(pixeltest.Photo(8, 8, 1))
	fmt.Println(pixels.Sniff(png), pixels.Sniff([]byte("<html>")) == pixels.Unknown)
	// Output: png true
}

func ExampleRender() {
	data := pixeltest.OrientedJPEG(640, 480, 6) // stored on its side, shown upright
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	outs := []pixels.Output{
		{Width: 64, Height: 64, Mode: pixels.Fill, Format: pixels.PNG},
		{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.JPEG, Encode: pixels.EncodeOptions{Quality: 85}},
	}
	err = pixels.Render(bytes.NewReader(data), cfg, outs, func(r pixels.Rendered) error {
		fmt.Printf("output %d: %dx%d %s\n", r.Index, r.Width, r.Height, pixels.Sniff(r.Data))
		return nil
	})
	fmt.Println(err)
	// Output:
	// output 1: 200x150 jpeg
	// output 0: 64x64 png
	// <nil>
}

// TestEncodeOpaqueNRGBA checks that an opaque NRGBA (what the resampler
// returns) encodes to the same JPEG as the RGBA with the same pixels, also
// for a sub-image whose bounds do not start at the origin.
func TestEncodeOpaqueNRGBA(t *testing.T) {
	full := image.NewNRGBA(image.Rect(0, 0, 48, 32))
	src := pixeltest.Photo(48, 32, 5)
	for y := 0; y < 32; y++ {
		for x := 0; x < 48; x++ {
			full.Set(x, y, color.NRGBAModel.Convert(src.At(x, y)))
		}
	}
	for _, img := range []*image.NRGBA{full, full.SubImage(image.Rect(8, 4, 40, 28)).(*image.NRGBA)} {
		t.Run(img.Bounds().String(), func(t *testing.T) {
			if !img.Opaque() {
				t.Fatal("fixture is not opaque")
			}
			rgba := image.NewRGBA(img.Bounds())
			for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
				for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
					rgba.Set(x, y, img.At(x, y))
				}
			}
			var got, want bytes.Buffer
			if err := pixels.Encode(&got, img, pixels.JPEG, 85); err != nil {
				t.Fatal(err)
			}
			if err := pixels.Encode(&want, rgba, pixels.JPEG, 85); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("NRGBA encodes to %d bytes that differ from the RGBA's %d", got.Len(), want.Len())
			}
			// image/jpeg's generic path allocates once per pixel.
			pix := img.Bounds().Dx() * img.Bounds().Dy()
			allocs := testing.AllocsPerRun(5, func() {
				got.Reset()
				_ = pixels.Encode(&got, img, pixels.JPEG, 85)
			})
			if allocs >= float64(pix)/4 {
				t.Errorf("encoding %d pixels allocated %.0f times: not on image/jpeg's RGBA path", pix, allocs)
			}
		})
	}
}

// TestRender checks Render's contract beyond the pixels: largest output
// first from one decode that covers the largest box, each result handed
// over before the next is made, and a refusal of the emit callback, or of
// an output no codec writes, stops it.
func TestRender(t *testing.T) {
	data := pixeltest.JPEG(pixeltest.Photo(1600, 1200, 7), 90)
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	outs := []pixels.Output{
		{Width: 100, Height: 100, Mode: pixels.Fill, Format: pixels.JPEG, Encode: pixels.EncodeOptions{Quality: 80}},
		{Width: 400, Height: 400, Mode: pixels.Fit, Format: pixels.PNG},
		{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.GIF},
	}
	var order []int
	var sizes []image.Point
	err = pixels.Render(bytes.NewReader(data), cfg, outs, func(r pixels.Rendered) error {
		order = append(order, r.Index)
		sizes = append(sizes, image.Pt(r.Width, r.Height))
		if c, err := pixels.DecodeConfig(r.Data); err != nil || c.Width != r.Width || c.Format != outs[r.Index].Format {
			t.Errorf("output %d: %+v, %v", r.Index, c, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSizes := []image.Point{{400, 300}, {200, 150}, {100, 100}}
	if fmt.Sprint(order) != "[1 2 0]" || fmt.Sprint(sizes) != fmt.Sprint(wantSizes) {
		t.Errorf("outputs %v of sizes %v; want [1 2 0] of %v", order, sizes, wantSizes)
	}

	stop := errors.New("stop")
	calls := 0
	err = pixels.Render(bytes.NewReader(data), cfg, outs, func(pixels.Rendered) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("emit refused: %v after %d calls; want its error after one", err, calls)
	}
	err = pixels.Render(iotest.ErrReader(stop), cfg, []pixels.Output{{Width: 10, Height: 10, Mode: pixels.Fit, Format: pixels.TIFF}},
		func(pixels.Rendered) error { t.Error("a TIFF was written"); return nil })
	if !errors.Is(err, pixels.ErrUnsupported) {
		t.Errorf("TIFF output: %v, want ErrUnsupported before a byte is read", err)
	}
	if err := pixels.Render(iotest.ErrReader(stop), cfg, nil, nil); err != nil {
		t.Errorf("no outputs: %v; want nothing read, nil", err)
	}
}

// TestNeededSize: a Fit thumbnail needs its own size, a Fill thumbnail its
// box, both in the stored orientation, the largest over the outputs.
func TestNeededSize(t *testing.T) {
	fit := func(w, h int) pixels.Output { return pixels.Output{Width: w, Height: h, Mode: pixels.Fit} }
	fill := func(w, h int) pixels.Output { return pixels.Output{Width: w, Height: h, Mode: pixels.Fill} }
	tests := []struct {
		name         string
		c            pixels.Config
		outs         []pixels.Output
		wantW, wantH int
	}{
		{"wide into a square", pixels.Config{Width: 65535, Height: 399}, []pixels.Output{fit(200, 200)}, 200, 1},
		{"two sizes", pixels.Config{Width: 31250, Height: 1599}, []pixels.Output{fit(200, 200), fit(800, 800)}, 800, 41},
		{"tall", pixels.Config{Width: 300, Height: 4000}, []pixels.Output{fit(200, 200)}, 15, 200},
		{"landscape photo", pixels.Config{Width: 4000, Height: 3000}, []pixels.Output{fit(200, 200)}, 200, 150},
		{"smaller than the box", pixels.Config{Width: 120, Height: 90}, []pixels.Output{fit(200, 200)}, 120, 90},
		{"fill needs the box", pixels.Config{Width: 65535, Height: 399}, []pixels.Output{fill(200, 200)}, 200, 200},
		{"fit and fill", pixels.Config{Width: 4000, Height: 3000}, []pixels.Output{fit(800, 800), fill(100, 300)}, 800, 600},
		{"quarter turn swaps the box", pixels.Config{Width: 4000, Height: 3000, Orientation: 6}, []pixels.Output{fit(200, 100)}, 100, 75},
	}
	for _, tt := range tests {
		if w, h := pixels.NeededSize(tt.c, tt.outs); w != tt.wantW || h != tt.wantH {
			t.Errorf("%s: NeededSize = %dx%d, want %dx%d", tt.name, w, h, tt.wantW, tt.wantH)
		}
	}
}
