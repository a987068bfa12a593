// Package pixeltest makes the images thumbpipe's tests feed it: small,
// deterministic, in every format and shape the pipeline must handle,
// including hostile ones. Files that Go cannot write (CMYK and progressive
// JPEG, WebP) are committed under testdata/images at the module root.
package pixeltest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// Marker is the colour of the top-left corner of every [Upright] image.
var Marker = color.NRGBA{R: 255, A: 255}

// Upright returns a w×h image whose top-left quarter-corner (w/4 × h/4) is
// [Marker] red and whose other corners are green, blue and black, over a
// smooth gradient, so a test can tell every rotation and flip apart.
func Upright(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{R: uint8(64 + 64*x/w), G: uint8(64 + 64*y/h), B: 128, A: 255}
			left, top := x < w/4, y < h/4
			right, bottom := x >= w-w/4, y >= h-h/4
			switch {
			case left && top:
				c = Marker
			case right && top:
				c = color.NRGBA{G: 255, A: 255}
			case left && bottom:
				c = color.NRGBA{B: 255, A: 255}
			case right && bottom:
				c = color.NRGBA{A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// Photo returns a w×h camera-like image: gradients, edges and seeded noise,
// which compresses like a photograph rather than like a flat test card.
func Photo(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < w; x++ {
			n := int(rng.Uint32() & 15)
			r := (x*255/w + n) & 255
			g := (y*255/h + n) & 255
			b := ((x/64+y/64)%2*96 + 64 + n) & 255
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = uint8(r), uint8(g), uint8(b), 255
		}
	}
	return img
}

// JPEG encodes img as a baseline JPEG.
func JPEG(img image.Image, quality int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PNG encodes img as a PNG (16-bit for 16-bit images, palette for paletted).
func PNG(img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// GIF encodes img as a GIF.
func GIF(img image.Image) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// TIFF encodes img as a TIFF.
func TIFF(img image.Image) []byte {
	var b bytes.Buffer
	if err := tiff.Encode(&b, img, nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// BMP encodes img as a BMP.
func BMP(img image.Image) []byte {
	var b bytes.Buffer
	if err := bmp.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// Stored returns how a camera stores upright image u when it tags the file
// with EXIF orientation o: the pixels a viewer must turn by o to see u.
// It follows the EXIF definition of each value directly, not the code under
// test.
func Stored(u *image.NRGBA, o int) *image.NRGBA {
	w, h := u.Rect.Dx(), u.Rect.Dy()
	sw, sh := w, h
	if o >= 5 {
		sw, sh = h, w
	}
	s := image.NewNRGBA(image.Rect(0, 0, sw, sh))
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			var ux, uy int
			switch o {
			case 2:
				ux, uy = w-1-x, y
			case 3:
				ux, uy = w-1-x, h-1-y
			case 4:
				ux, uy = x, h-1-y
			case 5:
				ux, uy = y, x
			case 6:
				ux, uy = w-1-y, x
			case 7:
				ux, uy = w-1-y, h-1-x
			case 8:
				ux, uy = y, h-1-x
			default:
				ux, uy = x, y
			}
			s.SetNRGBA(x, y, u.NRGBAAt(ux, uy))
		}
	}
	return s
}

// WithOrientation inserts an EXIF APP1 segment carrying orientation o right
// after the SOI marker of a JPEG. bigEndian picks the TIFF byte order.
func WithOrientation(jpg []byte, o int, bigEndian bool) []byte {
	return insertAPP(jpg, 0xE1, append([]byte("Exif\x00\x00"), EXIFOrientation(o, bigEndian)...))
}

// EXIFOrientation returns an EXIF TIFF structure whose IFD0 has one entry,
// orientation o: what a JPEG's APP1, a PNG's eXIf or a WebP's EXIF chunk
// carries. bigEndian picks the byte order.
func EXIFOrientation(o int, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	order := "II"
	if bigEndian {
		bo, order = binary.BigEndian, "MM"
	}
	t := []byte(order)
	t = bo.AppendUint16(t, 42)
	t = bo.AppendUint32(t, 8)         // IFD0 offset
	t = bo.AppendUint16(t, 1)         // one entry
	t = bo.AppendUint16(t, 0x0112)    // Orientation
	t = bo.AppendUint16(t, 3)         // SHORT
	t = bo.AppendUint32(t, 1)         // count
	t = bo.AppendUint16(t, uint16(o)) // value
	t = bo.AppendUint16(t, 0)         // padding
	return bo.AppendUint32(t, 0)      // no next IFD
}

// WithAPP inserts an application segment (marker 0xE0 to 0xEF) of any
// payload up to 65533 bytes right after SOI: e.g. a huge EXIF block.
func WithAPP(jpg []byte, marker byte, payload []byte) []byte { return insertAPP(jpg, marker, payload) }

func insertAPP(jpg []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xFF, marker}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// OrientedJPEG returns a JPEG of the w×h [Upright] image stored as a camera
// with EXIF orientation o stores it.
func OrientedJPEG(w, h, o int) []byte {
	return WithOrientation(JPEG(Stored(Upright(w, h), o), 95), o, o%2 == 0)
}

// TransparentPalette returns a paletted image whose left half is fully
// transparent and right half opaque blue.
func TransparentPalette(w, h int) *image.Paletted {
	p := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{
		color.NRGBA{}, color.NRGBA{B: 255, A: 255},
	})
	for y := 0; y < h; y++ {
		for x := w / 2; x < w; x++ {
			p.SetColorIndex(x, y, 1)
		}
	}
	return p
}

// Deep returns a 16-bit-per-channel gradient image.
func Deep(w, h int) *image.NRGBA64 {
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA64(x, y, color.NRGBA64{R: uint16(x * 65535 / w), G: uint16(y * 65535 / h), B: 30000, A: 65535})
		}
	}
	return img
}

// PNGBomb returns a PNG of under a hundred bytes whose header declares w×h
// pixels.
func PNGBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	chunk(&b, "IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 4096))
	zw.Close()
	chunk(&b, "IDAT", z.Bytes())
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

// PNGZlibBomb returns a PNG with legal dimensions (w×h, 8-bit gray) whose
// image data inflates to about inflatedMiB MiB, far more than the image
// needs: a decoder must stop at the rows the header declares. Even
// gigabytes cost a few hundred kilobytes and no time to make ([ZeroZlib]).
func PNGZlibBomb(w, h uint32, inflatedMiB int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0)
	chunk(&b, "IHDR", ihdr)
	chunk(&b, "IDAT", ZeroZlib(int64(inflatedMiB)<<20))
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

// WebPBomb returns a lossless WebP header declaring w×h pixels (at most
// 16384 each) with no image data.
func WebPBomb(w, h uint32) []byte {
	bits := (w - 1) | (h-1)<<14 // alpha hint 0, version 0
	vp8l := append([]byte{0x2f}, binary.LittleEndian.AppendUint32(nil, bits)...)
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(4+8+len(vp8l)+1))
	b = append(b, "WEBPVP8L"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vp8l)))
	b = append(b, vp8l...)
	return append(b, 0) // padding to an even size
}

