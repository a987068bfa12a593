package pixeltest

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// The files of this file are small but valid and declare large images,
// each of one colour, whose decoding costs hundreds of megabytes in a
// decoder that holds the whole image: they test a memory budget.

// ZeroZlib returns a zlib stream that inflates to n zero bytes. It repeats
// one compressed block of a MiB of zeros, so even gigabytes cost a few
// hundred kilobytes and no time to make.
func ZeroZlib(n int64) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	const block = 1 << 20
	zeros := make([]byte, block)
	if n < 2*block {
		zw.Write(zeros[:n%block])
		zw.Write(zeros[:n/block*block])
		zw.Close()
		return z.Bytes()
	}
	zw.Write(zeros)
	zw.Flush()
	stream := bytes.Clone(z.Bytes())
	z.Reset()
	zw.Write(zeros) // refers only to the zeros before it: repeatable
	zw.Flush()
	middle := bytes.Clone(z.Bytes())
	z.Reset()
	for i := int64(1); i < n/block; i++ {
		stream = append(stream, middle...)
	}
	zw.Write(zeros[:n%block])
	zw.Close()
	stream = append(stream, z.Bytes()[:z.Len()-4]...) // the rest, without the checksum
	// Adler-32 of n zero bytes: a stays 1, b grows by 1 per byte.
	return binary.BigEndian.AppendUint32(stream, uint32(n%65521)<<16|1)
}

// DeepPNG returns a w×h 16-bit RGBA PNG, all transparent black, Adam7
// interlaced if interlaced is set.
func DeepPNG(w, h uint32, interlaced bool) []byte { return deepPNG(w, h, 6, interlaced) }

// DeepGrayAlphaPNG returns a w×h 16-bit gray and alpha PNG, all
// transparent black.
func DeepGrayAlphaPNG(w, h uint32) []byte { return deepPNG(w, h, 4, false) }

// deepPNG returns a w×h 16-bit PNG of colour type ct (4 or 6), all zero.
func deepPNG(w, h uint32, ct byte, interlaced bool) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ilace := byte(0)
	if interlaced {
		ilace = 1
	}
	ihdr = append(ihdr, 16, ct, 0, 0, ilace)
	chunk(&b, "IHDR", ihdr)
	bpp := int64(8)
	if ct == 4 {
		bpp = 4
	}
	// Every row is a filter byte (0, none) and bpp bytes a pixel, all zero.
	rows := func(pw, ph int64) int64 {
		if pw == 0 || ph == 0 {
			return 0
		}
		return ph * (1 + bpp*pw)
	}
	n := rows(int64(w), int64(h))
	if interlaced {
		n = 0
		for _, p := range [7][4]int64{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			x0, y0, dx, dy := p[0], p[1], p[2], p[3]
			n += rows((int64(w)-x0+dx-1)/dx, (int64(h)-y0+dy-1)/dy)
		}
	}
	chunk(&b, "IDAT", ZeroZlib(n))
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

// SplitIDAT returns png with its image data cut into IDAT chunks of n
// bytes each: the same image, with a chunk header and CRC every n bytes.
func SplitIDAT(png []byte, n int) []byte {
	var data []byte
	var out bytes.Buffer
	out.Write(png[:8])
	for p := png[8:]; len(p) >= 12; {
		l := int(binary.BigEndian.Uint32(p))
		typ, body := string(p[4:8]), p[8:8+l]
		p = p[12+l:]
		switch {
		case typ == "IDAT":
			data = append(data, body...)
			continue
		case data != nil:
			for len(data) > 0 {
				k := min(n, len(data))
				chunk(&out, "IDAT", data[:k])
				data = data[k:]
			}
			data = nil
		}
		chunk(&out, typ, body)
	}
	return out.Bytes()
}

