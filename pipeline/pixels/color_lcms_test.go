package pixels_test

import (
	"bytes"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// The thumbnails of tagged photos are compared with lcms, through vips
// (Debian's libvips-tools): for RGB and gray sources, vips icc_transform
// converts the pixels of the untagged thumbnail, so only the colour
// conversion is measured; for CMYK, vips icc_transform converts the whole
// file, which vips thumbnail then resizes: converted before the resize, as
// Render does. The bound is on the mean CIEDE2000 difference over every
// pixel: 1 for matrix profiles, 2.5 for CMYK LUT profiles.

// colourful returns a smooth w×h image that sweeps the hues across and
// from saturated to dark and light down, so that wide-gamut conversions
// move every pixel and resampling differences stay small.
func colourful(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := colourfulAt(x, y, w, h)
			img.SetNRGBA(x, y, color.NRGBA{uint8(c[0]*255 + 0.5), uint8(c[1]*255 + 0.5), uint8(c[2]*255 + 0.5), 255})
		}
	}
	return img
}

// colourfulAt is the colour of colourful's pixel (x, y), 0 to 1.
func colourfulAt(x, y, w, h int) [3]float64 {
	v := float64(y) / float64(h-1)
	hue := 6 * float64(x) / float64(w)
	var c [3]float64
	for i := range c {
		d := math.Mod(hue+float64(2*i), 6)
		c[i] = math.Max(0, math.Min(1, math.Abs(d-3)-1))
	}
	for i := range c {
		if v < 0.5 { // saturated to black
			c[i] *= 1 - v
		} else { // saturated to pastel
			c[i] += (1 - c[i]) * (v - 0.5)
		}
	}
	return c
}

// vips runs the vips command line in dir.
func vips(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(pixeltest.NeedTool(t, "vips", "libvips-tools"), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vips %v: %v\n%s", args, err, out)
	}
}

// vipsOutput runs vips in dir and returns the file it wrote, name, and
// that file's header.
func vipsOutput(t *testing.T, dir, name string, args ...string) ([]byte, pixels.Config) {
	t.Helper()
	vips(t, dir, args...)
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return data, cfg
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeImage(t, b)
}

var pngOut = pixels.Output{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.PNG}

func TestColorAgainstLCMS(t *testing.T) {
	photo := colourful(600, 400)
	rgbJPEG := pixeltest.JPEG(photo, 95)
	gray := image.NewGray(photo.Bounds())
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i % 600 * 255 / 599)
	}
	grayJPEG := pixeltest.JPEG(gray, 95)
	tests := []struct {
		name    string
		jpeg    []byte
		profile string
		pkg     string
		gray    bool
	}{
		{"Display P3", rgbJPEG, displayP3, "", false},
		{"Adobe RGB", rgbJPEG, freeProfiles + "/compatibleWithAdobeRGB1998.icc", "icc-profiles-free", false},
		{"gray", grayJPEG, gsProfiles + "/sgray.icc", "libgs-common", true},
		{"gray (icc-profiles-free)", grayJPEG, freeProfiles + "/Gray.icc", "icc-profiles-free", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			profile := pixeltest.NeedFile(t, tt.profile, tt.pkg)
			dir := t.TempDir()
			got, note := render(t, pixeltest.WithICC(tt.jpeg, profile), pngOut)
			if note != "" {
				t.Fatalf("note %q", note)
			}
			// The same thumbnail untagged: the pixels lcms converts.
			untagged := decodeImage(t, unconverted(t, tt.jpeg, pngOut))
			if tt.gray {
				g := image.NewGray(untagged.Bounds())
				for y := range g.Rect.Dy() {
					for x := range g.Rect.Dx() {
						g.Set(x, y, untagged.At(x, y))
					}
				}
				untagged = g
			}
			var buf bytes.Buffer
			if err := pixels.Encode(&buf, untagged, pixels.PNG, 0); err != nil {
				t.Fatal(err)
			}
			write(t, dir, "in.png", buf.Bytes())
			write(t, dir, "in.icc", profile)
			vips(t, dir, "icc_transform", "in.png", "ref.png", "srgb", "--input-profile", "in.icc", "--intent", "perceptual")
			mean, worst := pixeltest.MeanDeltaE(decodeImage(t, got), readPNG(t, filepath.Join(dir, "ref.png")))
			t.Logf("%s: mean ΔE2000 %.3f, worst %.3f", tt.name, mean, worst)
			if mean > 1 {
				t.Errorf("%s: mean ΔE2000 from lcms %.3f, want ≤ 1", tt.name, mean)
			}
		})
	}
}

