package jpegdec

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// synth returns a deterministic camera-like test image: smooth gradients,
// a disc and bars with hard edges, and mild noise.
func synth(w, h int) *image.RGBA { return synthNoise(w, h, 6) }

// synthNoise is synth with uniform noise in [-amp, amp] (amp <= 127).
func synthNoise(w, h, amp int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(12345)
	for y := 0; y < h; y++ {
		fy := float64(y) / float64(h)
		row := img.Pix[y*img.Stride:]
		for x := 0; x < w; x++ {
			fx := float64(x) / float64(w)
			r := 40 + 180*fx
			g := 60 + 150*fy
			b := 128 + 90*math.Sin(6*fx+3*fy)
			if dx, dy := fx-0.6, fy-0.4; dx*dx+dy*dy < 0.05 {
				r, g, b = 230, 200-80*fy, 40
			}
			if x%97 < 9 {
				r, g, b = r*0.3, g*0.3, b*0.3
			}
			seed = seed*1664525 + 1013904223
			n := float64(int(seed>>24)%(2*amp+1) - amp)
			p := row[4*x : 4*x+4]
			p[0] = clampF(r + n)
			p[1] = clampF(g + n)
			p[2] = clampF(b + n)
			p[3] = 255
		}
	}
	return img
}

func clampF(v float64) uint8 { return uint8(math.Max(0, math.Min(255, v))) }

// encodeStd encodes with image/jpeg (always 4:2:0 for colour).
func encodeStd(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func toGray(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g.Set(x, y, img.At(x, y))
		}
	}
	return g
}

// toNRGBA converts any image to NRGBA through the generic color model
// path (At + NRGBAModel). For *image.YCbCr that path converts through
// 16-bit YCbCr.RGBA, which can differ by one from color.YCbCrToRGB that
// image/jpeg's own fast paths and jpegdec use; comparisons allow ±1.
func toNRGBA(img image.Image) *image.NRGBA {
	if n, ok := img.(*image.NRGBA); ok {
		return n
	}
	b := img.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = c.R, c.G, c.B, c.A
		}
	}
	return out
}

// boxDown downsamples by s with a box filter; edge boxes average only the
// pixels that exist, giving ceil(W/s) x ceil(H/s).
func boxDown(src *image.NRGBA, s int) *image.NRGBA {
	b := src.Bounds()
	w, h := (b.Dx()+s-1)/s, (b.Dy()+s-1)/s
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var sum [4]int
			cnt := 0
			for yy := y * s; yy < min(y*s+s, b.Dy()); yy++ {
				for xx := x * s; xx < min(x*s+s, b.Dx()); xx++ {
					i := src.PixOffset(b.Min.X+xx, b.Min.Y+yy)
					for c := 0; c < 4; c++ {
						sum[c] += int(src.Pix[i+c])
					}
					cnt++
				}
			}
			o := out.PixOffset(x, y)
			for c := 0; c < 4; c++ {
				out.Pix[o+c] = uint8((sum[c] + cnt/2) / cnt)
			}
		}
	}
	return out
}

// psnr compares the RGB channels of two equally sized images.
func psnr(t testing.TB, a, b *image.NRGBA) float64 {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("size mismatch: %v vs %v", a.Bounds(), b.Bounds())
	}
	var se float64
	n := 0
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := a.PixOffset(a.Bounds().Min.X+x, a.Bounds().Min.Y+y)
			j := b.PixOffset(b.Bounds().Min.X+x, b.Bounds().Min.Y+y)
			for c := 0; c < 3; c++ {
				d := float64(a.Pix[i+c]) - float64(b.Pix[j+c])
				se += d * d
				n++
			}
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

// maxDiff returns the largest per-channel difference.
func maxDiff(a, b *image.NRGBA) int {
	md := 0
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := a.PixOffset(a.Bounds().Min.X+x, a.Bounds().Min.Y+y)
			j := b.PixOffset(b.Bounds().Min.X+x, b.Bounds().Min.Y+y)
			for c := 0; c < 4; c++ {
				d := int(a.Pix[i+c]) - int(b.Pix[j+c])
				md = max(md, d, -d)
			}
		}
	}
	return md
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture is a test input with its origin.
type fixture struct {
	name string
	data []byte
	ref  []byte // input for the image/jpeg reference decode (nil: data)
}

func (f fixture) refData() []byte {
	if f.ref != nil {
		return f.ref
	}
	return f.data
}

// fixtures returns the committed real-encoder files plus inputs generated
// with image/jpeg.
func fixtures(t testing.TB) []fixture {
	t.Helper()
	var fs []fixture
	for _, n := range []string{
		"base444.jpg", "base422.jpg", "base440.jpg", "base420.jpg", "base411.jpg",
		"restart420.jpg", "noninterleaved420.jpg", "prog420.jpg", "prog444.jpg",
		"progrestart422.jpg", "progcustom420.jpg", "gray.jpg", "grayprog.jpg",
		"rgb.jpg", "cmyk.jpg", "ycck.jpg", "ycckprog.jpg",
	} {
		fs = append(fs, fixture{name: n, data: readFixture(t, n)})
	}
	// image/jpeg rejects progrestart422.jpg ("missing 0xff00 sequence": it
	// mishandles restart markers in progressive scans), but djpeg decodes
	// it to exactly the same pixels as base422.jpg, which was made with
	// the same quality and sampling (so the same quantized coefficients).
	for i := range fs {
		if fs[i].name == "progrestart422.jpg" {
			fs[i].ref = readFixture(t, "base422.jpg")
		}
	}
	img := synth(203, 141)
	for _, q := range []int{50, 75, 90, 100} {
		fs = append(fs, fixture{name: "std420-q" + strconv.Itoa(q), data: encodeStd(t, img, q)})
	}
	fs = append(fs, fixture{name: "stdgray-q85", data: encodeStd(t, toGray(img), 85)})
	fs = append(fs, fixture{name: "testenc-base", data: encodeTest(img, 80, false)})
	fs = append(fs, fixture{name: "testenc-prog", data: encodeTest(img, 80, true)})
	fs = append(fs, fixture{name: "std420-tiny", data: encodeStd(t, synth(5, 3), 90)})
	return fs
}
