package pngdec

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// smallPNG is a 40x30 RGBA image in many IDAT chunks.
func smallPNG(interlace bool) []byte {
	return rawPNG{w: 40, h: 30, depth: 8, ct: RGBA, interlace: interlace, idatSize: 500,
		sample: func(x, y, ch int) uint16 { return photo16(40, 30)(x, y, ch) >> 8 }}.encode()
}

// chunkAt returns the offset of the first chunk of type typ.
func chunkAt(t testing.TB, data []byte, typ string) int {
	t.Helper()
	for i := 8; i+8 <= len(data); {
		if string(data[i+4:i+8]) == typ {
			return i
		}
		i += 12 + int(binary.BigEndian.Uint32(data[i:]))
	}
	t.Fatalf("no %s chunk", typ)
	return -1
}

// fixCRC recomputes the CRC of the chunk at off.
func fixCRC(data []byte, off int) {
	n := int(binary.BigEndian.Uint32(data[off:]))
	binary.BigEndian.PutUint32(data[off+8+n:], crc32.ChecksumIEEE(data[off+4:off+8+n]))
}

func TestTruncated(t *testing.T) {
	for _, il := range []bool{false, true} {
		data := smallPNG(il)
		iend := chunkAt(t, data, "IEND")
		for cut := 0; cut < iend; cut += 1 + cut/20 {
			for _, s := range []int{1, 3} {
				img, _, err := Decode(bytes.NewReader(data[:cut]), Options{Scale: s})
				if err == nil || img != nil {
					t.Errorf("interlaced=%v cut at %d/%d, 1/%d: no error", il, cut, len(data), s)
					continue
				}
				if cut > 8 && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("interlaced=%v cut at %d/%d, 1/%d: %v, want unexpected EOF", il, cut, len(data), s, err)
				}
			}
		}
		// Without IEND, or with trailing garbage, the image is complete.
		for name, in := range map[string][]byte{
			"no IEND":          data[:iend],
			"trailing garbage": append(append([]byte{}, data...), "garbage after IEND"...),
		} {
			if _, _, err := Decode(bytes.NewReader(in), Options{}); err != nil {
				t.Errorf("interlaced=%v %s: %v", il, name, err)
			}
		}
	}
}

