package jpegdec

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"reflect"
	"sync"
	"testing"
)

func TestFullSizeMatchesImageJPEG(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			ref, err := jpeg.Decode(bytes.NewReader(f.refData()))
			if err != nil {
				t.Fatalf("image/jpeg: %v", err)
			}
			got, cfg, err := Decode(bytes.NewReader(f.data), Options{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Bounds() != ref.Bounds() {
				t.Fatalf("bounds %v, want %v", got.Bounds(), ref.Bounds())
			}
			if cfg.Width != ref.Bounds().Dx() || cfg.Height != ref.Bounds().Dy() {
				t.Errorf("config %dx%d, want %v", cfg.Width, cfg.Height, ref.Bounds())
			}
			if _, isGray := ref.(*image.Gray); isGray {
				if _, ok := got.(*image.Gray); !ok {
					t.Fatalf("got %T, want *image.Gray", got)
				}
			} else if r, ok := ref.(*image.YCbCr); ok && r.SubsampleRatio != image.YCbCrSubsampleRatio411 &&
				r.SubsampleRatio != image.YCbCrSubsampleRatio410 {
				if g, ok := got.(*image.YCbCr); !ok || g.SubsampleRatio != r.SubsampleRatio {
					t.Fatalf("got %T, want *image.YCbCr (%v)", got, r.SubsampleRatio)
				}
			} else if _, ok := got.(*image.NRGBA); !ok {
				t.Fatalf("got %T, want *image.NRGBA", got)
			}
			if d := maxDiff(toNRGBA(got), toNRGBA(ref)); d > 1 {
				t.Errorf("max channel difference %d, want <= 1", d)
			}
		})
	}
}

func TestScaledPSNR(t *testing.T) {
	for _, f := range fixtures(t) {
		ref, err := jpeg.Decode(bytes.NewReader(f.refData()))
		if err != nil {
			t.Fatalf("%s: image/jpeg: %v", f.name, err)
		}
		full := toNRGBA(ref)
		for _, s := range []int{2, 4, 8} {
			got, _, err := Decode(bytes.NewReader(f.data), Options{Scale: s})
			if err != nil {
				t.Errorf("%s 1/%d: %v", f.name, s, err)
				continue
			}
			want := boxDown(full, s)
			if p := psnr(t, toNRGBA(got), want); p < 32 {
				t.Errorf("%s 1/%d: PSNR %.1f dB, want >= 32", f.name, s, p)
			} else {
				t.Logf("%s 1/%d: PSNR %.1f dB", f.name, s, p)
			}
		}
	}
}

func TestDecodeConfig(t *testing.T) {
	tests := []struct {
		name  string
		cs    ColorSpace
		comps int
		prog  bool
	}{
		{"base420.jpg", YCbCr, 3, false},
		{"prog444.jpg", YCbCr, 3, true},
		{"gray.jpg", Gray, 1, false},
		{"grayprog.jpg", Gray, 1, true},
		{"rgb.jpg", RGB, 3, false},
		{"cmyk.jpg", CMYK, 4, false},
		{"ycck.jpg", YCCK, 4, false},
		{"ycckprog.jpg", YCCK, 4, true},
	}
	for _, tt := range tests {
		data := readFixture(t, tt.name)
		ref, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := Config{Width: ref.Width, Height: ref.Height, Components: tt.comps,
			ColorSpace: tt.cs, Progressive: tt.prog, Orientation: 1}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, cfg, want)
		}
	}
}

