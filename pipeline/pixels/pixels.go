// Package pixels turns the bytes of one image into thumbnails: it sniffs the
// format, reads the header, decodes, orients by EXIF, resizes and encodes.
// It knows nothing about buckets. [Render] is the whole path after the
// header: one decode, then each thumbnail in turn.
//
// # Safety
//
// Callers check the declared dimensions ([ReadConfig] on a stream, as the
// pipeline does, or [DecodeConfig] on bytes) against their pixel limit
// before calling [Render], [DecodeFrom] or [Decode], so a small file that
// declares a huge image never gets a pixel buffer. The format is taken from
// the bytes ([Sniff]), never from a file name or a Content-Type.
//
// # Formats
//
// JPEG (baseline, progressive, CMYK/YCCK), PNG (8/16-bit, palette, alpha),
// GIF (first frame), WebP (the first frame of an animation), TIFF and BMP
// are decoded; JPEG, PNG, GIF and WebP (lossy or lossless, with alpha) are
// written. Each format is one [Codec] in a table, added by one call to
// [Register]: its magic bytes, header reader, decoder, encoder (if
// written), extension, content type and error classes.
//
// # Colour
//
// The header step reads the embedded ICC profile (JPEG APP2 ICC_PROFILE
// segments, PNG iCCP, WebP ICCP, TIFF tag 34675) into [Config.ICC], within
// the icc package's size limit. [Render] converts to sRGB through one
// shared cache of [icc] transforms, or keeps the profile ([ColorKeep]); an
// image without a profile, or with an sRGB one, is left exactly as it was.
//
// # Metadata
//
// The header step also reads the creator and rights fields of the EXIF,
// XMP and IPTC blocks ([Config.Rights], package metadata). Thumbnails
// carry none of the source's metadata unless an output asks for
// [MetadataCopyright]; then only those fields are written, after encoding,
// by the format's Embed step, which also embeds a kept profile.
package pixels

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"

	"github.com/disintegration/imaging"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
)

// Format is an image file format, named by its usual file extension.
type Format string

// The formats pixels registers itself. Unknown is the zero value: bytes
// that are not an image pixels can read.
const (
	Unknown Format = ""
	JPEG    Format = "jpeg"
	PNG     Format = "png"
	GIF     Format = "gif"
	WebP    Format = "webp"
	TIFF    Format = "tiff"
	BMP     Format = "bmp"
)

// Ext returns the file extension for f, with its dot (".jpg" for JPEG),
// or "" for a format that is not registered.
func (f Format) Ext() string {
	if c := lookup(f); c != nil {
		return c.Ext
	}
	return ""
}

// ContentType returns the MIME type of f: application/octet-stream for a
// format that is not registered.
func (f Format) ContentType() string {
	if c := lookup(f); c != nil {
		return c.ContentType
	}
	return "application/octet-stream"
}

// Writable reports whether pixels can encode f: its codec has an encoder.
func (f Format) Writable() bool {
	c := lookup(f)
	return c != nil && c.Encode != nil
}

// SniffLen is how many leading bytes [Sniff] needs at most: no codec's
// magic is longer ([Register] checks).
const SniffLen = 16

// Sniff names the format of an image from its first bytes (at least
// [SniffLen] of them when the data is that long). It returns Unknown for
// anything else, whatever the name or Content-Type said.
func Sniff(b []byte) Format {
	if c := sniff(b); c != nil {
		return c.Format
	}
	return Unknown
}

// Errors that say why an image was refused. They are permanent: the same
// bytes fail the same way every time.
var (
	// ErrUnsupported means the bytes are not an image in a format pixels reads.
	ErrUnsupported = errors.New("unsupported image format")
	// ErrCorrupt means the bytes start like an image but do not decode.
	ErrCorrupt = errors.New("corrupt image")
	// ErrTooExpensive means decoding the image would cost more than the
	// bounds allow: more memory than a budget, or more scans than the
	// JPEG decoder reads.
	ErrTooExpensive = errors.New("image too expensive to decode")
)

// Config is what the header of an image says, before any pixel is decoded.
type Config struct {
	Format Format
	Width  int
	Height int
	// Orientation is the EXIF orientation, 1 (upright) to 8; 1 when absent.
	Orientation int
	// BitDepth is the bits per channel as stored (8 or 16); 0 when the
	// header does not say.
	BitDepth int
	// Channels is the number of channels as stored (1 gray, 2 gray and
	// alpha, 3 colour, 4 colour and alpha or CMYK); 0 when unknown.
	Channels int
	// Frames is the number of frames or pages; 0 when the header does not
	// tell. A GIF's are counted by walking its blocks, without decoding.
	Frames int
	// ICC is the embedded colour profile, when the format's header reader
	// extracts one; nil otherwise.
	ICC []byte
	// ICCIgnored says why a profile the file carries was left out of ICC
	// (segments out of sequence, too large); "" otherwise.
	ICCIgnored string
	// Progressive reports an image stored in passes (an interlaced PNG, a
	// progressive JPEG), which costs its decoder more memory.
	Progressive bool
	// Rights are the creator and rights fields of the file's EXIF, XMP
	// and IPTC metadata, for thumbnails made with [MetadataCopyright];
	// nothing else of the metadata is kept.
	Rights metadata.Rights
	// MetadataIgnored says which metadata blocks were ignored as broken
	// or too large; "" otherwise.
	MetadataIgnored string
	// Lossless reports an image stored losslessly where its format has
	// both kinds (a lossless WebP), which its decoder holds whole at four
	// bytes a pixel.
	Lossless bool
	// TileWidth and TileHeight are the size of the tiles the image is
	// stored in where its decoder decodes one tile at a time (a HEIF
	// grid); 0 otherwise.
	TileWidth, TileHeight int
	// Thumbnails are the sizes, in the image's stored orientation, of the
	// smaller versions of it the file carries and its decoder decodes
	// instead of the image when one covers the box (HEIF thumbnail items).
	Thumbnails []image.Point
}

