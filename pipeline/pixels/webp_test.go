package pixels_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// webpTool runs one of Debian's webp tools (cwebp, dwebp, img2webp,
// gif2webp, webpmux) in dir, failing the test on an error.
func webpTool(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	path := pixeltest.NeedTool(t, name, "webp")
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// writePNG writes img as a PNG file in dir and returns its name.
func writePNG(t *testing.T, dir, name string, img image.Image) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), pixeltest.PNG(img), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// dwebp decodes a WebP file in dir with libwebp's dwebp, the reference,
// upsampling chroma by replication as golang.org/x/image/webp does (its
// default "fancy" filter differs from it by some 30 dB on a noisy photo).
func dwebp(t *testing.T, dir, name string) image.Image {
	t.Helper()
	webpTool(t, dir, "dwebp", "-quiet", "-nofancy", name, "-o", name+".ref.png")
	return readPNG(t, filepath.Join(dir, name+".ref.png"))
}

// cwebpOf writes img as name.png in dir, encodes it with cwebp and args
// into name and returns the WebP's bytes.
func cwebpOf(t *testing.T, dir, name string, img image.Image, args ...string) []byte {
	t.Helper()
	in := writePNG(t, dir, name+".png", img)
	webpTool(t, dir, "cwebp", append(append([]string{"-quiet"}, args...), in, "-o", name)...)
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decodeWebPFile reads and decodes a WebP file in dir through pixels.
func decodeWebPFile(t *testing.T, dir, name string) (pixels.Config, image.Image) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatalf("%s: DecodeConfig: %v", name, err)
	}
	img, err := pixels.Decode(data, c, 0, 0)
	if err != nil {
		t.Fatalf("%s: Decode: %v", name, err)
	}
	return c, img
}

// translucent is a photo whose alpha falls from opaque at the top to
// transparent at the bottom, with a fully transparent left quarter.
func translucent(w, h int) *image.NRGBA {
	photo := pixeltest.Photo(w, h, 3)
	img := image.NewNRGBA(photo.Bounds())
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := photo.RGBAAt(x, y)
			a := uint8(255 - 255*y/h)
			if x < w/4 {
				a = 0
			}
			img.SetNRGBA(x, y, color.NRGBA{R: c.R, G: c.G, B: c.B, A: a})
		}
	}
	return img
}

// TestWebPAgainstDwebp decodes WebPs made by cwebp (lossy, lossless,
// with alpha), img2webp and gif2webp and compares each with libwebp's own
// decoding by dwebp.
func TestWebPAgainstDwebp(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, dir, "photo.png", pixeltest.Photo(300, 200, 1))
	writePNG(t, dir, "alpha.png", translucent(300, 200))
	tests := []struct {
		name string
		tool string
		args []string
		// minPSNR is against dwebp: the two lossy decoders round their
		// transforms differently.
		minPSNR  float64
		channels int
	}{
		{"lossy.webp", "cwebp", []string{"-quiet", "-q", "80", "photo.png", "-o", "lossy.webp"}, 30, 3},
		{"lossless.webp", "cwebp", []string{"-quiet", "-lossless", "photo.png", "-o", "lossless.webp"}, 99, 4},
		{"lossy-alpha.webp", "cwebp", []string{"-quiet", "-q", "80", "alpha.png", "-o", "lossy-alpha.webp"}, 30, 4},
		{"lossless-alpha.webp", "cwebp", []string{"-quiet", "-lossless", "-exact", "alpha.png", "-o", "lossless-alpha.webp"}, 99, 4},
		{"img2webp.webp", "img2webp", []string{"-lossy", "-q", "80", "photo.png", "-o", "img2webp.webp"}, 30, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			webpTool(t, dir, tc.tool, tc.args...)
			c, img := decodeWebPFile(t, dir, tc.name)
			if c.Format != pixels.WebP || c.Width != 300 || c.Height != 200 || c.Channels != tc.channels {
				t.Errorf("header %+v; want a 300x200 WebP with %d channels", c, tc.channels)
			}
			ref := dwebp(t, dir, tc.name)
			if psnr := pixeltest.PSNR(img, ref); psnr < tc.minPSNR {
				t.Errorf("PSNR %.1f dB against dwebp; want at least %.0f", psnr, tc.minPSNR)
			} else {
				t.Logf("PSNR %.1f dB against dwebp", psnr)
			}
		})
	}
}