// HugeScreenGIF returns a GIF whose logical screen is w×h pixels and
// whose only frame is a 16×16 image in its top-left corner.
func HugeScreenGIF(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0x80, 0, 0)             // global colour table of 2
	b = append(b, 0, 0, 0, 255, 255, 255) // black, white
	b = append(b, 0x2C, 0, 0, 0, 0, 16, 0, 16, 0, 0)
	// The frame's 256 pixels, all colour 0, LZW-coded with a minimum code
	// size of 2, in sub-blocks of up to 255 bytes.
	var z bytes.Buffer
	zw := lzw.NewWriter(&z, lzw.LSB, 2)
	zw.Write(make([]byte, 256))
	zw.Close()
	b = append(b, 2)
	for d := z.Bytes(); len(d) > 0; {
		k := min(255, len(d))
		b = append(b, byte(k))
		b = append(b, d[:k]...)
		d = d[k:]
	}
	return append(b, 0, 0x3B)
}

// OneColourWebP returns a lossless WebP of w×h pixels (at most 16384 each)
// all of the colour argb: every prefix code has one symbol, so the pixels
// take no bits and the file is a few dozen bytes.
func OneColourWebP(w, h uint32, argb uint32) []byte {
	var bw bitWriter
	bw.put(0x2f, 8)
	bw.put(w-1, 14)
	bw.put(h-1, 14)
	bw.put(1, 1) // alpha is used
	bw.put(0, 3) // version
	bw.put(0, 1) // no transform
	bw.put(0, 1) // no colour cache
	bw.put(0, 1) // no meta prefix codes
	// Green, red, blue, alpha, distance: a simple code of one 8-bit symbol.
	for _, sym := range []uint32{argb >> 8 & 0xff, argb >> 16 & 0xff, argb & 0xff, argb >> 24, 0} {
		bw.put(1, 1) // simple
		bw.put(0, 1) // one symbol
		bw.put(1, 1) // of eight bits
		bw.put(sym, 8)
	}
	vp8l := bw.bytes()
	b := []byte("RIFF")
	size := 4 + 8 + len(vp8l) + len(vp8l)%2
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	b = append(b, "WEBPVP8L"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vp8l)))
	b = append(b, vp8l...)
	if len(vp8l)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// bitWriter packs bits least significant first, as VP8L reads them.
type bitWriter struct {
	buf   []byte
	nbits uint
}

func (w *bitWriter) put(v uint32, n uint) {
	for i := uint(0); i < n; i++ {
		if w.nbits%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		w.buf[len(w.buf)-1] |= byte(v>>i&1) << (w.nbits % 8)
		w.nbits++
	}
}

func (w *bitWriter) bytes() []byte { return w.buf }

// ProgressiveCMYK returns a w×h progressive CMYK JPEG (Adobe APP14, every
// component at full resolution) of one DC scan in which every block is
// zero: one bit a block, so 65535×399 takes about 200 KB.
func ProgressiveCMYK(w, h uint16) []byte {
	be := binary.BigEndian
	seg := jpegSegment
	b := []byte{0xFF, 0xD8}
	b = seg(b, 0xEE, []byte("Adobe\x00\x64\x00\x00\x00\x00\x00")) // transform 0: CMYK
	b = seg(b, 0xDB, unitQuant())
	sof := []byte{8}
	sof = be.AppendUint16(sof, h)
	sof = be.AppendUint16(sof, w)
	sof = append(sof, 4)
	for c := byte(1); c <= 4; c++ {
		sof = append(sof, c, 0x11, 0)
	}
	b = seg(b, 0xC2, sof)
	dht := make([]byte, 1+16+1) // DC table 0: one code, "0", for category 0
	dht[1] = 1
	b = seg(b, 0xC4, dht)
	sos := []byte{4}
	for c := byte(1); c <= 4; c++ {
		sos = append(sos, c, 0x00)
	}
	sos = append(sos, 0, 0, 0) // Ss 0, Se 0, Ah/Al 0
	b = seg(b, 0xDA, sos)
	blocks := ((int(w) + 7) / 8) * ((int(h) + 7) / 8) * 4
	b = append(b, make([]byte, (blocks+7)/8)...)
	if blocks%8 != 0 {
		b[len(b)-1] = 0xFF >> (blocks % 8) // pad with one bits
	}
	return append(b, 0xFF, 0xD9)
}

