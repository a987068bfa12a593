package pixels_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// The HEIF tests encode their fixtures with the real encoders, heif-enc
// (libheif-examples: x265, and aom for AVIF) and avifenc (libavif-bin),
// and compare decodes with theirs: heif-convert and avifdec, the same
// libraries built natively. A missing encoder skips the test, or fails
// it when CI is set.

func heifEnc(t *testing.T, imgs []image.Image, args ...string) []byte {
	t.Helper()
	pixeltest.NeedTool(t, "heif-enc", "libheif-examples")
	b, err := pixeltest.EncodeHEIF(t.TempDir(), imgs, args...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func avifEnc(t *testing.T, img image.Image, args ...string) []byte {
	t.Helper()
	pixeltest.NeedTool(t, "avifenc", "libavif-bin")
	b, err := pixeltest.EncodeAVIF(t.TempDir(), img, args...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// referenceDecode decodes data with tool (heif-convert or avifdec) into a
// PNG and returns it.
func referenceDecode(t *testing.T, tool, pkg string, data []byte, ext string) image.Image {
	t.Helper()
	path := pixeltest.NeedTool(t, tool, pkg)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"+ext), filepath.Join(dir, "out.png")
	write(t, dir, "in"+ext, data)
	if msg, err := exec.Command(path, in, out).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, msg)
	}
	return readPNG(t, out)
}

// decodeFull decodes data at full size through the package.
func decodeFull(t *testing.T, data []byte) (image.Image, pixels.Config) {
	t.Helper()
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatalf("DecodeConfig: %v", err)
	}
	img, err := pixels.Decode(data, cfg, 0, 0)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return img, cfg
}

// heifPSNR is the least PSNR, in dB, of a full-size decode against the
// native library's decode of the same file, for smooth images, where
// tests do not hold it to more. The decoders are the same code; what may
// differ is the YCbCr to RGB conversion: chroma upsampling (bilinear in
// some reference paths, the nearest sample here) and rounding. On a photo
// with colour noise in every pixel that alone costs some 10 dB, which is
// why the images compared here are smooth.
const heifPSNR = 38

// The PSNR the decodes reach against the reference tools, which the
// reference test holds them to: libde265 and this package's conversion
// give heif-convert's output sample for sample; dav1d's pictures
// converted here are within rounding of avifdec's in BT.601 full range.
const (
	heicRefPSNR = 80
	avifRefPSNR = 50
)

func TestHEIFDecodeAgainstReference(t *testing.T) {
	photo := colourful(640, 480)
	tests := []struct {
		name, tool, pkg, ext string
		data                 func(t *testing.T) []byte
		format               pixels.Format
	}{
		{"HEIC", "heif-convert", "libheif-examples", ".heic", func(t *testing.T) []byte { return heifEnc(t, []image.Image{photo}, "-q", "80") }, pixels.HEIC},
		{"AVIF", "avifdec", "libavif-bin", ".avif", func(t *testing.T) []byte { return avifEnc(t, photo, "--min", "8", "--max", "16") }, pixels.AVIF},
		{"AVIF 10-bit", "avifdec", "libavif-bin", ".avif", func(t *testing.T) []byte { return avifEnc(t, photo, "--min", "8", "--max", "16", "--depth", "10") }, pixels.AVIF},
		{"AVIF 4:4:4", "avifdec", "libavif-bin", ".avif", func(t *testing.T) []byte { return avifEnc(t, photo, "--min", "8", "--max", "16", "--yuv", "444") }, pixels.AVIF},
		{"AVIF grid", "avifdec", "libavif-bin", ".avif", func(t *testing.T) []byte { return avifEnc(t, photo, "--min", "8", "--max", "16", "--grid", "2x2") }, pixels.AVIF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			got, cfg := decodeFull(t, data)
			min := float64(avifRefPSNR)
			if tt.format == pixels.HEIC {
				min = heicRefPSNR
			}
			if cfg.Format != tt.format || cfg.Width != 640 || cfg.Height != 480 {
				t.Fatalf("header %s %dx%d, want %s 640x480", cfg.Format, cfg.Width, cfg.Height, tt.format)
			}
			want := referenceDecode(t, tt.tool, tt.pkg, data, tt.ext)
			if p := pixeltest.PSNR(got, want); p < min {
				t.Errorf("PSNR against %s %.1f dB, want at least %.0f", tt.tool, p, min)
			} else {
				t.Logf("PSNR against %s: %.1f dB", tt.tool, p)
			}
		})
	}
}