// Pixels returns Width×Height as an int64, so it cannot overflow.
func (c Config) Pixels() int64 { return int64(c.Width) * int64(c.Height) }

// DecodeConfig sniffs data and reads its header without decoding pixels.
func DecodeConfig(data []byte) (Config, error) {
	c, _, err := ReadConfig(bytes.NewReader(data))
	return c, err
}

// ReadConfig is [DecodeConfig] on a stream: it sniffs and reads the header
// of the image r yields, and returns it with a reader of the whole stream
// from its first byte (the header's bytes, kept, then the rest of r) for
// [DecodeFrom] or [Render]. Only the header is held in memory, so a large
// JPEG is never read whole; a GIF is (its frames are counted by walking
// the file), and so is a WebP whose VP8X flags say it has EXIF or XMP,
// which the format puts after the image data.
func ReadConfig(r io.Reader) (Config, io.Reader, error) {
	var seen bytes.Buffer
	tee := io.TeeReader(r, &seen)
	replay := func() io.Reader { return &replayReader{held: seen.Bytes(), rest: r} }
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(tee, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Config{}, replay(), err
	}
	codec := sniff(head[:n])
	if codec == nil {
		return Config{}, replay(), fmt.Errorf("%w: bytes are not %s", ErrUnsupported, Readable())
	}
	c, err := codec.Header(&headerReader{seen: &seen, tee: tee})
	if err != nil {
		return Config{}, replay(), codec.classify(fmt.Errorf("header: %w", err))
	}
	if c.Width <= 0 || c.Height <= 0 {
		return Config{}, replay(), fmt.Errorf("%w: %s header declares %dx%d pixels", ErrCorrupt, codec.Format, c.Width, c.Height)
	}
	c.Format = codec.Format
	if c.Orientation < 1 || c.Orientation > 8 {
		c.Orientation = 1
	}
	readRights(codec, io.MultiReader(bytes.NewReader(seen.Bytes()), tee), &c)
	return c, replay(), nil
}

// headerReader is the stream a codec's Header reads: the bytes ReadConfig
// has kept, then more of the stream, which it keeps too. It is also an
// [io.ReaderAt] over them, reading ahead as far as asked, so a header read
// at offsets (TIFF's) needs no copy of its own.
type headerReader struct {
	seen *bytes.Buffer
	tee  io.Reader // the stream, copying into seen
	pos  int
	err  error
}

func (h *headerReader) Read(p []byte) (int, error) {
	if h.pos < h.seen.Len() {
		n := copy(p, h.seen.Bytes()[h.pos:])
		h.pos += n
		return n, nil
	}
	n, err := h.tee.Read(p)
	h.pos += n
	return n, err
}

func (h *headerReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if need := off + int64(len(p)) - int64(h.seen.Len()); need > 0 && h.err == nil {
		_, h.err = io.CopyN(io.Discard, h.tee, need) // the tee keeps them
	}
	if off >= int64(h.seen.Len()) {
		return 0, io.EOF
	}
	n := copy(p, h.seen.Bytes()[off:])
	if n < len(p) {
		if h.err != nil && h.err != io.EOF {
			return n, h.err
		}
		return n, io.EOF
	}
	return n, nil
}

// replayReader is the stream ReadConfig returns: the bytes the header step
// read, then the rest of the stream.
type replayReader struct {
	held []byte // still to be read
	rest io.Reader
}

func (r *replayReader) Read(p []byte) (int, error) {
	if len(r.held) > 0 {
		n := copy(p, r.held)
		r.held = r.held[n:]
		return n, nil
	}
	return r.rest.Read(p)
}

// Held returns the bytes still to be read that the header step holds, and
// the reader of those after them, so a decoder that reads at offsets
// (tiffdec) can use the bytes without a copy. Reading from r afterwards
// reads them again.
func (r *replayReader) Held() ([]byte, io.Reader) { return r.held, r.rest }

