package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestParseSizeFormat reads sizes with a mode and a format after the box,
// in either order, and refuses the ambiguous ones with a message that
// says why.
func TestParseSizeFormat(t *testing.T) {
	tests := []struct {
		in   string
		want pipeline.Size
		err  string // in the error; "" = parsed
	}{
		{"200x200:webp", pipeline.Size{Width: 200, Height: 200, Mode: pixels.Fit, Format: "webp"}, ""},
		{"200x200:fill:webp", pipeline.Size{Width: 200, Height: 200, Mode: pixels.Fill, Format: "webp"}, ""},
		{"200x200:WEBP:fill", pipeline.Size{Width: 200, Height: 200, Mode: pixels.Fill, Format: "webp"}, ""},
		{"1200x1200:avif", pipeline.Size{Width: 1200, Height: 1200, Mode: pixels.Fit, Format: "avif"}, ""},
		{"64x64:jpg", pipeline.Size{Width: 64, Height: 64, Mode: pixels.Fit, Format: "jpeg"}, ""},
		{"64x64:fit:auto", pipeline.Size{Width: 64, Height: 64, Mode: pixels.Fit, Format: "auto"}, ""},
		{"64x64: fill : png ", pipeline.Size{Width: 64, Height: 64, Mode: pixels.Fill, Format: "png"}, ""},
		// A word that is no mode is a format; Validate judges it.
		{"64x64:fil", pipeline.Size{Width: 64, Height: 64, Mode: pixels.Fit, Format: "fil"}, ""},
		{"64x64:fit:fill", pipeline.Size{}, `two modes, "fit" and "fill"`},
		{"64x64:webp:png", pipeline.Size{}, `"png" is not a mode (fit or fill), and the format is already "webp"`},
		{"64x64:fill:webp:x", pipeline.Size{}, "want WxH[:mode][:format]"},
		{"64x64::webp", pipeline.Size{}, "empty mode or format"},
		{"64x64:", pipeline.Size{}, "empty mode or format"},
		{"webp", pipeline.Size{}, "want WxH"},
	}
	for _, tc := range tests {
		got, err := pipeline.ParseSize(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseSize(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.in))):
			t.Errorf("ParseSize(%q) = %v; want an error naming the size and saying %q", tc.in, err, tc.err)
		}
		if err == nil {
			if back, err := pipeline.ParseSize(got.String()); err != nil || back != got {
				t.Errorf("ParseSize(%q.String() = %q) = %+v, %v; want it back", tc.in, got.String(), back, err)
			}
		}
	}
}

// TestValidateFormats accepts every format pixels writes, per size and for
// the whole config, and refuses the others by name.
func TestValidateFormats(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *pipeline.Config)
		want []string // in the error; none = valid
	}{
		{"webp for all", func(c *pipeline.Config) { c.Format = "webp" }, nil},
		{"a size in webp", func(c *pipeline.Config) { c.Sizes[0].Format = "webp" }, nil},
		{"a size in auto under png", func(c *pipeline.Config) { c.Format = "png"; c.Sizes[0].Format = "auto" }, nil},
		{"a size misspelt", func(c *pipeline.Config) { c.Sizes[0].Format = "fil" },
			[]string{`size 200x200: "fil" is neither a mode (fit or fill) nor a format thumbpipe writes (auto, jpeg, png, gif`, "webp"}},
		{"a read-only format", func(c *pipeline.Config) { c.Format = "bmp" }, []string{`format "bmp": want auto, jpeg, png, gif`, "webp"}},
		{"qualities", func(c *pipeline.Config) { c.WebPQuality = 0; c.AVIFQuality = 101 }, []string{"webp quality 0: want 1 to 100", "avif quality 101: want 1 to 100"}},
		{"translucent background", func(c *pipeline.Config) { c.Background = color.RGBA{R: 10, A: 10} }, []string{"background #0a0000: must be opaque"}},
		{"include the webp outputs", func(c *pipeline.Config) { c.Include = []string{"**/*.png.webp"} }, []string{`include "**/*.png.webp" matches thumbnails`}},
	}
	for _, tc := range tests {
		c := pipeline.DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if len(tc.want) == 0 && err != nil {
			t.Errorf("%s: %v; want valid", tc.name, err)
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", tc.name, err, w)
			}
		}
	}
}

