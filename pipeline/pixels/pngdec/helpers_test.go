package pngdec

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// hash is a deterministic per-pixel noise source.
func hash(x, y, ch int) uint32 {
	h := uint32(x)*0x9E3779B1 ^ uint32(y)*0x85EBCA77 ^ uint32(ch)*0xC2B2AE3D
	h ^= h >> 15
	h *= 0x2C1B3C6D
	h ^= h >> 12
	return h
}

// photo16 returns channel ch (0..2 colour, 3 alpha) of pixel (x, y) of a
// w x h photo-like 16-bit image: gradients, a disc and bars with hard
// edges, mild noise, and an alpha ramp with fully transparent and fully
// opaque regions.
func photo16(w, h int) func(x, y, ch int) uint16 { return photoBars(w, h, true) }

// photoBars is photo16, with or without its dark bars 4 pixels wide: the
// detail finer than an 8x8 grid that point sampling aliases.
func photoBars(w, h int, bars bool) func(x, y, ch int) uint16 {
	return func(x, y, ch int) uint16 {
		fx, fy := float64(x)/float64(w), float64(y)/float64(h)
		var v float64
		switch ch {
		case 0:
			v = 0.15 + 0.7*fx
		case 1:
			v = 0.2 + 0.6*fy
		case 2:
			v = 0.5 + 0.35*math.Sin(6*fx+3*fy)
		case 3:
			v = math.Max(0, math.Min(1, 2*fx-0.3))
			return uint16(v * 65535)
		}
		if dx, dy := fx-0.6, fy-0.4; dx*dx+dy*dy < 0.05 && ch < 3 {
			v = [3]float64{0.9, 0.75 - 0.3*fy, 0.15}[ch]
		}
		if bars && x%37 < 4 {
			v *= 0.3
		}
		n := float64(int(hash(x, y, ch)>>24)-128) / 128 * 0.02
		return uint16(math.Max(0, math.Min(1, v+n)) * 65535)
	}
}

// nrgba64 renders a sample function into an image.
func nrgba64(w, h int, f func(x, y, ch int) uint16, alpha bool) *image.NRGBA64 {
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint16(0xffff)
			if alpha {
				a = f(x, y, 3)
			}
			img.SetNRGBA64(x, y, color.NRGBA64{f(x, y, 0), f(x, y, 1), f(x, y, 2), a})
		}
	}
	return img
}

// convertTo draws src into a new image of dst's type with the color
// model's conversion.
func convertTo[T interface {
	image.Image
	Set(x, y int, c color.Color)
}](dst T, src image.Image) T {
	b := src.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.Set(x, y, src.At(x, y))
		}
	}
	return dst
}