func TestCMYKAgainstLCMS(t *testing.T) {
	profile := pixeltest.NeedFile(t, gsProfiles+"/default_cmyk.icc", "libgs-common")
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := pixels.Encode(&buf, colourful(600, 400), pixels.PNG, 0); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "rgb.png", buf.Bytes())
	write(t, dir, "cmyk.icc", profile)
	// A CMYK JPEG as print workflows make them, the profile embedded.
	cmyk, cfg := vipsOutput(t, dir, "cmyk.jpg", "icc_transform", "rgb.png", "cmyk.jpg[Q=95]", "cmyk.icc", "--input-profile", "srgb", "--embedded", "--intent", "perceptual")
	if cfg.Channels != 4 || !bytes.Equal(cfg.ICC, profile) {
		t.Fatalf("vips wrote %d channels and a %d-byte profile; want CMYK with the %d-byte profile", cfg.Channels, len(cfg.ICC), len(profile))
	}
	got, note := render(t, cmyk, pngOut)
	if note != "" {
		t.Fatalf("note %q", note)
	}
	// lcms converts the whole image, perceptual with black point
	// compensation as the icc package does (vips thumbnail would convert
	// without it, leaving the richest black a dark grey), then vips resizes.
	vips(t, dir, "icc_transform", "cmyk.jpg", "full.png", "srgb", "--embedded", "--intent", "perceptual", "--black-point-compensation")
	vips(t, dir, "thumbnail", "full.png", "ref.png", "200")
	gotImg, ref := decodeImage(t, got), readPNG(t, filepath.Join(dir, "ref.png"))
	if gotImg.Bounds().Size() != ref.Bounds().Size() {
		t.Fatalf("thumbnail %v, vips thumbnail %v", gotImg.Bounds().Size(), ref.Bounds().Size())
	}
	mean, worst := pixeltest.MeanDeltaE(gotImg, ref)
	t.Logf("CMYK: mean ΔE2000 %.3f, worst %.3f", mean, worst)
	if mean > 2.5 {
		t.Errorf("CMYK: mean ΔE2000 from lcms %.3f, want ≤ 2.5", mean)
	}
	// Without its profile the same file goes through the naive formula,
	// which is far off.
	stripped := stripICC(cmyk)
	if c, err := pixels.DecodeConfig(stripped); err != nil || c.ICC != nil {
		t.Fatalf("stripping the profile: %v, %d bytes left", err, len(c.ICC))
	}
	naive, _ := render(t, stripped, pngOut)
	if m, _ := pixeltest.MeanDeltaE(decodeImage(t, naive), ref); m <= mean {
		t.Errorf("the naive conversion (ΔE %.3f) is no worse than the profile's (%.3f)", m, mean)
	}
}