// TestAnimatedWebP decodes the first frame of animations made by img2webp
// and gif2webp, where a valid animated file used to be refused as corrupt,
// and compares it with that frame cut out by webpmux and decoded by dwebp.
func TestAnimatedWebP(t *testing.T) {
	dir := t.TempDir()
	frames := []image.Image{pixeltest.Photo(120, 80, 1), pixeltest.Upright(120, 80), pixeltest.Photo(120, 80, 9)}
	var names []string
	for i, f := range frames {
		names = append(names, writePNG(t, dir, fmt.Sprintf("f%d.png", i), f))
	}
	if err := os.WriteFile(filepath.Join(dir, "anim.gif"), pixeltest.AnimatedGIF(120, 80, 4), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tool    string
		args    []string
		frames  int
		minPSNR float64
	}{
		{"lossy.webp", "img2webp", append(append([]string{"-lossy", "-q", "90"}, names...), "-o", "lossy.webp"), 3, 30},
		{"lossless.webp", "img2webp", append(append([]string{"-lossless"}, names...), "-o", "lossless.webp"), 3, 99},
		{"gif.webp", "gif2webp", []string{"-quiet", "anim.gif", "-o", "gif.webp"}, 4, 99},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			webpTool(t, dir, tc.tool, tc.args...)
			c, img := decodeWebPFile(t, dir, tc.name)
			if c.Frames != tc.frames || c.Width != 120 || c.Height != 80 {
				t.Errorf("header %+v; want 120x80 with %d frames", c, tc.frames)
			}
			webpTool(t, dir, "webpmux", "-get", "frame", "1", tc.name, "-o", tc.name+".frame1.webp")
			ref := dwebp(t, dir, tc.name+".frame1.webp")
			if ref.Bounds().Size() != img.Bounds().Size() {
				t.Fatalf("first frame %v; webpmux's is %v", img.Bounds(), ref.Bounds())
			}
			if psnr := pixeltest.PSNR(img, ref); psnr < tc.minPSNR {
				t.Errorf("PSNR %.1f dB against the first frame; want at least %.0f", psnr, tc.minPSNR)
			}
		})
	}
}