// TestAVIFColourCoding decodes AVIFs of every matrix, range, layout and
// depth the YCbCr conversion handles, as avifenc writes them at high
// quality, and holds each to the source picture: at least 45 dB, or no
// more than 1 dB below libavif's own decode (avifdec) where that is lower.
// libavif's conversion for limited-range BT.709 loses about 14 dB on
// saturated colours (libyuv's fixed-point path); this one does not. Its
// chroma is upsampled by the nearest sample, libavif's by bilinear
// filtering where it is not libyuv's: 54 dB rather than 64 for 4:2:2.
func TestAVIFColourCoding(t *testing.T) {
	src := colourful(640, 480)
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"BT.601 full range 4:2:0", []string{"--yuv", "420"}},
		{"BT.709 limited range", []string{"--cicp", "1/13/1", "--range", "limited"}},
		{"BT.709 limited range 4:2:0 10-bit", []string{"--cicp", "1/13/1", "--range", "limited", "--yuv", "420", "--depth", "10"}},
		{"BT.2020 4:2:2 12-bit", []string{"--cicp", "1/13/9", "--yuv", "422", "--depth", "12"}},
		{"SMPTE 240M", []string{"--cicp", "1/13/7"}},
		{"monochrome", []string{"--yuv", "400"}},
		{"lossless (identity matrix)", []string{"--lossless"}},
		{"YCgCo", []string{"--cicp", "1/13/8", "--yuv", "444"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !slices.Contains(args, "--lossless") {
				args = append([]string{"--min", "0", "--max", "4"}, args...)
			}
			data := avifEnc(t, src, args...)
			got, _ := decodeFull(t, data)
			ref := referenceDecode(t, "avifdec", "libavif-bin", data, ".avif")
			want := image.Image(src)
			if slices.Contains(args, "400") {
				want = toGray(src)
			}
			p, pr := pixeltest.PSNR(got, want), pixeltest.PSNR(ref, want)
			t.Logf("PSNR against the source: %.1f dB (avifdec's decode: %.1f dB)", p, pr)
			if p < min(45, pr-1) {
				t.Errorf("PSNR against the source %.1f dB, want at least %.1f", p, min(45, pr-1))
			}
		})
	}
}

// toGray is img as avifenc codes it in 4:0:0: its BT.601 luma alone.
func toGray(img image.Image) image.Image {
	b := img.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, gg, bb, _ := img.At(x, y).RGBA()
			g.Pix[g.PixOffset(x, y)] = uint8((299*r + 587*gg + 114*bb + 500*257) / (1000 * 257))
		}
	}
	return g
}

// gridHEIC is a 1280×960 photo as phones store it: 256-pixel HEVC tiles
// (5×4, the last row padded) in a grid, with a 320×240 thumbnail item.
func gridHEIC(t *testing.T, orientation int) ([]byte, image.Image) {
	t.Helper()
	photo := colourful(1280, 960)
	thumb := heifEnc(t, []image.Image{pixels.Resize(photo, 320, 240, pixels.Fit)}, "-q", "80")
	data, err := pixeltest.HEIFGrid(photo, 256, 256, func(tiles []image.Image) ([]byte, error) {
		return pixeltest.EncodeHEIF(t.TempDir(), tiles, "-q", "80")
	}, pixeltest.HEIFGridOptions{Thumbnail: thumb, Orientation: orientation})
	if err != nil {
		t.Fatal(err)
	}
	return data, photo
}

func TestHEIFGrid(t *testing.T) {
	data, photo := gridHEIC(t, 1)
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 1280 || cfg.Height != 960 || cfg.TileWidth != 256 || len(cfg.Thumbnails) != 1 || cfg.Thumbnails[0] != image.Pt(320, 240) {
		t.Fatalf("header %+v, want 1280x960 in 256-pixel tiles with a 320x240 thumbnail", cfg)
	}
	t.Run("full size against heif-convert", func(t *testing.T) {
		got, _ := decodeFull(t, data)
		want := referenceDecode(t, "heif-convert", "libheif-examples", data, ".heic")
		if p := pixeltest.PSNR(got, want); p < heifPSNR {
			t.Errorf("PSNR %.1f dB, want at least %d", p, heifPSNR)
		}
	})
	for _, tt := range []struct {
		name       string
		w, h       int
		size       image.Point
		minPSNR    float64
		comparedTo image.Point
	}{
		// 200×200 is covered by the 320×240 thumbnail, which is decoded
		// alone.
		{"thumbnail item", 200, 200, image.Pt(320, 240), 30, image.Pt(320, 240)},
		// 400×300 is not: the tiles are decoded one by one and reduced by
		// 3 as they come.
		{"tiles reduced", 400, 300, image.Pt(427, 320), 30, image.Pt(427, 320)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			img, err := pixels.Decode(data, cfg, tt.w, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got != tt.size {
				t.Fatalf("decoded %v for a %dx%d box, want %v", got, tt.w, tt.h, tt.size)
			}
			want := pixels.Resize(photo, tt.comparedTo.X, tt.comparedTo.Y, pixels.Fit)
			got := pixels.Resize(img, tt.comparedTo.X, tt.comparedTo.Y, pixels.Fit)
			if p := pixeltest.PSNR(got, want); p < tt.minPSNR {
				t.Errorf("PSNR against the source reduced %.1f dB, want at least %.0f", p, tt.minPSNR)
			}
			if mem, full := pixels.DecodeMemory(cfg, tt.w, tt.h), pixels.DecodeMemory(cfg, 0, 0); mem >= full {
				t.Errorf("DecodeMemory for the box %d, not less than at full size (%d)", mem, full)
			}
		})
	}
}