// TestSizeFormat is the auto rule and the per-size choice: auto keeps
// the formats browsers show (JPEG, PNG, GIF, WebP) and writes the others as
// JPEG; a size's own format wins over the config's.
func TestSizeFormat(t *testing.T) {
	plain := pipeline.Size{Width: 200, Height: 200, Mode: pixels.Fit}
	own := func(f string) pipeline.Size { s := plain; s.Format = f; return s }
	tests := []struct {
		config string
		size   pipeline.Size
		src    pixels.Format
		want   pixels.Format
	}{
		{"auto", plain, pixels.JPEG, pixels.JPEG},
		{"auto", plain, pixels.PNG, pixels.PNG},
		{"auto", plain, pixels.GIF, pixels.GIF},
		{"auto", plain, pixels.WebP, pixels.WebP},
		{"auto", plain, pixels.TIFF, pixels.JPEG},
		{"auto", plain, pixels.BMP, pixels.JPEG},
		{"auto", plain, pixels.Format("heic"), pixels.JPEG},
		{"auto", plain, pixels.Format("avif"), pixels.JPEG},
		{"png", plain, pixels.JPEG, pixels.PNG},
		{"png", own("webp"), pixels.JPEG, pixels.WebP},
		{"webp", own("auto"), pixels.PNG, pixels.PNG},
		{"webp", own("auto"), pixels.TIFF, pixels.JPEG},
	}
	for _, tc := range tests {
		c := pipeline.DefaultConfig()
		c.Format = tc.config
		if got := c.SizeFormat(tc.size, tc.src); got != tc.want {
			t.Errorf("format %s, size %s, source %s: %s, want %s", tc.config, tc.size, tc.src, got, tc.want)
		}
	}
}

// TestHashFormats checks that each setting enters only the hashes of the
// thumbnails whose bytes it shapes.
func TestHashFormats(t *testing.T) {
	base := pipeline.DefaultConfig()
	s := base.Sizes[0]
	tests := []struct {
		name    string
		edit    func(c *pipeline.Config)
		changed []pixels.Format // formats whose hash changes
	}{
		{"webp quality", func(c *pipeline.Config) { c.WebPQuality = 60 }, []pixels.Format{pixels.WebP}},
		{"webp lossless", func(c *pipeline.Config) { c.WebPLossless = true }, []pixels.Format{pixels.WebP}},
		{"avif quality", func(c *pipeline.Config) { c.AVIFQuality = 30 }, []pixels.Format{"avif"}},
		{"jpeg quality", func(c *pipeline.Config) { c.JPEGQuality = 70 }, []pixels.Format{pixels.JPEG}},
		{"background", func(c *pipeline.Config) { c.Background = color.RGBA{A: 0xff} }, []pixels.Format{pixels.JPEG}},
		{"white background", func(c *pipeline.Config) { c.Background = pipeline.DefaultBackground }, nil},
	}
	for _, tc := range tests {
		c := base
		tc.edit(&c)
		for _, f := range []pixels.Format{pixels.JPEG, pixels.PNG, pixels.GIF, pixels.WebP, "avif"} {
			changed := c.Hash(s, f) != base.Hash(s, f)
			want := false
			for _, g := range tc.changed {
				want = want || g == f
			}
			if changed != want {
				t.Errorf("%s: the %s hash changed %v, want %v", tc.name, f, changed, want)
			}
		}
	}
	// A size that names its format hashes as one that gets it from the
	// config: the bytes are the same.
	named := s
	named.Format = "webp"
	if base.Hash(named, pixels.WebP) != base.Hash(s, pixels.WebP) {
		t.Error("a size naming webp hashes differently from webp by THUMBPIPE_FORMAT")
	}
	// The hash of a size without a format is what it was before sizes had
	// formats, so upgrading remakes no thumbnail.
	if got := base.Hash(s, pixels.JPEG); got != "6de9d35085906ceb" {
		t.Errorf("the default JPEG hash is %s; it must not change", got)
	}
}