func encodeGo(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fixture is a test input with its origin.
type fixture struct {
	name string
	data []byte
}

// goFixtures encodes a w x h image in every form image/png writes.
func goFixtures(t testing.TB, w, h int) []fixture {
	t.Helper()
	src := photo16(w, h)
	deep := nrgba64(w, h, src, true)
	opaque64 := nrgba64(w, h, src, false)
	r := image.Rect(0, 0, w, h)
	pal := func(n int, alpha bool) *image.Paletted {
		p := make(color.Palette, n)
		for i := range p {
			a := uint8(255)
			if alpha {
				a = uint8(i * 255 / (n - 1))
			}
			p[i] = color.NRGBA{uint8(i * 255 / (n - 1)), uint8(255 - i*255/(n-1)), uint8(i * 37), a}
		}
		return convertTo(image.NewPaletted(r, p), deep)
	}
	return []fixture{
		{"go-gray8", encodeGo(t, convertTo(image.NewGray(r), opaque64))},
		{"go-gray16", encodeGo(t, convertTo(image.NewGray16(r), opaque64))},
		{"go-rgb8", encodeGo(t, convertTo(image.NewRGBA(r), opaque64))},
		{"go-rgba8", encodeGo(t, convertTo(image.NewNRGBA(r), deep))},
		{"go-rgb16", encodeGo(t, convertTo(image.NewRGBA64(r), opaque64))},
		{"go-rgba16", encodeGo(t, deep)},
		{"go-pal1", encodeGo(t, pal(2, false))},
		{"go-pal2", encodeGo(t, pal(4, false))},
		{"go-pal4", encodeGo(t, pal(16, true))},
		{"go-pal8-trns", encodeGo(t, pal(256, true))},
	}
}

// rawFixtures writes, with the test encoder, what image/png cannot:
// gray+alpha, low-depth gray, gray and RGB with tRNS, all filter types,
// Adam7, and many tiny IDAT chunks.
func rawFixtures(w, h int) []fixture {
	src := photo16(w, h)
	scaled := func(depth int, gray bool) func(x, y, ch int) uint16 {
		return func(x, y, ch int) uint16 {
			if gray && ch == 0 {
				return uint16((uint32(src(x, y, 0)) + uint32(src(x, y, 1))) / 2 >> (16 - depth))
			}
			if gray {
				ch = 3
			}
			return src(x, y, ch) >> (16 - depth)
		}
	}
	var fs []fixture
	for _, il := range []bool{false, true} {
		for _, tc := range []struct {
			ct    ColorType
			depth int
			trns  []byte
		}{
			{Gray, 1, []byte{0, 1}},
			{Gray, 2, nil},
			{Gray, 4, []byte{0, 9}},
			{Gray, 8, []byte{0, 200}},
			{Gray, 16, nil},
			{GrayAlpha, 8, nil},
			{GrayAlpha, 16, nil},
			{RGB, 8, []byte{0, 40, 0, 51, 0, 128}},
			{RGB, 16, nil},
			{RGBA, 16, nil},
		} {
			p := rawPNG{w: w, h: h, depth: tc.depth, ct: tc.ct, interlace: il, trns: tc.trns,
				sample: scaled(tc.depth, tc.ct == Gray || tc.ct == GrayAlpha), idatSize: 7}
			name := fmt.Sprintf("raw-%v%d", tc.ct, tc.depth)
			if tc.trns != nil {
				name += "-trns"
			}
			if il {
				name += "-adam7"
			}
			fs = append(fs, fixture{name, p.encode()})
		}
		pal := make([]byte, 3*13)
		for i := range pal {
			pal[i] = byte(i * 19)
		}
		p := rawPNG{w: w, h: h, depth: 4, ct: Paletted, interlace: il, plte: pal, trns: []byte{0, 128, 255, 7},
			sample: func(x, y, ch int) uint16 { return uint16(hash(x/3, y/3, 0) % 13) }}
		fs = append(fs, fixture{fmt.Sprintf("raw-pal4-trns-adam7=%v", il), p.encode()})
	}
	return fs
}

// needTool returns the path of a command line tool; without it the test
// is skipped, or fails when CI is set.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required with CI set: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// vipsFixtures encodes a w x h image with libvips' pngsave (libspng or
// libpng): gray+alpha, low-depth gray, quantized palettes and Adam7.
func vipsFixtures(t testing.TB, w, h int) []fixture {
	t.Helper()
	vips := needTool(t, "vips")
	dir := t.TempDir()
	src := photo16(w, h)
	write := func(name string, img image.Image) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, encodeGo(t, img), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rgba16 := write("rgba16.png", nrgba64(w, h, src, true))
	rgb8 := write("rgb8.png", convertTo(image.NewRGBA(image.Rect(0, 0, w, h)), nrgba64(w, h, src, false)))
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(vips, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("vips %v: %v\n%s", args, err, out)
		}
	}
	run("colourspace", rgba16, "ga8.v", "b-w")
	run("colourspace", rgba16, "ga16.v", "grey16")
	run("extract_band", "ga8.v", "g8.v", "0")
	steps := []struct {
		name string
		args []string
	}{
		{"vips-ga8", []string{"ga8.v", "--bitdepth", "8"}},
		{"vips-ga16", []string{"ga16.v"}},
		{"vips-ga16-adam7", []string{"ga16.v", "--interlace"}},
		{"vips-gray1", []string{"g8.v", "--bitdepth", "1"}},
		{"vips-gray2-adam7", []string{"g8.v", "--bitdepth", "2", "--interlace"}},
		{"vips-gray4", []string{"g8.v", "--bitdepth", "4"}},
		{"vips-pal8-adam7", []string{rgba16, "--palette", "--interlace"}},
		{"vips-pal4", []string{rgb8, "--palette", "--bitdepth", "4"}},
		{"vips-rgb8-adam7", []string{rgb8, "--interlace"}},
		{"vips-rgba16-adam7", []string{rgba16, "--interlace"}},
	}
	var fs []fixture
	for _, s := range steps {
		out := s.name + ".png"
		run(append([]string{"pngsave", s.args[0], out}, s.args[1:]...)...)
		b, err := os.ReadFile(filepath.Join(dir, out))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, fixture{s.name, b})
	}
	return fs
}