// withExif inserts an APP1 Exif segment with the given orientation right
// after SOI.
func withExif(jpg []byte, orientation uint16, bigEndian bool) []byte {
	var tiff []byte
	put16 := func(v uint16) {
		if bigEndian {
			tiff = append(tiff, byte(v>>8), byte(v))
		} else {
			tiff = append(tiff, byte(v), byte(v>>8))
		}
	}
	put32 := func(v uint32) {
		if bigEndian {
			put16(uint16(v >> 16))
			put16(uint16(v))
		} else {
			put16(uint16(v))
			put16(uint16(v >> 16))
		}
	}
	if bigEndian {
		tiff = append(tiff, 'M', 'M')
	} else {
		tiff = append(tiff, 'I', 'I')
	}
	put16(42)
	put32(8)
	put16(2) // two IFD entries
	put16(0x010F)
	put16(2)
	put32(4)
	tiff = append(tiff, 'A', 'c', 'm', 0)
	put16(0x0112)
	put16(3)
	put32(1)
	put16(orientation)
	put16(0)
	put32(0)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

func TestOrientation(t *testing.T) {
	base := readFixture(t, "base420.jpg")
	for o := uint16(1); o <= 8; o++ {
		for _, be := range []bool{false, true} {
			data := withExif(base, o, be)
			cfg, err := DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Orientation != int(o) {
				t.Errorf("orientation %d (big endian %v): got %d", o, be, cfg.Orientation)
			}
			img, cfg2, err := Decode(bytes.NewReader(data), Options{Scale: 8})
			if err != nil || cfg2.Orientation != int(o) {
				t.Errorf("Decode: %v, orientation %d", err, cfg2.Orientation)
			}
			if img.Bounds().Dx() != (cfg.Width+7)/8 {
				t.Errorf("orientation must not be applied")
			}
		}
	}
	// Out-of-range values are ignored.
	cfg, err := DecodeConfig(bytes.NewReader(withExif(base, 9, false)))
	if err != nil || cfg.Orientation != 1 {
		t.Errorf("orientation 9: %v %d", err, cfg.Orientation)
	}
}

func TestOutputSize(t *testing.T) {
	for _, w := range []int{1, 7, 8, 9, 15, 16, 17, 33} {
		for _, h := range []int{1, 8, 13} {
			data := encodeStd(t, synth(w, h), 90)
			for _, s := range []int{1, 2, 4, 8} {
				img, _, err := Decode(bytes.NewReader(data), Options{Scale: s})
				if err != nil {
					t.Fatalf("%dx%d 1/%d: %v", w, h, s, err)
				}
				if got, want := img.Bounds(), image.Rect(0, 0, (w+s-1)/s, (h+s-1)/s); got != want {
					t.Errorf("%dx%d 1/%d: bounds %v, want %v", w, h, s, got, want)
				}
			}
		}
	}
}

func TestScaleFor(t *testing.T) {
	tests := []struct {
		srcW, srcH, boxW, boxH, want int
	}{
		{6000, 4000, 200, 200, 8},   // fill needs 300x200; 750x500 covers it
		{6000, 4000, 800, 800, 4},   // fill needs 1200x800; 1500x1000 covers it
		{6000, 4000, 1000, 1000, 4}, // fill needs 1500x1000, exactly 1/4
		{6000, 4000, 1000, 1001, 2},
		{6000, 4000, 3000, 2000, 2},
		{6000, 4000, 3001, 2000, 1},
		{4000, 6000, 200, 200, 8},
		{1600, 200, 200, 200, 1}, // fill is limited by the height
		{1600, 400, 200, 200, 2},
		{100, 100, 200, 200, 1}, // upscaling
		{6000, 4000, 200, 0, 8}, // width-only box
		{6000, 4000, 0, 600, 4},
		{6000, 4000, 0, 0, 1},
		{0, 4000, 200, 200, 1},
		{1600, 1600, 200, 200, 8},
		{1599, 1600, 200, 200, 4},
	}
	for _, tt := range tests {
		if got := ScaleFor(tt.srcW, tt.srcH, tt.boxW, tt.boxH); got != tt.want {
			t.Errorf("ScaleFor(%d, %d, %d, %d) = %d, want %d", tt.srcW, tt.srcH, tt.boxW, tt.boxH, got, tt.want)
		}
	}
}

func TestBadScale(t *testing.T) {
	data := readFixture(t, "base420.jpg")
	for _, s := range []int{-1, 3, 16} {
		if _, _, err := Decode(bytes.NewReader(data), Options{Scale: s}); err == nil {
			t.Errorf("scale %d: no error", s)
		}
	}
}

// oneByteReader defeats any bulk reads.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestSmallReads(t *testing.T) {
	for _, name := range []string{"restart420.jpg", "prog420.jpg", "progrestart422.jpg"} {
		data := readFixture(t, name)
		a, _, err := Decode(bytes.NewReader(data), Options{Scale: 2})
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := Decode(oneByteReader{bytes.NewReader(data)}, Options{Scale: 2})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(toNRGBA(a).Pix, toNRGBA(b).Pix) {
			t.Errorf("%s: results differ with 1-byte reads", name)
		}
	}
}

