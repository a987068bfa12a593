package pixels

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"

	webpenc "github.com/gen2brain/webp"
	"golang.org/x/image/webp"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
)

// WebP is read by walking its RIFF chunks ourselves and decoding the image
// with golang.org/x/image/webp (pure Go): measured on a 12 MP photo, it
// decodes a lossy file in 0.6 s with 28 MB of resident memory and a
// lossless one in 0.65 s with 54 MB, where libwebp compiled to WebAssembly
// (github.com/gen2brain/webp) takes 2.2 s and 125 MB, and 3.4 s and 300 MB
// (0.4 s of either is compiling the module). That decoder refuses
// animated files, so the first frame of one is cut out of its ANMF chunk and
// decoded as a still image. Writing goes through github.com/gen2brain/webp,
// whose module is compiled on the first WebP written, not at start.

// webpMaxFrames is the most frames an animated WebP may declare. Only the
// first is decoded, but the header step walks every frame's chunk header
// to count them.
const webpMaxFrames = 10_000

// webpMaxEXIF is the largest EXIF chunk read for its orientation; a larger
// one is skipped and the image is taken as upright.
const webpMaxEXIF = 1 << 20

// webpInfo is what the chunks before and around the image data say.
type webpInfo struct {
	width       int
	height      int
	alpha       bool
	lossless    bool
	frames      int
	orientation int
	icc         []byte
	iccIgnored  string
}

// webpError is a malformed WebP structure.
type webpError struct{ msg string }

func (e webpError) Error() string { return "webp: " + e.msg }

func webpErrorf(format string, args ...any) error {
	return webpError{fmt.Sprintf(format, args...)}
}

// webpTooManyFrames is an animation with more frames than webpMaxFrames: a
// valid file thumbpipe refuses, so ErrUnsupported rather than ErrCorrupt.
type webpTooManyFrames struct{ frames int }

func (e webpTooManyFrames) Error() string {
	return fmt.Sprintf("webp: animation has more than %d frames (counted %d before stopping)", webpMaxFrames, e.frames)
}

// riffWalker reads a WebP's chunks in order from a stream.
type riffWalker struct {
	r    io.Reader
	left int64 // bytes of the RIFF payload not read yet
}

// newRIFFWalker reads the 12-byte RIFF header.
func newRIFFWalker(r io.Reader) (*riffWalker, error) {
	var h [12]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, webpErrorf("RIFF header: %v", noEOF(err))
	}
	if string(h[:4]) != "RIFF" || string(h[8:]) != "WEBP" {
		return nil, webpErrorf("not a RIFF WEBP file")
	}
	size := binary.LittleEndian.Uint32(h[4:])
	if size < 4+8 {
		return nil, webpErrorf("RIFF size %d leaves no room for a chunk", size)
	}
	return &riffWalker{r: r, left: int64(size) - 4}, nil
}

// next reads the next chunk's header: its FourCC and payload size. It
// returns io.EOF at the end of the RIFF payload.
func (w *riffWalker) next() (string, uint32, error) {
	if w.left < 8 {
		return "", 0, io.EOF
	}
	var h [8]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return "", 0, webpErrorf("chunk header: %v", noEOF(err))
	}
	w.left -= 8
	n := binary.LittleEndian.Uint32(h[4:])
	if int64(n) > w.left {
		return "", 0, webpErrorf("%q chunk of %d bytes overruns the RIFF payload (%d bytes left)", h[:4], n, w.left)
	}
	return string(h[:4]), n, nil
}

// read reads a whole chunk payload of n bytes and its padding.
func (w *riffWalker) read(n uint32) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(w.r, b); err != nil {
		return nil, webpErrorf("chunk truncated: %v", noEOF(err))
	}
	w.left -= int64(n)
	return b, w.skip(n & 1)
}

// skip skips n bytes of payload (and a padding byte when n is odd and the
// caller asks for the whole chunk with skipChunk).
func (w *riffWalker) skip(n uint32) error {
	if n == 0 {
		return nil
	}
	if int64(n) > w.left {
		n = uint32(w.left) // an unpadded last chunk
	}
	if _, err := io.CopyN(io.Discard, w.r, int64(n)); err != nil {
		return webpErrorf("chunk truncated: %v", noEOF(err))
	}
	w.left -= int64(n)
	return nil
}

