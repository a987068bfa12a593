// Package pixels turns the bytes of one image into thumbnails: it sniffs the
// format, reads the header, decodes, orients by EXIF, resizes and encodes.
// It knows nothing about buckets.
//
// # Safety
//
// Callers check the declared dimensions ([ReadConfig] on a stream, as the
// pipeline does, or [DecodeConfig] on bytes) against their pixel limit
// before calling [DecodeFrom] or [Decode], so a small file that declares a
// huge image never gets a pixel buffer. The format is taken from the bytes ([Sniff]),
// never from a file name or a Content-Type.
//
// # Formats
//
// JPEG (baseline, progressive, CMYK/YCCK), PNG (8/16-bit, palette, alpha),
// GIF (first frame), WebP, TIFF and BMP are decoded; JPEG, PNG and GIF are
// written.
package pixels

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/png"
	"io"

	"github.com/disintegration/imaging"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/jpegdec"
)

// Format is an image file format, named by its usual file extension.
type Format string

// The formats pixels knows. Unknown is the zero value: bytes that are not an
// image pixels can read.
const (
	Unknown Format = ""
	JPEG    Format = "jpeg"
	PNG     Format = "png"
	GIF     Format = "gif"
	WebP    Format = "webp"
	TIFF    Format = "tiff"
	BMP     Format = "bmp"
)

// Ext returns the file extension for f, with its dot (".jpg" for JPEG).
func (f Format) Ext() string {
	if f == JPEG {
		return ".jpg"
	}
	if f == Unknown {
		return ""
	}
	return "." + string(f)
}

// ContentType returns the MIME type of f.
func (f Format) ContentType() string {
	if f == Unknown {
		return "application/octet-stream"
	}
	return "image/" + string(f)
}

// Writable reports whether pixels can encode f.
func (f Format) Writable() bool { return f == JPEG || f == PNG || f == GIF }

// SniffLen is how many leading bytes [Sniff] needs at most.
const SniffLen = 16

// Sniff names the format of an image from its first bytes (at least
// [SniffLen] of them when the data is that long). It returns Unknown for
// anything else, whatever the name or Content-Type said.
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return JPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return TIFF
	case len(b) >= 14 && b[0] == 'B' && b[1] == 'M':
		return BMP
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
)

// Config is what the header of an image says, before any pixel is decoded.
type Config struct {
	Format Format
	Width  int
	Height int
	// Orientation is the EXIF orientation, 1 (upright) to 8; 1 when absent.
	Orientation int
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
// [DecodeFrom]. Only the header is held in memory, so a large JPEG is never
// read whole.
func ReadConfig(r io.Reader) (Config, io.Reader, error) {
	var seen bytes.Buffer
	tee := io.TeeReader(r, &seen)
	replay := func() io.Reader { return io.MultiReader(bytes.NewReader(seen.Bytes()), r) }
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(tee, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Config{}, replay(), err
	}
	f := Sniff(head[:n])
	if f == Unknown {
		return Config{}, replay(), fmt.Errorf("%w: bytes are not JPEG, PNG, GIF, WebP, TIFF or BMP", ErrUnsupported)
	}
	var (
		ic          image.Config
		orientation = 1
	)
	hr := io.MultiReader(bytes.NewReader(head[:n]), tee)
	switch f {
	case JPEG:
		var jc jpegdec.Config
		jc, err = jpegdec.DecodeConfig(hr)
		ic.Width, ic.Height, orientation = jc.Width, jc.Height, jc.Orientation
	case PNG:
		ic, err = png.DecodeConfig(hr)
	case GIF:
		ic, err = gif.DecodeConfig(hr)
	case WebP:
		ic, err = webp.DecodeConfig(hr)
	case TIFF:
		ic, err = tiff.DecodeConfig(hr)
	case BMP:
		ic, err = bmp.DecodeConfig(hr)
	}
	if err != nil {
		return Config{}, replay(), decodeErr(f, fmt.Errorf("header: %w", err))
	}
	if ic.Width <= 0 || ic.Height <= 0 {
		return Config{}, replay(), fmt.Errorf("%w: %s header declares %dx%d pixels", ErrCorrupt, f, ic.Width, ic.Height)
	}
	return Config{Format: f, Width: ic.Width, Height: ic.Height, Orientation: orientation}, replay(), nil
}

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
// need.
func DecodeFrom(r io.Reader, c Config, w, h int) (image.Image, error) {
	var (
		img image.Image
		err error
	)
	switch c.Format {
	case JPEG:
		scale := 1
		if w > 0 && h > 0 {
			scale = jpegdec.ScaleFor(c.Width, c.Height, w, h)
		}
		img, _, err = jpegdec.Decode(r, jpegdec.Options{Scale: scale, MaxPixels: c.Pixels()})
	case PNG:
		img, err = png.Decode(r)
	case GIF:
		img, err = gif.Decode(r)
	case WebP:
		img, err = webp.Decode(r)
	case TIFF:
		img, err = tiff.Decode(r)
	case BMP:
		img, err = bmp.Decode(r)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, c.Format)
	}
	if err != nil {
		return nil, decodeErr(c.Format, err)
	}
	return img, nil
}

// decodeErr classes a decoder's error: a feature the decoder lacks is
// ErrUnsupported, anything else ErrCorrupt.
func decodeErr(f Format, err error) error {
	var (
		jpegUnsupported jpegdec.UnsupportedError
		pngUnsupported  png.UnsupportedError
		tiffUnsupported tiff.UnsupportedError
	)
	if errors.As(err, &jpegUnsupported) || errors.As(err, &pngUnsupported) || errors.As(err, &tiffUnsupported) ||
		errors.Is(err, bmp.ErrUnsupported) {
		return fmt.Errorf("%w: %s: %v", ErrUnsupported, f, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, f, err)
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

// Encode writes img to w in format f with imaging.Encode, which hands
// image/jpeg an opaque *image.NRGBA (what the resampler returns) as the
// *image.RGBA it equals, so JPEG encoding makes no allocation per pixel.
// JPEG output flattens transparency on white; quality is used by JPEG only.
func Encode(w io.Writer, img image.Image, f Format, quality int) error {
	var err error
	switch f {
	case JPEG:
		err = imaging.Encode(w, flatten(img), imaging.JPEG, imaging.JPEGQuality(quality))
	case PNG:
		err = imaging.Encode(w, img, imaging.PNG, imaging.PNGCompressionLevel(png.BestSpeed))
	case GIF:
		err = imaging.Encode(w, img, imaging.GIF)
	default:
		return fmt.Errorf("%w: cannot write %q", ErrUnsupported, f)
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", f, err)
	}
	return nil
}

// flatten draws img over opaque white when it may have transparent pixels,
// since JPEG has no alpha and would otherwise turn them black.
func flatten(img image.Image) image.Image {
	if opaque, ok := img.(interface{ Opaque() bool }); ok && opaque.Opaque() {
		return img
	}
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Over)
	return dst
}