func TestUnsupported(t *testing.T) {
	base := readFixture(t, "base420.jpg")
	twelveBit := patchSOF(t, base, func(sof []byte) { sof[0] = 12 })
	noAdobe := stripMarker(readFixture(t, "cmyk.jpg"), 0xEE)
	tests := []struct {
		name string
		data []byte
	}{
		{"arithmetic", readFixture(t, "arith.jpg")},
		{"12-bit", twelveBit},
		{"cmyk without Adobe", noAdobe},
	}
	for _, tt := range tests {
		_, _, err := Decode(bytes.NewReader(tt.data), Options{})
		var ue UnsupportedError
		if !errors.As(err, &ue) {
			t.Errorf("%s: got %v, want UnsupportedError", tt.name, err)
		}
	}
}

// segments returns the offsets of every marker segment before the first
// SOS (offset of the 0xFF, and total length including the marker).
func findSegment(data []byte, marker byte) (off, n int) {
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return -1, 0
		}
		m := data[i+1]
		l := int(data[i+2])<<8 | int(data[i+3])
		if m == marker {
			return i, 2 + l
		}
		if m == 0xDA {
			return -1, 0
		}
		i += 2 + l
	}
	return -1, 0
}

func patchSOF(t testing.TB, data []byte, f func(sof []byte)) []byte {
	t.Helper()
	out := append([]byte{}, data...)
	off, _ := findSegment(out, 0xC0)
	if off < 0 {
		off, _ = findSegment(out, 0xC2)
	}
	if off < 0 {
		t.Fatal("no SOF")
	}
	f(out[off+4:])
	return out
}

func stripMarker(data []byte, marker byte) []byte {
	off, n := findSegment(data, marker)
	if off < 0 {
		return data
	}
	return append(append([]byte{}, data[:off]...), data[off+n:]...)
}

func ExampleDecode() {
	// Make a 640x480 JPEG, then decode it at the largest scale that still
	// covers a 100x100 thumbnail box.
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 640, 480)), nil)

	cfg, _ := DecodeConfig(bytes.NewReader(buf.Bytes()))
	scale := ScaleFor(cfg.Width, cfg.Height, 100, 100)
	img, _, err := Decode(bytes.NewReader(buf.Bytes()), Options{Scale: scale, MaxPixels: 50e6})
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Width, cfg.Height, cfg.ColorSpace, scale, img.Bounds().Dx(), img.Bounds().Dy())
	// Output: 640 480 Gray 4 160 120
}

// TestConcurrent decodes in parallel: pooled decoders and buffers must not
// leak state between images.
func TestConcurrent(t *testing.T) {
	names := []string{"base420.jpg", "prog420.jpg", "gray.jpg", "ycck.jpg", "progcustom420.jpg", "base422.jpg"}
	type job struct {
		data  []byte
		scale int
		want  []byte
	}
	var jobs []job
	for _, n := range names {
		data := readFixture(t, n)
		for _, s := range []int{1, 2, 4, 8} {
			img, _, err := Decode(bytes.NewReader(data), Options{Scale: s})
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, job{data, s, toNRGBA(img).Pix})
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range len(jobs) {
				j := jobs[(i*7+g)%len(jobs)]
				img, _, err := Decode(bytes.NewReader(j.data), Options{Scale: j.scale})
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(toNRGBA(img).Pix, j.want) {
					t.Errorf("concurrent decode differs (scale %d)", j.scale)
					return
				}
			}
		}()
	}
	wg.Wait()
}