// skipChunk skips a chunk's payload of n bytes and its padding.
func (w *riffWalker) skipChunk(n uint32) error { return w.skipRest(n, 0) }

// skipRest skips what is left of a chunk of n bytes whose first read
// bytes were consumed, and its padding.
func (w *riffWalker) skipRest(n, read uint32) error { return w.skip(n - read + n&1) }

// webpHeader reads a WebP's header from its chunks without decoding
// pixels: the size from VP8X, VP8 or VP8L; the ICCP profile; and, when
// VP8X says the file has them, the EXIF orientation (its chunk follows
// the image data) and the frame count of an animation.
func webpHeader(r io.Reader) (Config, error) {
	info, err := readWebPInfo(r)
	if err != nil {
		return Config{}, err
	}
	c := Config{Width: info.width, Height: info.height, Orientation: info.orientation,
		BitDepth: 8, Channels: 3, Frames: info.frames, ICC: info.icc, ICCIgnored: info.iccIgnored,
		Lossless: info.lossless}
	if info.alpha || info.lossless {
		// The lossless decoder gives NRGBA whatever the file's alpha hint.
		c.Channels = 4
	}
	return c, nil
}

func readWebPInfo(r io.Reader) (webpInfo, error) {
	w, err := newRIFFWalker(r)
	if err != nil {
		return webpInfo{}, err
	}
	info := webpInfo{frames: 1, orientation: 1}
	id, n, err := w.next()
	if err != nil {
		return info, noEOF(err)
	}
	switch id {
	case "VP8 ", "VP8L":
		info.width, info.height, info.lossless, info.alpha, err = webpBitstreamSize(w, id, n)
		return info, err
	case "VP8X":
	default:
		return info, webpErrorf("first chunk is %q, not VP8, VP8L or VP8X", id)
	}
	if n < 10 {
		return info, webpErrorf("VP8X chunk of %d bytes, want 10", n)
	}
	vp8x, err := w.read(n)
	if err != nil {
		return info, err
	}
	flags := vp8x[0]
	info.width = int(uint32(vp8x[4])|uint32(vp8x[5])<<8|uint32(vp8x[6])<<16) + 1
	info.height = int(uint32(vp8x[7])|uint32(vp8x[8])<<8|uint32(vp8x[9])<<16) + 1
	info.alpha = flags&webpFlagAlpha != 0
	animated := flags&webpFlagAnimation != 0
	if animated {
		info.frames = 0
	}
	first := true // the chunk right after VP8X
	for {
		id, n, err := w.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, err
		}
		if first && flags&webpFlagICC != 0 && id != "ICCP" {
			info.iccIgnored = fmt.Sprintf("WebP says it has an ICC profile, but a %q chunk follows VP8X", id)
		}
		first = false
		switch id {
		case "ICCP":
			if n > icc.MaxSize {
				info.iccIgnored = fmt.Sprintf("ICC profile of %d bytes exceeds %d bytes", n, icc.MaxSize)
				err = w.skipChunk(n)
			} else if info.icc, err = w.read(n); err != nil {
				info.icc, info.iccIgnored = nil, "ICCP chunk truncated"
				err = nil
			}
		case "ANMF":
			if !animated {
				return info, webpErrorf("ANMF chunk in a file whose VP8X has no animation flag")
			}
			info.frames++
			if info.frames > webpMaxFrames {
				return info, webpTooManyFrames{info.frames}
			}
			if info.frames == 1 {
				f, err := readANMF(w, n)
				if err != nil {
					return info, err
				}
				info.lossless, info.alpha = f.lossless, info.alpha || f.alpha
				if f.x != 0 || f.y != 0 || f.width != info.width || f.height != info.height {
					// Drawn on a transparent canvas it does not cover.
					info.alpha = true
				}
				err = w.skipRest(n, f.read)
				if err != nil {
					return info, err
				}
				continue
			}
			err = w.skipChunk(n)
		case "VP8 ", "VP8L":
			if animated {
				return info, webpErrorf("%q chunk outside a frame of an animation", id)
			}
			var fw, fh int
			fw, fh, info.lossless, _, err = webpBitstreamSize(w, id, n)
			if err == nil && (fw != info.width || fh != info.height) {
				return info, webpErrorf("image is %dx%d, VP8X says %dx%d", fw, fh, info.width, info.height)
			}
			if err == nil && flags&(webpFlagEXIF|webpFlagAnimation) == 0 {
				// Nothing the header needs follows the image data: leave
				// the rest of the stream to the decoder.
				return info, nil
			}
		case "EXIF":
			if n > webpMaxEXIF {
				err = w.skipChunk(n)
				break
			}
			var e []byte
			if e, err = w.read(n); err == nil {
				// Some writers keep JPEG's "Exif\0\0" before the TIFF data.
				if o := metadata.Orientation(e); o >= 1 && o <= 8 {
					info.orientation = o
				}
			}
		default:
			err = w.skipChunk(n)
		}
		if err != nil {
			return info, err
		}
	}
	if animated && info.frames == 0 {
		return info, webpErrorf("animation without frames")
	}
	return info, nil
}

