// Package testimages makes the images thumbpipe's tests feed it: small,
// deterministic, in every format and shape the pipeline must handle,
// including hostile ones. Files that Go cannot write (CMYK and progressive
// JPEG, WebP) are committed under testdata/images at the module root.
package testimages

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
	t = bo.AppendUint32(t, 0)         // no next IFD
	return insertAPP(jpg, 0xE1, append([]byte("Exif\x00\x00"), t...))
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

// PNGBomb returns a few hundred bytes of PNG whose header declares w×h
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
// image data inflates to far more than the image needs: a decoder must stop
// at the rows the header declares.
func PNGZlibBomb(w, h uint32, inflated int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0)
	chunk(&b, "IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zeros := make([]byte, 1<<16)
	for n := 0; n < inflated; n += len(zeros) {
		zw.Write(zeros)
	}
	zw.Close()
	chunk(&b, "IDAT", z.Bytes())
	chunk(&b, "IEND", nil)
	return b.Bytes()
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
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "testdata", "images", name))
	if err != nil {
		panic(err)
	}
	return b
}