// TestAnimatedWebPCanvas places a first frame smaller than its canvas where
// its ANMF chunk says, on transparent pixels.
func TestAnimatedWebPCanvas(t *testing.T) {
	frame := pixeltest.File("lossless.webp") // 96×64, simple format
	data := animatedWebP(t, 200, 100, 10, 20, frame, 2)
	c, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Width != 200 || c.Height != 100 || c.Frames != 2 || c.Channels != 4 {
		t.Fatalf("header %+v; want a 200x100 canvas with 2 frames and alpha", c)
	}
	img, err := pixels.Decode(data, c, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	still, err := pixels.Decode(frame, mustConfig(t, frame), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, a := img.At(5, 5).RGBA(); a != 0 {
		t.Errorf("outside the frame: alpha %d, want transparent", a)
	}
	if got, want := color.NRGBAModel.Convert(img.At(10+50, 20+30)), color.NRGBAModel.Convert(still.At(50, 30)); got != want {
		t.Errorf("inside the frame: %v, want the frame's %v", got, want)
	}
}

func mustConfig(t *testing.T, data []byte) pixels.Config {
	t.Helper()
	c, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// riffChunk is one RIFF chunk, padded to an even size.
func riffChunk(fourcc string, data []byte) []byte {
	c := binary.LittleEndian.AppendUint32([]byte(fourcc), uint32(len(data)))
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func riffFile(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

func vp8x(flags byte, w, h int) []byte {
	return riffChunk("VP8X", []byte{flags, 0, 0, 0,
		byte(w - 1), byte((w - 1) >> 8), byte((w - 1) >> 16), byte(h - 1), byte((h - 1) >> 8), byte((h - 1) >> 16)})
}

// animatedWebP makes an animation of n copies of a simple WebP's
// bitstream chunk on a w×h canvas, the frames at (x, y) (even numbers).
func animatedWebP(t *testing.T, w, h, x, y int, simple []byte, n int) []byte {
	t.Helper()
	fc := mustConfig(t, simple)
	anmf := []byte{byte(x / 2), 0, 0, byte(y / 2), 0, 0,
		byte(fc.Width - 1), byte((fc.Width - 1) >> 8), 0, byte(fc.Height - 1), byte((fc.Height - 1) >> 8), 0,
		100, 0, 0, 0}
	anmf = append(anmf, simple[12:]...)
	chunks := [][]byte{vp8x(0x02|0x10, w, h), riffChunk("ANIM", make([]byte, 6))}
	for range n {
		chunks = append(chunks, riffChunk("ANMF", anmf))
	}
	return riffFile(chunks...)
}

// webpWithEXIF wraps a simple WebP in the extended format with an EXIF
// chunk after the image data, carrying orientation o.
func webpWithEXIF(t *testing.T, simple []byte, o int, bigEndian, jpegPrefix bool) []byte {
	t.Helper()
	c := mustConfig(t, simple)
	tiff := pixeltest.EXIFOrientation(o, bigEndian)
	if jpegPrefix {
		tiff = append([]byte("Exif\x00\x00"), tiff...)
	}
	var flags byte = 0x08
	if c.Channels == 4 && !c.Lossless {
		flags |= 0x10
	}
	return riffFile(vp8x(flags, c.Width, c.Height), simple[12:], riffChunk("EXIF", tiff))
}

// TestWebPOrientation makes thumbnails of WebPs (lossy by cwebp, and
// lossless) stored as a camera stores each EXIF orientation, 1 to 8: every
// one comes out upright.
func TestWebPOrientation(t *testing.T) {
	dir := t.TempDir()
	const w, h = 96, 64
	up := pixeltest.Upright(w, h)
	for o := 1; o <= 8; o++ {
		for _, lossless := range []bool{false, true} {
			name := fmt.Sprintf("o%d-%v.webp", o, lossless)
			t.Run(name, func(t *testing.T) {
				args := []string{"-q", "95"}
				if lossless {
					args = []string{"-lossless", "-exact"}
				}
				simple := cwebpOf(t, dir, name, pixeltest.Stored(up, o), args...)
				data := webpWithEXIF(t, simple, o, o%2 == 0, o == 3)
				c := mustConfig(t, data)
				if c.Orientation != o {
					t.Fatalf("orientation %d, want %d", c.Orientation, o)
				}
				var out image.Image
				err := pixels.Render(bytes.NewReader(data), c, []pixels.Output{{Width: w, Height: h, Mode: pixels.Fit, Format: pixels.PNG}},
					func(r pixels.Rendered) error {
						var err error
						out, err = png.Decode(bytes.NewReader(r.Data))
						return err
					})
				if err != nil {
					t.Fatal(err)
				}
				if out.Bounds().Dx() != w || out.Bounds().Dy() != h {
					t.Fatalf("thumbnail %v, want %dx%d upright", out.Bounds(), w, h)
				}
				if psnr := pixeltest.PSNR(out, up); psnr < 28 {
					t.Errorf("PSNR %.1f dB against the upright image; want it upright", psnr)
				}
			})
		}
	}
}

// TestWebPOutput writes thumbnails as lossy and lossless WebP: dwebp reads
// them, alpha survives, and an opaque image gets no alpha.
func TestWebPOutput(t *testing.T) {
	dir := t.TempDir()
	src := translucent(240, 160)
	opaque := pixeltest.Photo(240, 160, 2)
	tests := []struct {
		name    string
		img     image.Image
		opts    pixels.EncodeOptions
		minPSNR float64
	}{
		{"lossy-alpha.webp", src, pixels.EncodeOptions{Quality: 90}, 30},
		{"lossless-alpha.webp", src, pixels.EncodeOptions{Lossless: true}, 60},
		{"lossy.webp", opaque, pixels.EncodeOptions{Quality: 80}, 24}, // a noisy photo
		{"lossless.webp", opaque, pixels.EncodeOptions{Lossless: true}, 99},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := pixels.EncodeWith(&buf, tc.img, pixels.WebP, tc.opts); err != nil {
				t.Fatal(err)
			}
			if f := pixels.Sniff(buf.Bytes()); f != pixels.WebP {
				t.Fatalf("sniffed as %q", f)
			}
			if err := os.WriteFile(filepath.Join(dir, tc.name), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			ref := dwebp(t, dir, tc.name)
			if psnr := pixeltest.PSNR(ref, tc.img); psnr < tc.minPSNR {
				t.Errorf("PSNR %.1f dB against the source; want at least %.0f", psnr, tc.minPSNR)
			}
			c := mustConfig(t, buf.Bytes())
			if c.Lossless != tc.opts.Lossless {
				t.Errorf("lossless %v, want %v", c.Lossless, tc.opts.Lossless)
			}
			_, _, _, a := ref.At(10, 10).RGBA()
			_, _, _, b := ref.At(200, 150).RGBA()
			if tc.img == src && (a != 0 || b == 0xffff) {
				t.Errorf("alpha lost: %d at the transparent corner, %d near the bottom", a, b)
			}
			if tc.img == opaque && !tc.opts.Lossless && c.Channels != 3 {
				t.Errorf("an opaque image written with %d channels", c.Channels)
			}
		})
	}
}

// TestWebPRefused checks malformed and hostile WebP structures are refused
// from the header with a message that says what is wrong.
func TestWebPRefused(t *testing.T) {
	simple := pixeltest.File("lossy.webp")
	c := mustConfig(t, simple)
	many := animatedWebP(t, c.Width, c.Height, 0, 0, simple, 10_001)
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"too many frames", many, pixels.ErrUnsupported, "more than 10000 frames"},
		{"chunk overruns", riffFile(vp8x(0, 10, 10), []byte("ICCP\xff\xff\xff\x7f")), pixels.ErrCorrupt, "overruns the RIFF payload"},
		{"animation flag without frames", riffFile(vp8x(0x02, 10, 10), riffChunk("ANIM", make([]byte, 6))), pixels.ErrCorrupt, "without frames"},
		{"frame without flag", riffFile(vp8x(0, 10, 10), riffChunk("ANMF", make([]byte, 24))), pixels.ErrCorrupt, "no animation flag"},
		{"size mismatch", riffFile(vp8x(0, c.Width+1, c.Height), simple[12:]), pixels.ErrCorrupt, "VP8X says"},
		{"truncated", simple[:len(simple)/2], pixels.ErrCorrupt, "truncated"},
		{"not a key frame", riffFile(riffChunk("VP8 ", []byte{1, 0, 0, 0x9d, 1, 0x2a, 10, 0, 10, 0})), pixels.ErrCorrupt, "key frame"},
	}
	for _, tc := range tests {
		_, err := pixels.DecodeConfig(tc.data)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want %v saying %q", tc.name, err, tc.want, tc.msg)
		}
	}
}

// TestWebPMemory checks the estimate covers decoding a lossless file, an
// animation's first frame on its canvas and a lossy file with alpha.
func TestWebPMemory(t *testing.T) {
	lossyAlpha := cwebpOf(t, t.TempDir(), "alpha.webp", translucent(600, 400), "-q", "80")
	var err error
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"lossless", pixeltest.OneColourWebP(1200, 900, 0xff102030)},
		{"animation", animatedWebP(t, 1200, 900, 100, 100, pixeltest.OneColourWebP(800, 600, 0x80ff0000), 3)},
		{"lossy with alpha", lossyAlpha},
	} {
		c := mustConfig(t, tc.data)
		estimate := pixels.DecodeMemory(c, 200, 200)
		used := int64(pixeltest.PeakHeap(func() { _, err = pixels.Decode(tc.data, c, 200, 200) }))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: estimated %d bytes, peak heap %d", tc.name, estimate, used)
		if used > estimate+estimate/4+2<<20 {
			t.Errorf("%s: estimated %d bytes, decoding took %d", tc.name, estimate, used)
		}
	}
}