// webpBitstreamSize reads the size from the start of a VP8 or VP8L chunk
// of n bytes and skips the rest of the chunk (which a decoder reads later
// from the start of the file).
func webpBitstreamSize(w *riffWalker, id string, n uint32) (width, height int, lossless, alpha bool, err error) {
	var h [10]byte
	need := uint32(10)
	if id == "VP8L" {
		need = 5
	}
	if n < need {
		return 0, 0, false, false, webpErrorf("%q chunk of %d bytes is too short", id, n)
	}
	if _, err := io.ReadFull(w.r, h[:need]); err != nil {
		return 0, 0, false, false, webpErrorf("%q chunk truncated: %v", id, noEOF(err))
	}
	w.left -= int64(need)
	if id == "VP8L" {
		if h[0] != 0x2f {
			return 0, 0, false, false, webpErrorf("VP8L signature %#x, want 0x2f", h[0])
		}
		bits := binary.LittleEndian.Uint32(h[1:])
		if bits>>29 != 0 {
			return 0, 0, false, false, webpErrorf("VP8L version %d, want 0", bits>>29)
		}
		width, height = int(bits&0x3fff)+1, int(bits>>14&0x3fff)+1
		lossless, alpha = true, bits>>28&1 != 0
	} else {
		// A frame tag of 3 bytes (bit 0 clear: a key frame), the start
		// code, then 14 bits of width and of height and 2 of scaling each.
		if h[0]&1 != 0 || h[3] != 0x9d || h[4] != 0x01 || h[5] != 0x2a {
			return 0, 0, false, false, webpErrorf("VP8 chunk does not start a key frame")
		}
		width = int(binary.LittleEndian.Uint16(h[6:]) & 0x3fff)
		height = int(binary.LittleEndian.Uint16(h[8:]) & 0x3fff)
	}
	return width, height, lossless, alpha, w.skipRest(n, need)
}

// webpFrame is the header of an ANMF chunk and the kind of its bitstream.
type webpFrame struct {
	x, y, width, height int
	alpha, lossless     bool
	// sub is the header of the frame's first sub-chunk.
	sub [8]byte
	// read is how many bytes of the ANMF payload readANMF consumed.
	read uint32
}