// Decode decodes the image in data, whose header c describes, at no less
// than the size that covers a box of w×h pixels (in the image's stored
// orientation); a zero box means full size. JPEGs are decoded straight at
// 1/2, 1/4 or 1/8 of their size where that still covers the box
// (shrink-on-load); other formats decode at full size. GIFs give their first
// frame. Orientation is not applied: see [Orient].
func Decode(data []byte, c Config, w, h int) (image.Image, error) {
	return DecodeFrom(bytes.NewReader(data), c, w, h)
}

// DecodeFrom is [Decode] on a stream that starts at the image's first byte,
// such as the reader [ReadConfig] returns. JPEGs are decoded as they are
// read, through a small buffer; the other formats' decoders read as they
// need. A decoder that can tell refuses an image larger than its header
// declared.
func DecodeFrom(r io.Reader, c Config, w, h int) (image.Image, error) {
	return decodeFrom(r, c, DecodeOptions{Width: w, Height: h})
}

// decodeFrom is DecodeFrom with the decoder's options; the pixel limit is
// c's.
func decodeFrom(r io.Reader, c Config, opts DecodeOptions) (image.Image, error) {
	codec := lookup(c.Format)
	if codec == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, c.Format)
	}
	opts.MaxPixels = c.Pixels()
	img, err := codec.Decode(r, c, opts)
	if err != nil {
		if opts.Context != nil && opts.Context.Err() != nil && errors.Is(err, opts.Context.Err()) {
			// Stopped, not refused: the same bytes may decode next time.
			return nil, fmt.Errorf("decode %s: %w", c.Format, err)
		}
		return nil, codec.classify(err)
	}
	return img, nil
}

// classify classes a decoder's error: a feature the decoder lacks is
// ErrUnsupported, a file beyond the decoder's bounds ErrTooExpensive,
// anything else ErrCorrupt.
func (c *Codec) classify(err error) error {
	if c.Unsupported != nil && c.Unsupported(err) {
		return fmt.Errorf("%w: %s: %v", ErrUnsupported, c.Format, err)
	}
	if c.TooExpensive != nil && c.TooExpensive(err) {
		return fmt.Errorf("%w: %s: %v", ErrTooExpensive, c.Format, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, c.Format, err)
}

// Mode says how an image goes into a box.
type Mode string

// The ways an image goes into a box.
const (
	// Fit keeps the aspect ratio and stays inside the box.
	Fit Mode = "fit"
	// Fill covers the box and crops the centre to exactly its size.
	Fill Mode = "fill"
)

// Resize scales img into a box of w×h pixels as mode says, with Lanczos.
// It never upscales: Fit leaves an image that fits the box as it is, and
// Fill, when covering the box would mean enlarging, crops the centre to the
// box's aspect ratio at the largest size the image has.
func Resize(img image.Image, w, h int, mode Mode) image.Image {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if mode == Fill {
		if sw*h >= sh*w && sh <= h || sw*h < sh*w && sw <= w {
			// The side that must cover the box is already no larger than it.
			cw, ch := min(sw, sh*w/h), min(sh, sw*h/w)
			if cw == sw && ch == sh {
				return img
			}
			return imaging.CropCenter(img, max(cw, 1), max(ch, 1))
		}
		return imaging.Fill(img, w, h, imaging.Center, imaging.Lanczos)
	}
	if sw <= w && sh <= h {
		return img
	}
	return imaging.Fit(img, w, h, imaging.Lanczos)
}

// Orient turns img upright according to an EXIF orientation (1 to 8).
// Other values leave img as it is.
func Orient(img image.Image, orientation int) image.Image {
	switch orientation {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}

// Swaps reports whether an EXIF orientation swaps width and height.
func Swaps(orientation int) bool { return orientation >= 5 && orientation <= 8 }

// Encode writes img to w in format f at the given quality (for the lossy
// formats), with the encoder its codec registered: [EncodeWith] with
// default options otherwise.
func Encode(w io.Writer, img image.Image, f Format, quality int) error {
	return EncodeWith(w, img, f, EncodeOptions{Quality: quality})
}

// EncodeWith writes img to w in format f with the encoder its codec
// registered, told opts. Formats without alpha (JPEG) flatten transparency
// on opts.Background; the others keep it.
func EncodeWith(w io.Writer, img image.Image, f Format, opts EncodeOptions) error {
	codec := lookup(f)
	if codec == nil || codec.Encode == nil {
		return fmt.Errorf("%w: cannot write %q", ErrUnsupported, f)
	}
	if err := codec.Encode(w, img, opts); err != nil {
		return fmt.Errorf("encode %s: %w", f, err)
	}
	return nil
}

// flatten draws img over an opaque background (white when bg is nil) when
// it may have transparent pixels, since JPEG has no alpha and would
// otherwise turn them black.
func flatten(img image.Image, bg color.Color) image.Image {
	if opaque, ok := img.(interface{ Opaque() bool }); ok && opaque.Opaque() {
		return img
	}
	if bg == nil {
		bg = color.White
	}
	r, g, b, _ := bg.RGBA()
	bounds := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, bounds.Dx(), bounds.Dy()))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.RGBA64{R: uint16(r), G: uint16(g), B: uint16(b), A: 0xffff}), image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), img, bounds.Min, draw.Over)
	return dst
}