// TestHEIFOrientation writes the irot and imir properties of each EXIF
// orientation 1 to 8 onto a HEIC, a grid HEIC (with its thumbnail) and an
// AVIF of an image stored as a camera would under that orientation: every
// thumbnail comes out upright, with the red marker top-left.
func TestHEIFOrientation(t *testing.T) {
	for o := 1; o <= 8; o++ {
		t.Run(fmt.Sprint(o), func(t *testing.T) {
			stored := storedAs(pixeltest.Upright(160, 120), o)
			for _, tc := range []struct {
				name string
				data []byte
			}{
				{"HEIC", heifEnc(t, []image.Image{stored}, "-q", "90")},
				{"AVIF", avifEnc(t, stored, "--min", "4", "--max", "10")},
			} {
				data, err := pixeltest.ReorientHEIF(tc.data, o)
				if err != nil {
					t.Fatal(err)
				}
				checkUpright(t, tc.name, data, o)
			}
			grid, err := pixeltest.HEIFGrid(stored, 64, 64, func(tiles []image.Image) ([]byte, error) {
				return pixeltest.EncodeHEIF(t.TempDir(), tiles, "-q", "90")
			}, pixeltest.HEIFGridOptions{Orientation: o})
			if err != nil {
				t.Fatal(err)
			}
			checkUpright(t, "grid", grid, o)
		})
	}
}

// storedAs returns the upright image img stored as a camera with EXIF
// orientation o stores it: the inverse of what o asks a reader to do.
func storedAs(img image.Image, o int) image.Image {
	inverse := map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
	return pixels.Orient(img, inverse[o])
}

func checkUpright(t *testing.T, name string, data []byte, o int) {
	t.Helper()
	cfg, err := pixels.DecodeConfig(data)
	if err != nil || cfg.Orientation != o {
		t.Fatalf("%s: orientation read as %d (%v), want %d", name, cfg.Orientation, err, o)
	}
	checkUprightThumbnail(t, name+": ", data)
}