// readANMF reads an ANMF chunk's 16-byte header and the header of its
// first sub-chunk (ALPH, VP8 or VP8L), consuming no more of its n bytes.
func readANMF(w *riffWalker, n uint32) (webpFrame, error) {
	if n < 16+8 {
		return webpFrame{}, webpErrorf("ANMF chunk of %d bytes is too short", n)
	}
	var h [16 + 8]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return webpFrame{}, webpErrorf("ANMF chunk truncated: %v", noEOF(err))
	}
	w.left -= int64(len(h))
	u24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
	f := webpFrame{x: 2 * u24(h[0:]), y: 2 * u24(h[3:]), width: u24(h[6:]) + 1, height: u24(h[9:]) + 1, read: uint32(len(h))}
	copy(f.sub[:], h[16:])
	switch string(h[16:20]) {
	case "ALPH":
		f.alpha = true
	case "VP8L":
		f.lossless = true
	case "VP8 ":
	default:
		return webpFrame{}, webpErrorf("first frame starts with a %q chunk, not ALPH, VP8 or VP8L", h[16:20])
	}
	return f, nil
}

// decodeWebP decodes a still WebP, or the first frame of an animated one
// placed on its transparent canvas, as libwebp's animation decoder gives
// it (the first frame blends onto a transparent canvas, whatever
// background colour ANIM suggests).
//
// The decoder gives the full-size image; one that is at least twice the
// box in both directions is then averaged down by a whole factor right
// away (see [shrink]), so the resampler works on a small image and the
// full-size one is garbage as soon as Decode returns.
func decodeWebP(r io.Reader, c Config, opts DecodeOptions) (image.Image, error) {
	// RIFF header (12), VP8X chunk header (8) and its flags byte.
	var head [21]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, webpErrorf("RIFF header: %v", noEOF(err))
	}
	r = io.MultiReader(bytes.NewReader(head[:n]), r)
	var img image.Image
	if n == len(head) && string(head[12:16]) == "VP8X" && head[20]&webpFlagAnimation != 0 {
		img, err = decodeFirstFrame(r, c)
	} else {
		img, err = webp.Decode(r)
	}
	if err != nil {
		return nil, err
	}
	return shrink(img, shrinkFactor(c.Width, c.Height, opts)), nil
}

// decodeFirstFrame finds the first ANMF chunk, wraps its bitstream chunks
// in a still WebP of the frame's size and decodes that: only the first
// frame is read and held.
func decodeFirstFrame(r io.Reader, c Config) (image.Image, error) {
	w, err := newRIFFWalker(r)
	if err != nil {
		return nil, err
	}
	for {
		id, n, err := w.next()
		if err != nil {
			return nil, noEOF(err)
		}
		if id != "ANMF" {
			if err := w.skipChunk(n); err != nil {
				return nil, err
			}
			continue
		}
		f, err := readANMF(w, n)
		if err != nil {
			return nil, err
		}
		if f.x+f.width > c.Width || f.y+f.height > c.Height {
			return nil, webpErrorf("first frame %dx%d at (%d,%d) leaves the %dx%d canvas", f.width, f.height, f.x, f.y, c.Width, c.Height)
		}
		frame, err := webp.Decode(io.MultiReader(bytes.NewReader(f.still(n)), io.LimitReader(w.r, int64(n-f.read))))
		if err != nil {
			return nil, err
		}
		if f.x == 0 && f.y == 0 && f.width == c.Width && f.height == c.Height {
			return frame, nil
		}
		canvas := image.NewNRGBA(image.Rect(0, 0, c.Width, c.Height))
		draw.Draw(canvas, image.Rect(f.x, f.y, f.x+f.width, f.y+f.height), frame, frame.Bounds().Min, draw.Src)
		return canvas, nil
	}
}

// still returns the start of a still WebP holding the frame of an ANMF
// chunk of n bytes: the RIFF header, a VP8X chunk giving the frame's size
// (and alpha when an ALPH chunk comes first) and the header of the frame's
// first sub-chunk, which readANMF consumed; the rest of the frame's
// chunks follow as they are.
func (f webpFrame) still(n uint32) []byte {
	body := n - 16 // the frame's chunks
	var flags byte
	if f.alpha {
		flags = webpFlagAlpha
	}
	b := binary.LittleEndian.AppendUint32([]byte("RIFF"), 4+8+10+body)
	b = append(b, "WEBPVP8X"...)
	b = binary.LittleEndian.AppendUint32(b, 10)
	b = append(b, flags, 0, 0, 0,
		byte(f.width-1), byte((f.width-1)>>8), byte((f.width-1)>>16),
		byte(f.height-1), byte((f.height-1)>>8), byte((f.height-1)>>16))
	return append(b, f.sub[:]...)
}