// TestPerSizeFormats makes a transparent PNG's thumbnails in three formats
// at once: WebP and PNG keep its alpha, JPEG is flattened on the background.
func TestPerSizeFormats(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	src := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	for y := 0; y < 200; y++ {
		for x := 0; x < 300; x++ {
			if x >= 150 { // the right half opaque blue, the left transparent
				src.SetNRGBA(x, y, color.NRGBA{B: 255, A: 255})
			}
		}
	}
	if err := b.WriteAll(ctx, "up/logo.png", pixeltest.PNG(src), nil); err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.DefaultConfig()
	cfg.Background = color.RGBA{R: 255, G: 0, B: 255, A: 255}
	for _, s := range []string{"240x240:webp", "120x120:fill:jpeg", "60x60"} {
		sz, err := pipeline.ParseSize(s)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Sizes = append(cfg.Sizes[:len(cfg.Sizes):len(cfg.Sizes)], sz)
	}
	cfg.Sizes = cfg.Sizes[1:] // without the default 200x200
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := th.Process(ctx, b, "up/logo.png")
	if err != nil || res.Written() != 3 {
		t.Fatalf("%+v, %v; want three thumbnails", res, err)
	}
	tests := []struct {
		key, contentType string
		format           pixels.Format
		w, h             int
		exact            bool
		left             color.NRGBA // the colour of the transparent half
	}{
		{"thumbnails/240x240/up/logo.png.webp", "image/webp", pixels.WebP, 240, 160, true, color.NRGBA{}},
		{"thumbnails/120x120/up/logo.png.jpg", "image/jpeg", pixels.JPEG, 120, 120, true, color.NRGBA{R: 255, B: 255, A: 255}},
		{"thumbnails/60x60/up/logo.png", "image/png", pixels.PNG, 60, 40, true, color.NRGBA{}},
	}
	for i, tc := range tests {
		if v := res.Variants[i]; v.Key != tc.key || v.Format != tc.format {
			t.Errorf("variant %d: %s as %s; want %s as %s", i, v.Key, v.Format, tc.key, tc.format)
		}
		img := pipelinetest.CheckVariant(t, b, tc.key, "up/logo.png", tc.contentType, tc.w, tc.h, tc.exact)
		got := color.NRGBAModel.Convert(img.At(2, 2)).(color.NRGBA)
		if d := max(diff(got.R, tc.left.R), diff(got.G, tc.left.G), diff(got.B, tc.left.B), diff(got.A, tc.left.A)); tc.left.A == 0 && got.A != 0 || tc.left.A != 0 && d > 8 {
			t.Errorf("%s: the transparent half is %v, want %v", tc.key, got, tc.left)
		}
		right := color.NRGBAModel.Convert(img.At(img.Bounds().Dx()-3, 2)).(color.NRGBA)
		if right.A != 255 || right.B < 220 || right.R > 32 || right.G > 32 {
			t.Errorf("%s: the opaque half is %v, want opaque blue", tc.key, right)
		}
	}
	// A second run finds every thumbnail up to date.
	res, err = th.Process(ctx, b, "up/logo.png")
	if err != nil || res.Written() != 0 {
		t.Fatalf("rerun: %+v, %v; want nothing written", res, err)
	}
	// Deleting the source removes the thumbnails of every format.
	if err := b.Delete(ctx, "up/logo.png"); err != nil {
		t.Fatal(err)
	}
	removed, err := th.Delete(ctx, b, "up/logo.png")
	if err != nil || len(removed) != 3 {
		t.Fatalf("delete removed %v, %v; want the three thumbnails", removed, err)
	}
}

func diff(a, b uint8) uint8 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestDecodeRatioGuard refuses a 34-byte lossless WebP of 5000×5000
// pixels, which the default budget admits (175 MB), before decoding: more
// than 64 MiB from a file a thousandth of that is a bomb.
func TestDecodeRatioGuard(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	data := pixeltest.OneColourWebP(5000, 5000, 0xff336699)
	if err := b.WriteAll(ctx, "bomb.webp", data, nil); err != nil {
		t.Fatal(err)
	}
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var res pipeline.Result
	peak := peakHeap(t, func() { res, err = th.Process(ctx, b, "bomb.webp") })
	if !errors.Is(err, pipeline.ErrTooExpensive) || pipeline.Retryable(err) {
		t.Fatalf("%+v, %v; want a permanent ErrTooExpensive", res, err)
	}
	want := fmt.Sprintf("from a file of %d bytes, over %d times its size", len(data), pipeline.MaxDecodeRatio)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if peak > 4<<20 {
		t.Errorf("refusing it took the heap %.1f MiB above baseline", float64(peak)/(1<<20))
	}
}
