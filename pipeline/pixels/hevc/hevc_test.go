package hevc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/hevc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// The tests encode their fixtures with heif-enc (libheif and x265) and
// compare the pictures with heif-convert's (libheif and libde265 built
// natively): the same decoder, so the luma should match to the sample.

// encode encodes img with heif-enc and args.
func encode(t testing.TB, img image.Image, args ...string) []byte {
	t.Helper()
	pixeltest.NeedTool(t, "heif-enc", "libheif-examples")
	b, err := pixeltest.EncodeHEIF(t.TempDir(), []image.Image{img}, args...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// item returns the hvcC body and the data of the primary item of file,
// or of its alpha plane. heif-enc pads a picture smaller than 64×64 to
// that size, x265's least, and crops it with a grid of one tile: the
// tile is then the item.
func item(t testing.TB, file []byte, alpha bool) (config, data []byte) {
	t.Helper()
	f, err := heif.Parse(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	it := f.Primary
	if alpha {
		if it = it.Alpha; it == nil {
			t.Fatal("no alpha item")
		}
	}
	if it.Type == heif.TypeGrid && len(it.Tiles) == 1 {
		it = it.Tiles[0]
	}
	if it.Type != heif.TypeHEVC {
		t.Fatalf("item of type %q", it.Type)
	}
	if config = it.Property("hvcC"); config == nil {
		t.Fatal("no hvcC")
	}
	if data, err = f.ItemData(file, it); err != nil {
		t.Fatal(err)
	}
	return config, data
}

// decode decodes the item and returns a copy of its frame's luma, 8 bits
// a sample, with the frame (its planes no longer valid).
func decode(t testing.TB, config, data []byte) (*image.Gray, wasmrt.Frame) {
	t.Helper()
	var y *image.Gray
	var fr wasmrt.Frame
	err := hevc.Decode(context.Background(), config, data, 0, 0, func(f *wasmrt.Frame) error {
		y, fr = luma(f), *f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return y, fr
}

// luma copies f's Y plane, reduced to 8 bits.
func luma(f *wasmrt.Frame) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, f.Width, f.Height))
	for y := range f.Height {
		row := f.Y[y*f.YStride:]
		for x := range f.Width {
			if f.BitDepth > 8 {
				v := int(row[2*x]) | int(row[2*x+1])<<8
				g.Pix[y*g.Stride+x] = uint8((v + 1<<(f.BitDepth-9)) >> (f.BitDepth - 8))
			} else {
				g.Pix[y*g.Stride+x] = row[x]
			}
		}
	}
	return g
}

// convert runs heif-convert on file, writing name (whose suffix says the
// format), and returns the output.
func convert(t testing.TB, file []byte, name string) []byte {
	t.Helper()
	tool := pixeltest.NeedTool(t, "heif-convert", "libheif-examples")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.heic"), filepath.Join(dir, name)
	if err := os.WriteFile(in, file, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(tool, "--quiet", in, out).CombinedOutput(); err != nil {
		t.Fatalf("heif-convert: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// referenceLuma is heif-convert's Y plane of file (a Y4M stream's first
// frame), reduced to 8 bits.
func referenceLuma(t testing.TB, file []byte) *image.Gray {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(convert(t, file, "out.y4m")))
	header, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	w, h, depth := 0, 0, 8
	for _, f := range strings.Fields(header)[1:] {
		switch f[0] {
		case 'W':
			w, _ = strconv.Atoi(f[1:])
		case 'H':
			h, _ = strconv.Atoi(f[1:])
		case 'C':
			if i := strings.Index(f, "p"); i > 0 {
				depth, _ = strconv.Atoi(f[i+1:])
			}
		}
	}
	if _, err := r.ReadString('\n'); err != nil { // FRAME
		t.Fatal(err)
	}
	bps := 1
	if depth > 8 {
		bps = 2
	}
	plane := make([]byte, w*h*bps)
	if _, err := io.ReadFull(r, plane); err != nil {
		t.Fatalf("Y4M %q: %v", strings.TrimSpace(header), err)
	}
	return luma(&wasmrt.Frame{Width: w, Height: h, BitDepth: depth, Y: plane, YStride: w * bps})
}

// referencePNG returns the luma (BT.601, full range, as heif-enc codes
// by default) and the alpha channel of heif-convert's PNG of file: for
// pictures deeper than 8 bits, which its Y4M output does not write.
func referencePNG(t testing.TB, file []byte) (y, alpha *image.Gray) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(convert(t, file, "out.png")))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	y = image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	alpha = image.NewGray(y.Rect)
	for j := range b.Dy() {
		for i := range b.Dx() {
			c := color.NRGBA64Model.Convert(img.At(b.Min.X+i, b.Min.Y+j)).(color.NRGBA64)
			l := 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
			y.SetGray(i, j, color.Gray{Y: uint8(math.Round(l * 255 / 65535))})
			alpha.SetGray(i, j, color.Gray{Y: uint8(c.A >> 8)})
		}
	}
	return y, alpha
}

// gray is a smooth w×h grey image.
func gray(w, h int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.Pix[y*g.Stride+x] = uint8(32 + (x*160/w+y*48/h)%192)
		}
	}
	return g
}

// translucent is pixeltest.Photo with alpha falling from left to right.
func translucent(w, h int) *image.NRGBA {
	src := pixeltest.Photo(w, h, 3)
	img := image.NewNRGBA(src.Bounds())
	for y := range h {
		for x := range w {
			c := src.RGBAAt(x, y)
			img.SetNRGBA(x, y, color.NRGBA{R: c.R, G: c.G, B: c.B, A: uint8(255 - x*255/w)})
		}
	}
	return img
}

func TestDecode(t *testing.T) {
	photo := pixeltest.Photo(640, 480, 1)
	tests := []struct {
		name   string
		img    image.Image
		args   []string
		alpha  bool
		depth  int
		layout wasmrt.Layout
	}{
		{"8-bit 4:2:0", photo, []string{"-q", "80"}, false, 8, wasmrt.I420},
		{"4:4:4", photo, []string{"-q", "80", "-p", "chroma=444"}, false, 8, wasmrt.I444},
		{"10-bit", pixeltest.Deep(320, 240), []string{"-q", "80", "-b", "10"}, false, 10, wasmrt.I420},
		{"monochrome", gray(200, 120), []string{"-q", "80"}, false, 8, wasmrt.I400},
		{"64 wide", pixeltest.Photo(64, 160, 2), []string{"-q", "80"}, false, 8, wasmrt.I420},
		{"narrow", pixeltest.Photo(72, 200, 2), []string{"-q", "80"}, false, 8, wasmrt.I420},
		{"small, in a grid", pixeltest.Photo(61, 37, 2), []string{"-q", "80"}, false, 8, wasmrt.I420},
		{"alpha plane", translucent(160, 96), []string{"-q", "80"}, true, 8, wasmrt.I400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := encode(t, tt.img, tt.args...)
			config, data := item(t, file, tt.alpha)
			got, fr := decode(t, config, data)
			w, h := tt.img.Bounds().Dx(), tt.img.Bounds().Dy()
			if w < 64 || h < 64 {
				w, h = 64, 64 // the padded tile
			}
			if fr.Width != w || fr.Height != h || fr.BitDepth != tt.depth || fr.Layout != tt.layout {
				t.Fatalf("%dx%d, %d bits, layout %d; want %dx%d, %d bits, layout %d",
					fr.Width, fr.Height, fr.BitDepth, fr.Layout, w, h, tt.depth, tt.layout)
			}
			var want *image.Gray
			switch {
			case tt.alpha:
				_, want = referencePNG(t, file)
			case tt.depth > 8:
				want, _ = referencePNG(t, file)
			default:
				want = referenceLuma(t, file)
			}
			got = got.SubImage(want.Rect).(*image.Gray)
			p := pixeltest.PSNR(got, want)
			t.Logf("luma PSNR %.1f dB against heif-convert's", p)
			if p < 40 {
				t.Errorf("luma PSNR %.1f dB against heif-convert's, want ≥ 40", p)
			}
		})
	}
}

