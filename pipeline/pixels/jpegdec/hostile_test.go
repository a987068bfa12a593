package jpegdec

import (
	"bytes"
	"errors"
	"image"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// fuzzMaxScans is the scan limit checkDecode decodes with: low, so that
// the fuzzer reaches it.
const fuzzMaxScans = 32

func TestTruncated(t *testing.T) {
	for _, name := range []string{"base420.jpg", "restart420.jpg", "prog420.jpg", "progcustom420.jpg", "gray.jpg"} {
		data := readFixture(t, name)
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		n := len(data)
		for _, cut := range []int{0, 1, 2, 3, 10, 100, n / 4, n / 2, 3 * n / 4, n - 10, n - 3, n - 2, n - 1} {
			for _, s := range []int{1, 8} {
				img, _, err := Decode(bytes.NewReader(data[:cut]), Options{Scale: s})
				missingEOIOnly := cut >= n-2 && !cfg.Progressive
				if missingEOIOnly {
					// A complete baseline image without EOI is accepted.
					if err != nil {
						t.Errorf("%s cut at %d/%d, 1/%d: %v", name, cut, n, s, err)
					}
					continue
				}
				if err == nil || img != nil {
					t.Errorf("%s cut at %d/%d, 1/%d: no error", name, cut, n, s)
					continue
				}
				if cut > n/8 && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("%s cut at %d/%d, 1/%d: got %v, want unexpected EOF", name, cut, n, s, err)
				}
			}
		}
	}
}

func TestGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	base := readFixture(t, "base420.jpg")
	sos := bytes.Index(base, []byte{0xFF, 0xDA})
	inputs := map[string][]byte{
		"empty":            nil,
		"zeros":            make([]byte, 1000),
		"random":           random(5000),
		"soi+random":       append([]byte{0xFF, 0xD8}, random(5000)...),
		"soi+eoi":          {0xFF, 0xD8, 0xFF, 0xD9},
		"headers only+eoi": append(append([]byte{}, base[:sos]...), 0xFF, 0xD9),
		"random entropy":   append(append(append([]byte{}, base[:sos+14]...), random(3000)...), 0xFF, 0xD9),
		"zero entropy":     append(append(append([]byte{}, base[:sos+14]...), make([]byte, 3000)...), 0xFF, 0xD9),
	}
	for name, data := range inputs {
		for _, s := range []int{1, 2, 8} {
			if img, _, err := Decode(bytes.NewReader(data), Options{Scale: s}); err == nil {
				t.Errorf("%s 1/%d: no error, got %v", name, s, img.Bounds())
			}
		}
	}
}

// hugeJPEG returns a ~600-byte JPEG whose frame header declares w x h.
func hugeJPEG(t testing.TB, w, h int) []byte {
	return patchSOF(t, readFixture(t, "base420.jpg"), func(sof []byte) {
		sof[1], sof[2] = byte(h>>8), byte(h)
		sof[3], sof[4] = byte(w>>8), byte(w)
	})
}

func TestHugeDimensions(t *testing.T) {
	data := hugeJPEG(t, 60000, 60000)
	allocated := func(f func()) uint64 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		f()
		runtime.ReadMemStats(&b)
		return b.TotalAlloc - a.TotalAlloc
	}
	var err error
	var cfg Config
	n := allocated(func() { _, _, err = Decode(bytes.NewReader(data), Options{Scale: 1, MaxPixels: 50e6}) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if n > 1<<20 {
		t.Errorf("refusing a huge image allocated %d bytes", n)
	}
	n = allocated(func() { cfg, err = DecodeConfig(bytes.NewReader(data)) })
	if err != nil || cfg.Width != 60000 || cfg.Height != 60000 {
		t.Fatalf("DecodeConfig: %+v, %v", cfg, err)
	}
	if n > 1<<20 {
		t.Errorf("DecodeConfig allocated %d bytes", n)
	}
	// Within the limit, a tiny file that declares a large image is
	// decoded only as far as its data goes: truncated.
	_, _, err = Decode(bytes.NewReader(hugeJPEG(t, 4000, 3000)), Options{Scale: 8, MaxPixels: 50e6})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v, want unexpected EOF", err)
	}
}

func TestBadHeaders(t *testing.T) {
	base := readFixture(t, "base420.jpg")
	dht, _ := findSegment(base, 0xC4)
	sos := bytes.Index(base, []byte{0xFF, 0xDA})
	mod := func(f func(b []byte)) []byte {
		b := append([]byte{}, base...)
		f(b)
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		// Three 1-bit codes cannot exist.
		{"huffman code space overflow", mod(func(b []byte) { b[dht+5] = 3 })},
		{"huffman table class", mod(func(b []byte) { b[dht+4] = 0x20 })},
		{"huffman table id", mod(func(b []byte) { b[dht+4] = 0x05 })},
		{"no huffman tables", stripAll(base, 0xC4)},
		{"no quantization tables", stripAll(base, 0xDB)},
		{"zero width", patchSOF(t, base, func(s []byte) { s[3], s[4] = 0, 0 })},
		{"zero height", patchSOF(t, base, func(s []byte) { s[1], s[2] = 0, 0 })},
		{"two components", patchSOF(t, base, func(s []byte) { s[5] = 2 })},
		{"sampling factor 0", patchSOF(t, base, func(s []byte) { s[7] = 0x02 })},
		{"sampling factor 5", patchSOF(t, base, func(s []byte) { s[7] = 0x51 })},
		{"sampling 3 with 2", patchSOF(t, base, func(s []byte) { s[7], s[10] = 0x31, 0x21 })},
		{"quant selector", patchSOF(t, base, func(s []byte) { s[8] = 7 })},
		{"scan component count", mod(func(b []byte) { b[sos+4] = 5 })},
		{"scan component id", mod(func(b []byte) { b[sos+5] = 99 })},
		{"scan table selector", mod(func(b []byte) { b[sos+6] = 0x55 })},
		{"SOS before SOF", append([]byte{0xFF, 0xD8}, base[sos:]...)},
	}
	for _, tt := range tests {
		for _, s := range []int{1, 8} {
			if _, _, err := Decode(bytes.NewReader(tt.data), Options{Scale: s}); err == nil {
				t.Errorf("%s 1/%d: no error", tt.name, s)
			}
		}
	}
}

