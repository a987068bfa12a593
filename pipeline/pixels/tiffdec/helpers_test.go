package tiffdec

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/reduce"
)

// needTool returns the path of a command line tool; without it the test
// is skipped, or fails when CI is set.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required with CI set (scripts/install-test-packages.sh): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// run runs a tool in dir and fails the test if it fails.
func run(t testing.TB, dir, tool string, args ...string) {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(tool), args, err, out)
	}
}

// photo16 returns a w×h 16-bit image of gradients, edges and noise; with
// alpha, its alpha varies from transparent to opaque, with a transparent
// band.
func photo16(w, h int, alpha bool) *image.NRGBA64 {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint16(rng.IntN(4096))
			c := color.NRGBA64{R: uint16(x*60000/w) + n, G: uint16(y*60000/h) + n, B: uint16((x+y)%97*600) + n, A: 0xffff}
			if (x/7+y/5)%4 == 0 {
				c.R, c.G = 60000-c.R, 2000
			}
			if alpha {
				c.A = uint16((x + y) * 65535 / (w + h))
				if y > h/3 && y < h/3+3 {
					c.A = 0
				}
			}
			img.SetNRGBA64(x, y, c)
		}
	}
	return img
}

// writePNG writes img as a PNG file.
func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readPNG reads a PNG file.
func readPNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// boxReduce averages the s×s boxes of img, colour weighted by alpha, in
// floating point: the reference for a reduced decode.
func boxReduce(img image.Image, s int) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := reduce.CeilDiv(w, s), reduce.CeilDiv(h, s)
	out := image.NewNRGBA(image.Rect(0, 0, ow, oh))
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			var r, g, bl, a, n float64
			for y := oy * s; y < min(oy*s+s, h); y++ {
				for x := ox * s; x < min(ox*s+s, w); x++ {
					c := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
					al := float64(c.A)
					r += float64(c.R) * al
					g += float64(c.G) * al
					bl += float64(c.B) * al
					a += al
					n++
				}
			}
			o := color.NRGBA{A: uint8(a/n/257 + 0.5)}
			if a > 0 {
				o.R, o.G, o.B = uint8(r/a/257+0.5), uint8(g/a/257+0.5), uint8(bl/a/257+0.5)
			}
			out.SetNRGBA(ox, oy, o)
		}
	}
	return out
}

// stream hides every method of a reader but Read, as a network body
// would.
type stream struct{ r io.Reader }

func (s stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// holder is a Holder that holds the first k bytes of data.
type holder struct {
	held []byte
	rest io.Reader
	r    io.Reader
}

func newHolder(data []byte, k int) *holder {
	h := &holder{held: data[:k], rest: bytes.NewReader(data[k:])}
	h.r = io.MultiReader(bytes.NewReader(h.held), h.rest)
	return h
}

func (h *holder) Read(p []byte) (int, error) { return h.r.Read(p) }
func (h *holder) Held() ([]byte, io.Reader)  { return h.held, h.rest }

// decodeBoth decodes data at scale s from a [bytes.Reader], from a plain
// stream and from a Holder of its first half, fails the test unless all
// agree, and returns the image.
func decodeBoth(t testing.TB, data []byte, s int) (image.Image, Config) {
	t.Helper()
	img, c, err := Decode(bytes.NewReader(data), Options{Scale: s})
	if err != nil {
		t.Fatalf("scale %d: %v", s, err)
	}
	img2, _, err := Decode(stream{bytes.NewReader(data)}, Options{Scale: s})
	if err != nil {
		t.Fatalf("scale %d, streamed: %v", s, err)
	}
	if !equalPix(img, img2) {
		t.Fatalf("scale %d: the streamed decode differs", s)
	}
	img3, _, err := Decode(newHolder(data, len(data)/2), Options{Scale: s})
	if err != nil {
		t.Fatalf("scale %d, half held: %v", s, err)
	}
	if !equalPix(img, img3) {
		t.Fatalf("scale %d: the decode of a half-held stream differs", s)
	}
	return img, c
}

func equalPix(a, b image.Image) bool {
	switch a := a.(type) {
	case *image.Gray:
		b, ok := b.(*image.Gray)
		return ok && a.Rect == b.Rect && bytes.Equal(a.Pix, b.Pix)
	case *image.NRGBA:
		b, ok := b.(*image.NRGBA)
		return ok && a.Rect == b.Rect && bytes.Equal(a.Pix, b.Pix)
	}
	return false
}