// TestChroma checks the chroma planes' size and that they hold the
// picture's colour, not a constant: the top half of a red over blue
// image has Cr above Cb.
func TestChroma(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 96, 64))
	for y := range 64 {
		for x := range 96 {
			c := color.NRGBA{R: 220, G: 30, B: 30, A: 255}
			if y >= 32 {
				c = color.NRGBA{R: 30, G: 30, B: 220, A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	for _, tt := range []struct {
		chroma string
		w, h   int
	}{{"420", 48, 32}, {"422", 48, 64}, {"444", 96, 64}} {
		t.Run(tt.chroma, func(t *testing.T) {
			config, data := item(t, encode(t, img, "-q", "90", "-p", "chroma="+tt.chroma), false)
			err := hevc.Decode(context.Background(), config, data, 0, 0, func(f *wasmrt.Frame) error {
				sx, sy := f.ChromaShift()
				if cw, ch := (f.Width+sx)>>sx, (f.Height+sy)>>sy; cw != tt.w || ch != tt.h {
					return fmt.Errorf("chroma %dx%d, want %dx%d", cw, ch, tt.w, tt.h)
				}
				if n := f.CStride*(tt.h-1) + tt.w; len(f.Cb) != n || len(f.Cr) != n {
					return fmt.Errorf("chroma planes of %d and %d bytes, want %d", len(f.Cb), len(f.Cr), n)
				}
				top, bottom := f.CStride*(tt.h/4)+tt.w/2, f.CStride*(3*tt.h/4)+tt.w/2
				if f.Cr[top] <= f.Cb[top] || f.Cb[bottom] <= f.Cr[bottom] {
					return fmt.Errorf("Cb, Cr %d, %d at the top, %d, %d at the bottom", f.Cb[top], f.Cr[top], f.Cb[bottom], f.Cr[bottom])
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// nalUnits splits data into its NAL units, each after a 4-byte length.
func nalUnits(t testing.TB, data []byte) [][]byte {
	t.Helper()
	var nals [][]byte
	for p := data; len(p) > 0; {
		if len(p) < 4 {
			t.Fatalf("%d bytes after the last NAL unit", len(p))
		}
		n := int(binary.BigEndian.Uint32(p))
		if n > len(p)-4 {
			t.Fatalf("a NAL unit of %d bytes in %d", n, len(p)-4)
		}
		nals, p = append(nals, p[4:4+n]), p[4+n:]
	}
	return nals
}

func TestRefusals(t *testing.T) {
	config, data := item(t, encode(t, pixeltest.Photo(1280, 960, 4), "-q", "60"), false)
	garbage := make([]byte, len(data))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	badVersion := append([]byte{0}, config[1:]...)
	lengths3 := append([]byte(nil), config...)
	lengths3[21] = lengths3[21]&^3 | 2
	noArrays := append(append([]byte(nil), config[:22]...), 0)
	tests := []struct {
		name         string
		config, data []byte
		pixels       int
		memory       int64
		want         error
	}{
		{"truncated", config, data[:len(data)/2], 0, 0, hevc.ErrCorrupt},
		{"garbage", config, garbage, 0, 0, hevc.ErrCorrupt},
		{"no data", config, nil, 0, 0, hevc.ErrCorrupt},
		{"no parameter sets", noArrays, data, 0, 0, hevc.ErrCorrupt},
		{"short hvcC", config[:20], data, 0, 0, hevc.ErrCorrupt},
		{"cut hvcC", config[:len(config)-3], data, 0, 0, hevc.ErrCorrupt},
		{"hvcC version 0", badVersion, data, 0, 0, hevc.ErrCorrupt},
		{"3-byte lengths", lengths3, data, 0, 0, hevc.ErrCorrupt},
		{"pixels", config, data, 1280*960 - 1, 0, hevc.ErrTooLarge},
		{"memory", config, data, 0, 4 << 20, hevc.ErrMemory},
		{"tiny memory", config, data, 0, 1 << 20, hevc.ErrMemory},
		{"a page", config, data, 0, 1 << 16, hevc.ErrMemory},
		{"enough", config, data, 1280 * 960, 64 << 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := hevc.Decode(context.Background(), tt.config, tt.data, tt.pixels, tt.memory, func(*wasmrt.Frame) error {
				called = true
				return nil
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if called != (tt.want == nil) {
				t.Fatalf("fn called: %v", called)
			}
		})
	}
}

// TestDamage decodes slices whose content is garbage within correct
// lengths: libde265 conceals what it cannot decode, so the answer is a
// picture or ErrCorrupt, never a trap or a hang.
func TestDamage(t *testing.T) {
	config, data := item(t, encode(t, pixeltest.Photo(320, 240, 4), "-q", "60"), false)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 8 {
		damaged := append([]byte(nil), data...)
		for _, n := range nalUnits(t, damaged) {
			for j := 2 + i; j < len(n); j += 1 + i {
				n[j] = byte(rng.Uint32())
			}
		}
		err := hevc.Decode(context.Background(), config, damaged, 0, 64<<20, func(*wasmrt.Frame) error { return nil })
		if err != nil && !errors.Is(err, hevc.ErrCorrupt) {
			t.Errorf("damage %d: %v", i, err)
		}
	}
}

// TestLengthSizes feeds the same picture with NAL lengths of 1, 2 and 4
// bytes, as the hvcC's lengthSizeMinusOne may say.
func TestLengthSizes(t *testing.T) {
	// A flat picture at low quality: NAL units of under 256 bytes.
	config, data := item(t, encode(t, gray(64, 64), "-q", "10"), false)
	want, _ := decode(t, config, data)
	nals := nalUnits(t, data)
	for _, size := range []int{1, 2} {
		var re []byte
		for _, n := range nals {
			if len(n) >= 1<<(8*size) {
				t.Fatalf("a NAL unit of %d bytes", len(n))
			}
			for i := size - 1; i >= 0; i-- {
				re = append(re, byte(len(n)>>(8*i)))
			}
			re = append(re, n...)
		}
		c := append([]byte(nil), config...)
		c[21] = c[21]&^3 | byte(size-1)
		got, _ := decode(t, c, re)
		if p := pixeltest.PSNR(got, want); !math.IsInf(p, 1) {
			t.Errorf("lengths of %d bytes: PSNR %.1f dB against lengths of 4", size, p)
		}
	}
}

// TestConcurrent decodes in parallel (run it with -race): each decode
// has an instance of its own.
func TestConcurrent(t *testing.T) {
	config, data := item(t, encode(t, pixeltest.Photo(256, 192, 6), "-q", "70"), false)
	want, _ := decode(t, config, data)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- hevc.Decode(context.Background(), config, data, 0, 64<<20, func(f *wasmrt.Frame) error {
				if p := pixeltest.PSNR(luma(f), want); !math.IsInf(p, 1) {
					return fmt.Errorf("PSNR %.1f dB against a decode alone", p)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestContext checks that a cancelled context stops the decode.
func TestContext(t *testing.T) {
	config, data := item(t, encode(t, pixeltest.Photo(64, 64, 7), "-q", "50"), false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := hevc.Decode(ctx, config, data, 0, 0, func(*wasmrt.Frame) error { return nil })
	if err == nil {
		t.Fatal("decoded with a cancelled context")
	}
}

// TestCallbackError checks that fn's error comes back as it is.
func TestCallbackError(t *testing.T) {
	config, data := item(t, encode(t, pixeltest.Photo(64, 64, 8), "-q", "50"), false)
	mine := errors.New("mine")
	if err := hevc.Decode(context.Background(), config, data, 0, 0, func(*wasmrt.Frame) error { return mine }); err != mine {
		t.Fatalf("got %v, want fn's error", err)
	}
}