// halfTranslucent is a 96×64 image whose left half is opaque red and right
// half blue at alpha 0 (top) to 255 (bottom).
func halfTranslucent() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 96, 64))
	for y := range 64 {
		for x := range 96 {
			c := color.NRGBA{R: 255, A: 255}
			if x >= 48 {
				c = color.NRGBA{B: 255, A: uint8(y * 255 / 63)}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// TestHEIFAlpha checks that alpha survives from HEIC and AVIF input into
// PNG and AVIF output.
func TestHEIFAlpha(t *testing.T) {
	src := halfTranslucent()
	inputs := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"HEIC", func(t *testing.T) []byte { return heifEnc(t, []image.Image{src}, "-q", "90") }},
		{"AVIF", func(t *testing.T) []byte { return avifEnc(t, src, "--min", "4", "--max", "10") }},
	}
	for _, in := range inputs {
		for _, out := range []pixels.Format{pixels.PNG, pixels.AVIF} {
			t.Run(in.name+" to "+string(out), func(t *testing.T) {
				data := in.data(t)
				cfg, err := pixels.DecodeConfig(data)
				if err != nil || cfg.Channels != 4 {
					t.Fatalf("header %+v (%v), want 4 channels", cfg, err)
				}
				img := thumbnail(t, data, 96, 64, pixels.Fit, out)
				checkTranslucent(t, img)
			})
		}
	}
}

func checkTranslucent(t *testing.T, img image.Image) {
	t.Helper()
	for _, p := range []struct {
		x, y int
		want color.NRGBA
	}{
		{10, 32, color.NRGBA{R: 255, A: 255}},
		{80, 2, color.NRGBA{B: 255, A: 8}},
		{80, 32, color.NRGBA{B: 255, A: 130}},
		{80, 61, color.NRGBA{B: 255, A: 247}},
	} {
		got := color.NRGBAModel.Convert(img.At(p.x, p.y)).(color.NRGBA)
		if d := int(got.A) - int(p.want.A); d > 12 || d < -12 {
			t.Errorf("alpha at %d,%d = %d, want about %d", p.x, p.y, got.A, p.want.A)
		}
		if p.want.A > 64 && !near(got, p.want, 40) {
			t.Errorf("colour at %d,%d = %v, want about %v", p.x, p.y, got, p.want)
		}
	}
}

func TestAVIFEncode(t *testing.T) {
	photo := colourful(200, 150)
	var small, big bytes.Buffer
	if err := pixels.Encode(&small, photo, pixels.AVIF, 30); err != nil {
		t.Fatal(err)
	}
	if err := pixels.Encode(&big, photo, pixels.AVIF, 90); err != nil {
		t.Fatal(err)
	}
	if small.Len() >= big.Len() {
		t.Errorf("quality 30 gave %d bytes, quality 90 %d: quality is not applied", small.Len(), big.Len())
	}
	if got := pixels.Sniff(big.Bytes()); got != pixels.AVIF {
		t.Fatalf("sniffed %s", got)
	}
	want := referenceDecode(t, "avifdec", "libavif-bin", big.Bytes(), ".avif")
	back, _ := decodeFull(t, big.Bytes())
	if p := pixeltest.PSNR(back, want); p < heifPSNR {
		t.Errorf("our decode against avifdec's %.1f dB, want at least %d", p, heifPSNR)
	}
	if p := pixeltest.PSNR(back, photo); p < heifPSNR {
		t.Errorf("quality 90 against the source %.1f dB, want at least %d", p, heifPSNR)
	}
	if pixels.AVIF.Ext() != ".avif" || pixels.AVIF.ContentType() != "image/avif" || !pixels.AVIF.Writable() {
		t.Errorf("AVIF: %q %q writable %v", pixels.AVIF.Ext(), pixels.AVIF.ContentType(), pixels.AVIF.Writable())
	}
	if pixels.HEIC.Writable() {
		t.Error("HEIC is writable")
	}
}

// TestHEIFNCLX converts an AVIF tagged Display P3 by nclx code points (no
// ICC profile) to sRGB and compares it with lcms converting the same
// pixels from the published Display P3 profile: mean ΔE2000 ≤ 1. HDR
// transfers are left as they are, with a note.
func TestHEIFNCLX(t *testing.T) {
	data := pixeltest.File("p3.avif")
	cfg, err := pixels.DecodeConfig(data)
	if err != nil || len(cfg.ICC) == 0 {
		t.Fatalf("header %+v (%v): no profile made of nclx 12/13", cfg, err)
	}
	got, note := render(t, data, pngOut)
	if note != "" {
		t.Fatalf("note %q", note)
	}
	untagged, err := pixels.Decode(data, cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := pixels.Encode(&buf, untagged, pixels.PNG, 0); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "in.png", buf.Bytes())
	write(t, dir, "in.icc", pixeltest.NeedFile(t, displayP3, ""))
	vips(t, dir, "icc_transform", "in.png", "ref.png", "srgb", "--input-profile", "in.icc", "--intent", "perceptual")
	mean, worst := pixeltest.MeanDeltaE(decodeImage(t, got), readPNG(t, filepath.Join(dir, "ref.png")))
	t.Logf("nclx Display P3: mean ΔE2000 %.3f, worst %.3f", mean, worst)
	if mean > 1 {
		t.Errorf("mean ΔE2000 from lcms %.3f, want ≤ 1", mean)
	}
	if pixeltest.PSNR(decodeImage(t, got), untagged) > 45 {
		t.Error("the thumbnail's colours were not converted")
	}

	pq := avifEnc(t, colourful(32, 24), "--cicp", "9/16/9", "--depth", "10")
	cfg, err = pixels.DecodeConfig(pq)
	if err != nil || cfg.ICC != nil || !strings.Contains(cfg.ICCIgnored, "PQ") {
		t.Errorf("BT.2020 PQ: profile %d bytes, ignored %q (%v); want none, with a note", len(cfg.ICC), cfg.ICCIgnored, err)
	}
	if _, note := render(t, pq, pngOut); !strings.Contains(note, "PQ") {
		t.Errorf("BT.2020 PQ thumbnail note %q", note)
	}
}