// TIFFBomb returns a TIFF whose only IFD declares a w×h 8-bit gray image in
// one strip of one byte.
func TIFFBomb(w, h uint32) []byte {
	le := binary.LittleEndian
	b := []byte("II*\x00")
	b = le.AppendUint32(b, 8)
	type entry struct {
		tag, typ uint16
		val      uint32
	}
	entries := []entry{
		{256, 4, w}, {257, 4, h}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1},
		{273, 4, 0}, {277, 3, 1}, {278, 4, h}, {279, 4, 1},
	}
	dataOff := uint32(8 + 2 + len(entries)*12 + 4)
	entries[5].val = dataOff
	b = le.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = le.AppendUint16(b, e.tag)
		b = le.AppendUint16(b, e.typ)
		b = le.AppendUint32(b, 1)
		if e.typ == 3 {
			b = le.AppendUint16(b, uint16(e.val))
			b = le.AppendUint16(b, 0)
		} else {
			b = le.AppendUint32(b, e.val)
		}
	}
	b = le.AppendUint32(b, 0)
	return append(b, 0)
}

// BMPBomb returns the 54-byte headers of a 24-bit BMP declaring w×h pixels.
func BMPBomb(w, h uint32) []byte {
	le := binary.LittleEndian
	b := []byte("BM")
	b = le.AppendUint32(b, 54)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 54)
	b = le.AppendUint32(b, 40)
	b = le.AppendUint32(b, w)
	b = le.AppendUint32(b, h)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 24)
	return append(b, make([]byte, 24)...)
}