// InterlacedPNG encodes img as an Adam7-interlaced 8-bit RGBA PNG, which
// image/png cannot write.
func InterlacedPNG(img image.Image) []byte {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	var raw []byte
	for _, p := range [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
		x0, y0, dx, dy := p[0], p[1], p[2], p[3]
		if x0 >= w || y0 >= h {
			continue
		}
		for y := y0; y < h; y += dy {
			raw = append(raw, 0) // filter: none
			for x := x0; x < w; x += dx {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				raw = append(raw, c.R, c.G, c.B, c.A)
			}
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	chunk(&out, "IHDR", append(ihdr, 8, 6, 0, 0, 1))
	chunk(&out, "IDAT", z.Bytes())
	chunk(&out, "IEND", nil)
	return out.Bytes()
}

// Hairlines returns a w×h image of fine detail, the worst case for a
// decoder that samples a grid: one-pixel dark lines at irregular spacings
// (3 to 9 pixels) both ways, over [Photo].
func Hairlines(w, h int, seed uint64) *image.RGBA {
	img := Photo(w, h, seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	line := func(n int) map[int]bool {
		m := map[int]bool{}
		for i := rng.IntN(7); i < n; i += 3 + rng.IntN(7) {
			m[i] = true
		}
		return m
	}
	cols, rows := line(w), line(h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if cols[x] || rows[y] {
				img.SetRGBA(x, y, color.RGBA{R: 20, G: 20, B: 20, A: 255})
			}
		}
	}
	return img
}

// PSNR compares two equally sized images over all four channels, with
// colour weighted by alpha (so the colour of invisible pixels does not
// count), in dB: +Inf for equal images, NaN for different sizes.
func PSNR(a, b image.Image) float64 {
	ra, rb := a.Bounds(), b.Bounds()
	if ra.Size() != rb.Size() {
		return math.NaN()
	}
	var se float64
	n := 0
	for y := 0; y < ra.Dy(); y++ {
		for x := 0; x < ra.Dx(); x++ {
			p := color.NRGBAModel.Convert(a.At(ra.Min.X+x, ra.Min.Y+y)).(color.NRGBA)
			q := color.NRGBAModel.Convert(b.At(rb.Min.X+x, rb.Min.Y+y)).(color.NRGBA)
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

// PeakHeap runs fn while sampling the heap's objects (live, and dead but
// not yet collected) every millisecond, and returns the highest they rose
// above the heap before fn (after a GC), plus the most memory the
// WebAssembly decoders had mapped outside the heap meanwhile
// (wasmrt.Peak): what a decode costs the process, wherever it lies.
func PeakHeap(fn func()) uint64 {
	var mapped int64
	heap := peakHeap(func() { mapped = wasmrt.Peak(fn) })
	return heap + uint64(max(mapped, 0))
}

// peakHeap is PeakHeap of the Go heap alone.
func peakHeap(fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// CostlyFile is one file of [CostlyFiles].
type CostlyFile struct {
	Name string
	Data []byte
}

// CostlyFiles returns the costly files of issue #14, whose images are
// side×side pixels (7071 is 50 million pixels, the default limit), and
// their variants, with names that say what each is: a thumbnail of any of
// them should cost what the thumbnail needs, not what the image would.
func CostlyFiles(side uint32) []CostlyFile {
	n := fmt.Sprint(side)
	return []CostlyFile{
		{"one-colour-lossless-" + n + ".webp", OneColourWebP(side, side, 0xff336699)},
		{"16-bit-rgba-" + n + ".png", DeepPNG(side, side, false)},
		{"16-bit-rgba-" + n + "-interlaced.png", DeepPNG(side, side, true)},
		{"16-bit-gray-alpha-" + n + ".png", DeepGrayAlphaPNG(side, side)},
		{"16-bit-rgba-" + n + "-1-byte-idat-chunks.png", SplitIDAT(DeepPNG(side, side, false), 1)},
		{"16-bit-rgba-deflate-one-strip-" + n + ".tif", DeepTIFF(side, side)},
		{"16-bit-rgba-deflate-tiles-" + n + ".tif", TiledTIFF(side, side, 256)},
		{"16-bit-gray-alpha-deflate-strips-" + n + ".tif", GrayAlphaTIFF(side, side)},
		{"progressive-cmyk-65535x399.jpg", ProgressiveCMYK(65535, 399)},
		{"huge-screen.gif", HugeScreenGIF(uint16(side), uint16(side))},
	}
}