func TestHostile(t *testing.T) {
	base := smallPNG(false)
	idat := chunkAt(t, base, "IDAT")
	mod := func(f func(b []byte)) []byte {
		b := append([]byte{}, base...)
		f(b)
		return b
	}
	badPalette := rawPNG{w: 8, h: 2, depth: 8, ct: Paletted, plte: []byte{1, 2, 3, 4, 5, 6},
		sample: func(x, y, ch int) uint16 { return uint16(x) }}.encode()
	withChunk := func(typ string, length uint32, data []byte) []byte {
		b := append([]byte{}, base[:idat]...)
		b = binary.BigEndian.AppendUint32(b, length)
		b = append(b, typ...)
		b = append(b, data...)
		return append(b, base[idat:]...)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"bad IHDR CRC", mod(func(b []byte) { b[29] ^= 1 }), ErrChecksum},
		{"bad IDAT CRC", mod(func(b []byte) { b[idat+8+500] ^= 1 }), ErrChecksum},
		{"bad IDAT data", mod(func(b []byte) { b[idat+20] ^= 0xff; fixCRC(b, idat) }), nil},
		{"chunk length 2^31", withChunk("abCd", 1<<31, nil), ErrChunkTooLarge},
		{"chunk length 2^32-1", withChunk("abCd", 1<<32-1, nil), ErrChunkTooLarge},
		{"huge chunk length, little data", withChunk("abCd", 1<<31-1, []byte("short")), io.ErrUnexpectedEOF},
		{"huge iCCP", withChunk("iCCP", 100<<20, nil), ErrChunkTooLarge},
		{"huge eXIf", withChunk("eXIf", 100<<20, nil), ErrChunkTooLarge},
		{"zlib bomb", pixeltest.PNGZlibBomb(1000, 1000, 1024), ErrTooMuchData},
		{"palette index out of range", badPalette, ErrPaletteIndex},
		{"not a PNG", []byte("GIF89a........................"), nil},
		{"empty", nil, nil},
		{"signature only", []byte(pngSignature), io.ErrUnexpectedEOF},
		{"zero width", mod(func(b []byte) { copy(b[16:20], []byte{0, 0, 0, 0}); fixCRC(b, 8) }), nil},
		{"bad depth", mod(func(b []byte) { b[24] = 3; fixCRC(b, 8) }), nil},
		{"bad color type", mod(func(b []byte) { b[25] = 5; fixCRC(b, 8) }), nil},
		{"bad filter type", rawPNG{w: 4, h: 4, depth: 8, ct: Gray, sample: func(x, y, ch int) uint16 { return 0 }}.encodeWith(
			func(raw []byte) { raw[0] = 9 }), nil},
		{"unknown critical chunk", withChunk("ABCD", 0, []byte{0, 0, 0, 0}), nil},
		{"no IDAT", append(append([]byte{}, base[:idat]...), base[chunkAt(t, base, "IEND"):]...), nil},
	}
	for _, tt := range tests {
		for _, s := range []int{1, 4} {
			img, _, err := Decode(bytes.NewReader(tt.data), Options{Scale: s})
			if err == nil || img != nil {
				t.Errorf("%s 1/%d: no error", tt.name, s)
				continue
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("%s 1/%d: %v, want %v", tt.name, s, err, tt.want)
			}
			// Every error is one of the package's, the end of the input,
			// or the inflater's, wrapped.
			var fe FormatError
			var ue UnsupportedError
			var ce flate.CorruptInputError
			if !errors.As(err, &fe) && !errors.As(err, &ue) && !errors.Is(err, io.ErrUnexpectedEOF) &&
				!errors.As(err, &ce) && !errors.Is(err, zlib.ErrChecksum) && !errors.Is(err, zlib.ErrHeader) {
				t.Errorf("%s 1/%d: unexpected kind of error %v (%T)", tt.name, s, err, err)
			}
		}
	}
}

func TestHugeDimensions(t *testing.T) {
	data := pixeltest.PNGBomb(60000, 60000)
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
	n := allocated(func() { _, _, err = Decode(bytes.NewReader(data), Options{MaxPixels: 50e6}) })
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
	// Within the limit, a tiny file that declares a large image is decoded
	// only as far as its data goes.
	_, _, err = Decode(bytes.NewReader(pixeltest.PNGBomb(4000, 3000)), Options{Scale: 8, MaxPixels: 50e6})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v, want unexpected EOF", err)
	}
}

// flatPNG returns a w x h PNG whose rows are each one byte value
// repeated, with filter None: gigabytes of image data in a small file,
// written without holding the raw data.
func flatPNG(t testing.TB, w, h, depth int, ct ColorType, interlace bool) []byte {
	t.Helper()
	p := rawPNG{w: w, h: h, depth: depth, ct: ct, interlace: interlace}
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 1+(w*depth*ct.channels()+7)/8)
	passes := []struct{ x0, y0, dx, dy int }{{0, 0, 1, 1}}
	if interlace {
		passes = adam7[:]
	}
	for _, a := range passes {
		if w <= a.x0 || h <= a.y0 {
			continue
		}
		pw, ph := (w-a.x0+a.dx-1)/a.dx, (h-a.y0+a.dy-1)/a.dy
		r := row[:1+(pw*depth*ct.channels()+7)/8]
		for y := 0; y < ph; y++ {
			for i := 1; i < len(r); i++ {
				r[i] = byte(a.y0 + y*a.dy)
			}
			zw.Write(r)
		}
	}
	zw.Close()
	return p.encodeStream(z.Bytes())
}

// peakHeap runs f and returns the largest growth of the heap while it
// ran, sampled every 100µs with the collector running often, so that
// garbage (the inflater allocates tables per deflate block) counts little.
func peakHeap(f func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var m uint64
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				peak <- max(m, read())
				return
			case <-tick.C:
				m = max(m, read())
			}
		}
	}()
	f()
	close(done)
	return max(<-peak, base) - base
}