func write(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// stripICC removes a JPEG's APP2 segments.
func stripICC(jpg []byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	p := jpg[2:]
	for len(p) >= 4 && p[0] == 0xFF && p[1] != 0xDA {
		n := 2 + (int(p[2])<<8 | int(p[3]))
		if p[1] != 0xE2 {
			out = append(out, p[:n]...)
		}
		p = p[n:]
	}
	return append(out, p...)
}

// TestTIFFProfile: a TIFF that vips wrote with an embedded profile (tag
// 34675) has it read with the header and converted; a tag claiming more
// than icc.MaxSize bytes is ignored with a note.
func TestTIFFProfile(t *testing.T) {
	p3 := pixeltest.NeedFile(t, displayP3, "")
	dir := t.TempDir()
	photo := colourful(300, 200)
	var buf bytes.Buffer
	if err := pixels.Encode(&buf, photo, pixels.PNG, 0); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "in.png", buf.Bytes())
	write(t, dir, "p3.icc", p3)
	tagged, cfg := vipsOutput(t, dir, "tagged.tif", "tiffsave", "in.png", "tagged.tif", "--profile", "p3.icc") // little-endian
	if !bytes.Equal(cfg.ICC, p3) || cfg.ICCIgnored != "" {
		t.Fatalf("read a %d-byte profile (%q), want the %d-byte Display P3", len(cfg.ICC), cfg.ICCIgnored, len(p3))
	}
	got, note := render(t, tagged, pngOut)
	if note != "" {
		t.Fatalf("note %q", note)
	}
	untagged, _ := render(t, pixeltest.TIFF(photo), pngOut)
	if mean, _ := pixeltest.MeanDeltaE(decodeImage(t, got), decodeImage(t, untagged)); mean < 0.5 {
		t.Errorf("the Display P3 TIFF was not converted (ΔE %.3f from untagged)", mean)
	}
	// The same file, its profile tag claiming 64 MiB.
	huge := bytes.Clone(tagged)
	i := bytes.Index(huge, tagEntry)
	if i < 0 {
		t.Fatal("no ICC profile tag entry in the file vips wrote")
	}
	copy(huge[i+4:i+8], []byte{0, 0, 0, 4})
	cfg, err := pixels.DecodeConfig(huge)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ICC != nil || !strings.Contains(cfg.ICCIgnored, "exceeds") {
		t.Errorf("a 64 MiB profile tag gave %d bytes and %q", len(cfg.ICC), cfg.ICCIgnored)
	}
}

// tagEntry is the start of the little-endian TIFF IFD entry of the ICC
// profile tag (34675, type UNDEFINED).
var tagEntry = []byte{0x73, 0x87, 7, 0}

// TestColorEveryOutputFormat converts a Display P3 photo into every
// format pixels writes and holds each to lcms: its mean ΔE2000 from lcms's
// conversion may exceed what the format itself loses on lcms's pixels
// (lcms's image written in that format and read back) by at most 1, the
// bound of a matrix profile. The conversion comes before the encoder, so a
// format cannot have its own.
func TestColorEveryOutputFormat(t *testing.T) {
	profile := pixeltest.NeedFile(t, displayP3, "")
	src := pixeltest.JPEG(colourful(600, 400), 95)
	dir := t.TempDir()
	var buf bytes.Buffer
	untagged := decodeImage(t, unconverted(t, src, pngOut))
	if err := pixels.Encode(&buf, untagged, pixels.PNG, 0); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "in.png", buf.Bytes())
	write(t, dir, "in.icc", profile)
	vips(t, dir, "icc_transform", "in.png", "ref.png", "srgb", "--input-profile", "in.icc", "--intent", "perceptual")
	ref := readPNG(t, filepath.Join(dir, "ref.png"))
	tagged := pixeltest.WithICC(src, profile)
	for _, f := range []pixels.Format{pixels.JPEG, pixels.PNG, pixels.GIF, pixels.WebP, pixels.AVIF} {
		if !f.Writable() {
			t.Fatalf("pixels does not write %s", f)
		}
		t.Run(string(f), func(t *testing.T) {
			opts := pixels.EncodeOptions{Quality: 95}
			o := pngOut
			o.Format, o.Encode = f, opts
			got, note := render(t, tagged, o)
			if note != "" {
				t.Fatalf("note %q", note)
			}
			var own bytes.Buffer
			if err := pixels.EncodeWith(&own, ref, f, opts); err != nil {
				t.Fatal(err)
			}
			loss, _ := pixeltest.MeanDeltaE(decodeImage(t, own.Bytes()), ref)
			mean, worst := pixeltest.MeanDeltaE(decodeImage(t, got), ref)
			t.Logf("%s: mean ΔE2000 from lcms %.3f (worst %.3f); the format's own loss %.3f", f, mean, worst, loss)
			if mean > loss+1 {
				t.Errorf("%s: mean ΔE2000 from lcms %.3f, over the format's own %.3f + 1", f, mean, loss)
			}
		})
	}
}