// stripAll removes every segment with the given marker before SOS.
func stripAll(data []byte, marker byte) []byte {
	for {
		off, _ := findSegment(data, marker)
		if off < 0 {
			return data
		}
		data = stripMarker(data, marker)
	}
}

// TestMutations decodes many randomly corrupted fixtures at every scale:
// no panics, and any success has the right size.
func TestMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	names := []string{"base420.jpg", "restart420.jpg", "prog420.jpg", "progcustom420.jpg",
		"progrestart422.jpg", "grayprog.jpg", "ycckprog.jpg", "base411.jpg"}
	iters := 25
	if testing.Short() {
		iters = 8
	}
	for _, name := range names {
		orig := readFixture(t, name)
		for i := 0; i < iters; i++ {
			data := append([]byte{}, orig...)
			for j := r.IntN(4); j >= 0; j-- {
				p := r.IntN(len(data))
				switch r.IntN(3) {
				case 0:
					data[p] = byte(r.Uint32())
				case 1:
					data[p] ^= 1 << r.IntN(8)
				default:
					data = data[:p+r.IntN(len(data)-p)+1]
				}
			}
			checkDecode(t, data, 1<<20)
		}
	}
}

// checkDecode decodes at every scale and checks the invariants that hold
// for any input.
func checkDecode(t *testing.T, data []byte, maxPixels int64) {
	t.Helper()
	cfg, cerr := DecodeConfig(bytes.NewReader(data))
	for _, s := range []int{1, 2, 4, 8} {
		img, dcfg, err := Decode(bytes.NewReader(data), Options{Scale: s, MaxPixels: maxPixels, MaxScans: fuzzMaxScans})
		if err != nil {
			if img != nil {
				t.Fatalf("error %v with non-nil image", err)
			}
			continue
		}
		if cerr != nil {
			t.Fatalf("Decode succeeded but DecodeConfig failed: %v", cerr)
		}
		if int64(dcfg.Width)*int64(dcfg.Height) > maxPixels {
			t.Fatalf("decoded %dx%d, over the %d pixel limit", dcfg.Width, dcfg.Height, maxPixels)
		}
		if dcfg.Width != cfg.Width || dcfg.Height != cfg.Height {
			t.Fatalf("Decode config %+v != DecodeConfig %+v", dcfg, cfg)
		}
		if !bytes.Equal(dcfg.ICC, cfg.ICC) || dcfg.ICCIgnored != cfg.ICCIgnored || len(cfg.ICC) > icc.MaxSize {
			t.Fatalf("Decode's profile (%d bytes, %q) is not DecodeConfig's (%d bytes, %q)", len(dcfg.ICC), dcfg.ICCIgnored, len(cfg.ICC), cfg.ICCIgnored)
		}
		want := image.Rect(0, 0, (cfg.Width+s-1)/s, (cfg.Height+s-1)/s)
		if img.Bounds() != want {
			t.Fatalf("1/%d: bounds %v, want %v", s, img.Bounds(), want)
		}
		if s == 8 {
			// CMYK ink output: the same size, whatever the colour space.
			ink, _, err := Decode(bytes.NewReader(data), Options{Scale: s, MaxPixels: maxPixels, MaxScans: fuzzMaxScans, CMYK: true})
			if err != nil {
				t.Fatalf("1/%d with CMYK: %v", s, err)
			}
			if ink.Bounds() != want {
				t.Fatalf("1/%d with CMYK: bounds %v, want %v", s, ink.Bounds(), want)
			}
		}
		// The last pixel has the largest offset into every plane: a plane
		// too short for its image panics here, not in a later resize.
		if !want.Empty() {
			_ = img.At(want.Max.X-1, want.Max.Y-1)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, fx := range fixtures(f) {
		if len(fx.data) < 20000 {
			f.Add(fx.data)
		}
	}
	base := readFixture(f, "base420.jpg")
	f.Add(hugeJPEG(f, 60000, 60000))
	f.Add(hugeJPEG(f, 2000, 1000))
	f.Add(base[:len(base)/2])
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xD9})
	f.Add([]byte{})
	// ICC_PROFILE segments: split in order, out of order, one missing.
	f.Add(withSegments(base, app2(1, 2, []byte("first")), app2(2, 2, []byte("second"))))
	f.Add(withSegments(base, app2(2, 2, []byte("second")), app2(1, 2, []byte("first"))))
	f.Add(withSegments(base, app2(2, 3, []byte("second"))))
	// Progressions: a first scan repeated, a bit refined twice, a file of
	// many valid scans (refused by the limit of checkDecode's options).
	f.Add(pixeltest.ScanBomb(32, 32, 3))
	f.Add(pixeltest.ProgressionBomb(32, 32, 2))
	f.Add(pixeltest.ManyScans(32, 32, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, 1<<20)
	})
}