// TestBoundedHeap decodes a crafted 7071x7071 16-bit RGBA image (400 MB
// of image data, image/png's output alone is 400 MB) at 1/32 and other
// scales: the heap grows by what MemoryEstimate says, a few hundred KB.
func TestBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates 400 MB of image data")
	}
	side := 7071 // the largest square inside the 50 MP default
	if raceEnabled {
		side = 2048 // 33 MB of image data per case instead of 400
	}
	for _, tc := range []struct {
		interlace bool
		opts      Options
	}{
		{false, Options{Scale: 32}},
		{true, Options{Scale: 32}},
		{true, Options{Scale: 8}},  // pass 1 only, straight into the output
		{true, Options{Scale: 12}}, // passes 1-3, output-sized accumulator
	} {
		data := flatPNG(t, side, side, 16, RGBA, tc.interlace)
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var img image.Image
		s := tc.opts.Scale
		peak := peakHeap(func() { img, _, err = Decode(bytes.NewReader(data), tc.opts) })
		if err != nil {
			t.Fatalf("interlaced=%v 1/%d: %v", tc.interlace, s, err)
		}
		if want := image.Rect(0, 0, (side+s-1)/s, (side+s-1)/s); img.Bounds() != want {
			t.Errorf("bounds %v, want %v", img.Bounds(), want)
		}
		est := MemoryEstimate(cfg, tc.opts)
		t.Logf("interlaced=%v 1/%d: heap grew by %d bytes at most, estimate %d", tc.interlace, s, peak, est)
		if int64(peak) > est+est/4+256<<10 {
			t.Errorf("interlaced=%v 1/%d: heap grew by %d bytes, estimate %d", tc.interlace, s, peak, est)
		}
		if s == 32 && peak > 4<<20 {
			t.Errorf("interlaced=%v 1/32: heap grew by %d bytes, want a few MB", tc.interlace, peak)
		}
	}
}

// TestMutations decodes many randomly corrupted inputs at several scales:
// no panics, and any success has the right size.
func TestMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	inputs := [][]byte{smallPNG(false), smallPNG(true)}
	for _, f := range rawFixtures(13, 11) {
		inputs = append(inputs, f.data)
	}
	iters := 20
	if testing.Short() {
		iters = 5
	}
	for _, orig := range inputs {
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

// checkDecode decodes at several scales and checks the invariants that
// hold for any input.
func checkDecode(t *testing.T, data []byte, maxPixels int64) {
	t.Helper()
	cfg, cerr := DecodeConfig(bytes.NewReader(data))
	for _, opts := range []Options{{Scale: 1}, {Scale: 2}, {Scale: 3}, {Scale: 8}, {Scale: 8, AllPasses: true}} {
		opts.MaxPixels = maxPixels
		img, dcfg, err := Decode(bytes.NewReader(data), opts)
		if err != nil {
			if img != nil {
				t.Fatalf("error %v with non-nil image", err)
			}
			continue
		}
		if cerr != nil {
			t.Fatalf("Decode succeeded but DecodeConfig failed: %v", cerr)
		}
		if dcfg.Pixels() > maxPixels {
			t.Fatalf("decoded %dx%d, over the %d pixel limit", dcfg.Width, dcfg.Height, maxPixels)
		}
		if dcfg.Width != cfg.Width || dcfg.Height != cfg.Height {
			t.Fatalf("Decode config %+v != DecodeConfig %+v", dcfg, cfg)
		}
		s := opts.Scale
		want := image.Rect(0, 0, (cfg.Width+s-1)/s, (cfg.Height+s-1)/s)
		if img.Bounds() != want {
			t.Fatalf("1/%d: bounds %v, want %v", s, img.Bounds(), want)
		}
		_ = img.At(want.Max.X-1, want.Max.Y-1)
	}
}

func FuzzDecode(f *testing.F) {
	for _, fx := range rawFixtures(9, 7) {
		f.Add(fx.data)
	}
	for _, fx := range goFixtures(f, 9, 7) {
		f.Add(fx.data)
	}
	f.Add(smallPNG(true))
	f.Add(pixeltest.PNGBomb(2000, 1000))
	f.Add(pixeltest.PNGBomb(60000, 60000))
	f.Add([]byte(pngSignature))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, 1<<20)
	})
}