// Bytes a pixel of golang.org/x/image/webp's decoders hold at most, from
// their source: a lossy image is 4:2:0 YCbCr in whole macroblocks (1.5);
// its ALPH chunk, when losslessly compressed, is a lossless image of its
// own from which the alpha plane (1) is taken. A lossless image is
// decoded at four bytes a pixel, after a colour-indexing transform into a
// second buffer of up to half that (the packed pixels), with the
// transforms' and entropy codes' sub-images (up to one byte a pixel) beside
// it: 7 bytes a pixel at worst. The header cannot tell which transforms a
// file uses, so the estimate is the worst case.
const (
	webpLossyBytes    = 1.5
	webpLosslessBytes = 7
	webpAlphaBytes    = webpLosslessBytes + 1
	// webpCanvasBytes is the NRGBA canvas the first frame of an animation
	// is drawn on when it does not cover it.
	webpCanvasBytes = 4
)

// webpOverhead is what decoding allocates whatever the image's size: the
// chunk headers, Huffman tables and the VP8 decoder's state.
const webpOverhead = 256 << 10

// webpMemory estimates x/image/webp's allocations for an image with header
// c: WebP is decoded at full size.
func webpMemory(c Config, opts DecodeOptions) int64 {
	px := float64(c.Pixels())
	var per float64
	switch {
	case c.Lossless:
		per = webpLosslessBytes
	default:
		// Macroblocks of 16×16 pixels.
		mb := float64((c.Width+15)/16*16) * float64((c.Height+15)/16*16)
		per = webpLossyBytes * mb / max(px, 1)
		if c.Channels == 4 {
			per += webpAlphaBytes
		}
	}
	if c.Frames > 1 {
		per += webpCanvasBytes
	}
	// The averaged-down image is held with the full-size one.
	f := int64(shrinkFactor(c.Width, c.Height, opts))
	shrunk := 4 * ((int64(c.Width) + f - 1) / f) * ((int64(c.Height) + f - 1) / f)
	if f == 1 {
		shrunk = 0
	}
	return webpOverhead + int64(per*px) + shrunk
}

// libwebp's effort settings: method 0 (fastest) to 6, and for lossless the
// quality, which it reads as effort. Measured in CPU time on a 200×200
// photo thumbnail (WebAssembly, one core): lossy quality 80 at method 4,
// libwebp's and cwebp's default, takes 25 ms and 9.1 KB; method 2 takes
// 10.5 ms for 9.4 KB (3% more), method 0 9 ms for 10.9 KB. Lossless at
// cwebp's default effort (quality 75, method 4) takes 180 ms; method 0 at
// 25 takes 7 to 9 ms, for a file up to 40% larger (lossless suits flat
// graphics, whose files stay small).
const (
	webpMethod         = 2
	webpLosslessMethod = 0
	webpLosslessEffort = 25
)

// encodeWebP writes img as WebP with libwebp compiled to WebAssembly
// (github.com/gen2brain/webp), lossy at opts.Quality or lossless, keeping
// alpha: an opaque image gets no alpha channel. The module is compiled on
// the first call.
func encodeWebP(w io.Writer, img image.Image, opts EncodeOptions) error {
	o := webpenc.Options{Quality: opts.Quality, Method: webpMethod}
	if opts.Lossless {
		o = webpenc.Options{Lossless: true, Quality: webpLosslessEffort, Method: webpLosslessMethod}
	}
	return webpenc.Encode(w, toNRGBA(img), o)
}

// toNRGBA returns img as an *image.NRGBA whose pixels start at its first
// byte, as the encoder reads them: img itself when it already is one.
// (The encoder would read an *image.RGBA's premultiplied values as
// straight ones, darkening every translucent pixel.)
func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	if n, ok := img.(*image.NRGBA); ok && b.Min == (image.Point{}) && n.Stride == 4*b.Dx() {
		return n
	}
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}