// BenchmarkWebPEncode writes a 200×200 thumbnail as WebP, lossy (quality
// 80, with and without alpha) and lossless, after a first encode that
// compiles the WebAssembly module (about 0.4 s, once per process). It
// reports the CPU time per encode beside the wall time, which on a busy
// machine counts waiting for a core.
func BenchmarkWebPEncode(b *testing.B) {
	photo := pixeltest.Photo(200, 200, 4)
	thumb := image.NewNRGBA(photo.Bounds())
	for i := range photo.Pix {
		thumb.Pix[i] = photo.Pix[i] // opaque: premultiplied is straight
	}
	alpha := translucent(200, 200)
	if err := pixels.EncodeWith(io.Discard, thumb, pixels.WebP, pixels.EncodeOptions{Quality: 80}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		img  image.Image
		opts pixels.EncodeOptions
	}{
		{"lossy", thumb, pixels.EncodeOptions{Quality: 80}},
		{"lossy-alpha", alpha, pixels.EncodeOptions{Quality: 80}},
		{"lossless", thumb, pixels.EncodeOptions{Lossless: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var out bytes.Buffer
			cpu := cpuTime()
			for b.Loop() {
				out.Reset()
				if err := pixels.EncodeWith(&out, bc.img, pixels.WebP, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(out.Len()), "bytes")
		})
	}
}

// TestWebPShrink checks that a WebP decoded for a box much smaller than
// the image is averaged down to no less than twice the box, and that its
// thumbnail matches the one resampled from the full-size image.
func TestWebPShrink(t *testing.T) {
	lossy := cwebpOf(t, t.TempDir(), "alpha.webp", translucent(900, 600), "-q", "90")
	for _, tc := range []struct {
		name string
		data []byte
	}{{"lossy with alpha", lossy}, {"lossless", pixeltest.File("lossless.webp")}} {
		c := mustConfig(t, tc.data)
		box := c.Width / 7
		img, err := pixels.Decode(tc.data, c, box, box)
		if err != nil {
			t.Fatal(err)
		}
		full, err := pixels.Decode(tc.data, c, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() < 2*box || b.Dy() < 2*box || b.Dx() >= c.Width {
			t.Errorf("%s: %dx%d decoded for a %d box from %dx%d; want it shrunk to no less than twice the box", tc.name, b.Dx(), b.Dy(), box, c.Width, c.Height)
		}
		got := pixels.Resize(img, box, box, pixels.Fit)
		want := pixels.Resize(full, box, box, pixels.Fit)
		if psnr := pixeltest.PSNR(got, want); psnr < 35 {
			t.Errorf("%s: thumbnail %.1f dB from the full-size one's; want at least 35", tc.name, psnr)
		}
	}
}