// vipsInterlace re-encodes img as an Adam7 PNG with libvips.
func vipsInterlace(t testing.TB, img image.Image) []byte {
	t.Helper()
	vips := needTool(t, "vips")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.png")
	if err := os.WriteFile(in, encodeGo(t, img), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(vips, "pngsave", in, out, "--interlace").CombinedOutput(); err != nil {
		t.Fatalf("vips pngsave: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// round8 rounds a 16-bit sample to 8 bits.
func round8(v uint16) uint8 { return uint8((uint32(v) + 128) / 257) }

// ref8 converts image/png's output to the 8-bit non-premultiplied pixels
// Decode must produce at scale 1: 16-bit samples rounded.
func ref8(t testing.TB, img image.Image) *image.NRGBA {
	t.Helper()
	b := img.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var c color.NRGBA
			switch m := img.(type) {
			case *image.Gray:
				v := m.GrayAt(x, y).Y
				c = color.NRGBA{v, v, v, 255}
			case *image.Gray16:
				v := round8(m.Gray16At(x, y).Y)
				c = color.NRGBA{v, v, v, 255}
			case *image.RGBA: // opaque: image/png uses it only without alpha
				p := m.RGBAAt(x, y)
				c = color.NRGBA{p.R, p.G, p.B, p.A}
			case *image.NRGBA:
				c = m.NRGBAAt(x, y)
			case *image.RGBA64: // opaque, as above
				p := m.RGBA64At(x, y)
				c = color.NRGBA{round8(p.R), round8(p.G), round8(p.B), round8(p.A)}
			case *image.NRGBA64:
				p := m.NRGBA64At(x, y)
				c = color.NRGBA{round8(p.R), round8(p.G), round8(p.B), round8(p.A)}
			case *image.Paletted:
				switch p := m.Palette[m.ColorIndexAt(x, y)].(type) {
				case color.RGBA:
					c = color.NRGBA{p.R, p.G, p.B, p.A}
				case color.NRGBA:
					c = p
				default:
					t.Fatalf("palette entry %T", p)
				}
			default:
				t.Fatalf("image/png returned %T", img)
			}
			out.SetNRGBA(x, y, c)
		}
	}
	return out
}

// asNRGBA returns Decode's output as NRGBA.
func asNRGBA(t testing.TB, img image.Image) *image.NRGBA {
	t.Helper()
	switch m := img.(type) {
	case *image.NRGBA:
		return m
	case *image.Gray:
		return ref8(t, m)
	}
	t.Fatalf("Decode returned %T", img)
	return nil
}

// boxDown reduces src by s with an alpha-weighted box filter, computed in
// floating point; edge boxes average only the pixels that exist.
func boxDown(src *image.NRGBA, s int) *image.NRGBA {
	b := src.Bounds()
	w, h := (b.Dx()+s-1)/s, (b.Dy()+s-1)/s
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var sum [3]float64
			var sa float64
			n := 0
			for yy := y * s; yy < min(y*s+s, b.Dy()); yy++ {
				for xx := x * s; xx < min(x*s+s, b.Dx()); xx++ {
					p := src.NRGBAAt(xx, yy)
					a := float64(p.A)
					sum[0] += float64(p.R) * a
					sum[1] += float64(p.G) * a
					sum[2] += float64(p.B) * a
					sa += a
					n++
				}
			}
			var c color.NRGBA
			c.A = uint8(math.Round(sa / float64(n)))
			if sa > 0 {
				c.R = uint8(math.Round(sum[0] / sa))
				c.G = uint8(math.Round(sum[1] / sa))
				c.B = uint8(math.Round(sum[2] / sa))
			}
			out.SetNRGBA(x, y, c)
		}
	}
	return out
}

// psnr compares two equally sized images over all four channels, with
// colour weighted by alpha (so the colour of invisible pixels does not
// count).
func psnr(t testing.TB, a, b *image.NRGBA) float64 {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("size mismatch: %v vs %v", a.Bounds(), b.Bounds())
	}
	var se float64
	n := 0
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			p, q := a.NRGBAAt(x, y), b.NRGBAAt(x, y)
			wa := (float64(p.A) + float64(q.A)) / 510
			for _, d := range []float64{
				float64(p.R) - float64(q.R), float64(p.G) - float64(q.G), float64(p.B) - float64(q.B),
			} {
				se += d * d * wa
			}
			d := float64(p.A) - float64(q.A)
			se += d * d
			n += 4
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

// firstDiff describes the first pixel where a and b differ, or "".
func firstDiff(a, b *image.NRGBA) string {
	if a.Rect.Size() != b.Rect.Size() {
		return fmt.Sprintf("size %v vs %v", a.Rect, b.Rect)
	}
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			if p, q := a.NRGBAAt(x, y), b.NRGBAAt(x, y); p != q {
				return fmt.Sprintf("at (%d,%d): %v, want %v", x, y, p, q)
			}
		}
	}
	return ""
}