// AnimatedGIF returns a w×h GIF of n frames.
func AnimatedGIF(w, h, n int) []byte {
	pal := color.Palette{color.Black, color.White, color.NRGBA{R: 255, A: 255}}
	g := &gif.GIF{}
	for i := 0; i < n; i++ {
		p := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		p.SetColorIndex(i%w, 0, uint8(1+i%2))
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 1)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// Polyglot returns a valid JPEG that carries an HTML page in a comment
// segment, the kind of file that is an image to a decoder and a page to a
// browser that sniffs.
func Polyglot() []byte {
	jpg := JPEG(Photo(64, 64, 99), 80)
	return WithAPP(jpg, 0xFE, []byte(PolyglotHTML))
}

// PolyglotHTML is the page hidden in [Polyglot].
const PolyglotHTML = "<html><body><script>alert('polyglot')</script></body></html>"

// HugeEXIF returns a JPEG with a maximal (64 KiB) EXIF segment full of
// IFD entries that point outside it.
func HugeEXIF() []byte {
	t := []byte("II*\x00\x08\x00\x00\x00")
	t = binary.LittleEndian.AppendUint16(t, 5000)
	for len(t) < 65000 {
		t = append(t, 0x12, 0x01, 0x03, 0x00, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f)
	}
	return WithAPP(JPEG(Photo(64, 48, 98), 80), 0xE1, append([]byte("Exif\x00\x00"), t...))
}

// WithoutAPP removes every segment with the given marker (e.g. 0xEE, the
// Adobe APP14 segment) from a JPEG.
func WithoutAPP(jpg []byte, marker byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	i := 2
	for i+4 <= len(jpg) && jpg[i] == 0xFF && jpg[i+1] != 0xDA {
		n := int(binary.BigEndian.Uint16(jpg[i+2:]))
		if jpg[i+1] != marker {
			out = append(out, jpg[i:i+2+n]...)
		}
		i += 2 + n
	}
	return append(out, jpg[i:]...)
}

// BadHuffman returns a baseline JPEG whose first Huffman table claims more
// codes of each length than can exist.
func BadHuffman() []byte {
	out := append([]byte{}, JPEG(Photo(32, 32, 97), 80)...)
	for i := 2; i+21 < len(out); i++ {
		if out[i] == 0xFF && out[i+1] == 0xC4 { // DHT: FF C4 len(2) class/id(1) counts(16)
			for j := 0; j < 16; j++ {
				out[i+5+j] = 0xFF
			}
			break
		}
	}
	return out
}

func chunk(b *bytes.Buffer, typ string, data []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.Write(b, binary.BigEndian, crc.Sum32())
}

// GIFBomb returns a tiny GIF whose logical screen and first frame declare
// w×h pixels.
func GIFBomb(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0x80, 0, 0)             // global colour table of 2
	b = append(b, 0, 0, 0, 255, 255, 255) // black, white
	b = append(b, 0x2C, 0, 0, 0, 0)       // image descriptor at 0,0
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0, 2, 2, 0x4C, 0x01, 0) // LZW min code size 2, tiny data
	return append(b, 0x3B)
}

// JPEGBomb returns a baseline JPEG whose frame header declares w×h pixels,
// followed by the scan of a tiny real image (so only the header lies).
func JPEGBomb(w, h uint16) []byte {
	small := JPEG(image.NewGray(image.Rect(0, 0, 8, 8)), 50)
	out := append([]byte{}, small...)
	for i := 2; i+9 < len(out); i++ {
		if out[i] == 0xFF && out[i+1] == 0xC0 { // SOF0: FF C0 len(2) P(1) H(2) W(2)
			binary.BigEndian.PutUint16(out[i+5:], h)
			binary.BigEndian.PutUint16(out[i+7:], w)
			break
		}
	}
	return out
}

// File reads a committed fixture from testdata/images at the module root.
func File(name string) []byte {
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", "testdata", "images", name))
	if err != nil {
		panic(err)
	}
	return b
}

// WithICC embeds an ICC profile in a JPEG, right after its SOI marker, as
// encoders do: APP2 ICC_PROFILE segments numbered from 1, in order, each
// holding up to 65519 bytes of the profile.
func WithICC(jpg, profile []byte) []byte {
	const part = 65535 - 2 - 14
	count := (len(profile) + part - 1) / part
	for i := count - 1; i >= 0; i-- { // each goes in right after SOI
		p := append([]byte("ICC_PROFILE\x00"), byte(i+1), byte(count))
		jpg = insertAPP(jpg, 0xE2, append(p, profile[i*part:min(len(profile), (i+1)*part)]...))
	}
	return jpg
}
