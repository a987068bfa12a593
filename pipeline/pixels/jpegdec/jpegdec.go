package jpegdec

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
)

// ColorSpace is the colour model of the encoded image data.
type ColorSpace int

// The colour spaces a JPEG file can declare. They are derived the same way
// image/jpeg derives them: component count, JFIF/Adobe APP markers and
// component identifiers.
const (
	Gray ColorSpace = iota + 1
	YCbCr
	RGB
	CMYK
	YCCK
)

// String returns the conventional name of the colour space.
func (c ColorSpace) String() string {
	switch c {
	case Gray:
		return "Gray"
	case YCbCr:
		return "YCbCr"
	case RGB:
		return "RGB"
	case CMYK:
		return "CMYK"
	case YCCK:
		return "YCCK"
	}
	return fmt.Sprintf("ColorSpace(%d)", int(c))
}

// Config describes a JPEG image as declared by its headers.
type Config struct {
	// Width and Height are the full-size pixel dimensions.
	Width, Height int
	// Components is the number of colour components (1, 3 or 4).
	Components int
	// ColorSpace is the colour model of the stored components.
	ColorSpace ColorSpace
	// Progressive reports a progressive (SOF2) image.
	Progressive bool
	// Orientation is the EXIF orientation (1..8) from an APP1 Exif segment
	// that precedes the frame header, or 1 when there is none. It is
	// reported, never applied.
	Orientation int
	// ICC is the embedded colour profile, reassembled from the APP2
	// ICC_PROFILE segments that precede the frame header; nil when there
	// is none or it is ignored.
	ICC []byte
	// ICCIgnored says why the file's ICC_PROFILE segments were ignored
	// (a segment missing, repeated or out of sequence, or a profile larger
	// than icc.MaxSize); "" when they were not. An ignored profile is not
	// an error: the image decodes as if untagged.
	ICCIgnored string
}

// Options controls Decode.
type Options struct {
	// Scale is the denominator of the decode scale: 1, 2, 4 or 8. The
	// image is decoded at 1/Scale of its size in each dimension. 0 means 1.
	Scale int
	// MaxPixels, when positive, makes Decode refuse images whose full-size
	// Width*Height exceeds it, before any pixel memory is allocated.
	MaxPixels int64
	// CMYK makes Decode return CMYK and YCCK images as an *image.CMYK of
	// ink amounts (0 is no ink, Adobe's inversion undone), as image/jpeg
	// does, for a CMYK ICC profile to convert. Otherwise they are
	// converted with the naive formula of color.CMYKToRGB.
	CMYK bool
	// MaxScans bounds the scans (SOS segments) Decode reads: an image with
	// more is refused with ErrTooManyScans before the next one is decoded.
	// 0 means DefaultMaxScans; a negative value, no bound.
	MaxScans int
}

// DefaultMaxScans is the scan limit when Options.MaxScans is 0, the one
// libjpeg-turbo's TurboJPEG applied for its LIMITSCANS flag. Encoders
// write about 10 scans (libjpeg's default progression) and rarely more
// than a few dozen, while each scan costs a pass over its components'
// blocks: a small file of tens of thousands of scans would otherwise cost
// minutes of CPU.
const DefaultMaxScans = 500

// FormatError reports that the input is not a valid JPEG.
type FormatError string

func (e FormatError) Error() string { return "jpegdec: invalid format: " + string(e) }

// UnsupportedError reports that the input uses a valid but unimplemented
// JPEG feature.
type UnsupportedError string

func (e UnsupportedError) Error() string { return "jpegdec: unsupported feature: " + string(e) }

// ErrTooLarge is returned (wrapped) when the image exceeds Options.MaxPixels.
var ErrTooLarge = errors.New("jpegdec: image exceeds pixel limit")

// ErrTooManyScans is returned (wrapped, with the file's count of scans
// and the limit) when the image has more scans than Options.MaxScans.
var ErrTooManyScans = errors.New("jpegdec: too many scans")

// errTruncated is returned when the input ends inside the image data.
var errTruncated = fmt.Errorf("jpegdec: %w", io.ErrUnexpectedEOF)

// DecodeConfig reads the JPEG headers from r up to and including the frame
// header and returns the image's configuration. It allocates no pixel
// memory, so huge declared dimensions cost nothing.
func DecodeConfig(r io.Reader) (Config, error) {
	d := getDecoder(r)
	defer putDecoder(d)
	if err := d.readHeaders(true); err != nil {
		return Config{}, err
	}
	return d.config(), nil
}

// Decode decodes a JPEG image from r at 1/opts.Scale of its full size.
// The result is ceil(Width/Scale) by ceil(Height/Scale) pixels: an
// *image.Gray for grayscale images, an *image.YCbCr for YCbCr images with
// a standard subsampling, an *image.CMYK for CMYK and YCCK images when
// opts.CMYK is set, and an opaque *image.NRGBA for the others. The
// returned Config describes the full-size image. EXIF orientation is
// reported in Config and not applied.
//
// Decode returns an error, and never a partial image, for truncated or
// corrupt entropy-coded data. A missing EOI marker after a complete
// baseline image is tolerated.
func Decode(r io.Reader, opts Options) (image.Image, Config, error) {
	return DecodeContext(context.Background(), r, opts)
}

// DecodeContext is [Decode] that stops, with ctx's error, when ctx is
// done: it is checked before every scan.
func DecodeContext(ctx context.Context, r io.Reader, opts Options) (image.Image, Config, error) {
	scale := opts.Scale
	if scale == 0 {
		scale = 1
	}
	if scale != 1 && scale != 2 && scale != 4 && scale != 8 {
		return nil, Config{}, fmt.Errorf("jpegdec: invalid scale %d (want 1, 2, 4 or 8)", opts.Scale)
	}
	d := getDecoder(r)
	defer putDecoder(d)
	d.scale = scale
	d.maxPixels = opts.MaxPixels
	d.cmykInk = opts.CMYK
	d.ctx = ctx
	d.maxScans = opts.MaxScans
	if d.maxScans == 0 {
		d.maxScans = DefaultMaxScans
	}
	if err := d.readHeaders(false); err != nil {
		if d.sofSeen {
			return nil, d.config(), err
		}
		return nil, Config{}, err
	}
	img, err := d.output()
	if err != nil {
		return nil, d.config(), err
	}
	return img, d.config(), nil
}

// ScaleFor returns the largest scale denominator s in {8, 4, 2, 1} such
// that the image decoded at 1/s is still at least as large as the image
// scaled to cover (fill) a boxW x boxH box:
//
//	s*boxW <= srcW && s*boxH <= srcH
//
// Covering the box also covers the smaller fit-inside size, so a
// downstream resampler produces the same quality for both fit and fill.
// Callers making several sizes pass the largest box. A non-positive box
// dimension places no constraint on that axis; if both are non-positive,
// or the source size is not positive, ScaleFor returns 1.
func ScaleFor(srcW, srcH, boxW, boxH int) int {
	if srcW <= 0 || srcH <= 0 || (boxW <= 0 && boxH <= 0) {
		return 1
	}
	for _, s := range [...]int{8, 4, 2} {
		if (boxW <= 0 || s*boxW <= srcW) && (boxH <= 0 || s*boxH <= srcH) {
			return s
		}
	}
	return 1
}

var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

func getDecoder(r io.Reader) *decoder {
	d := decoderPool.Get().(*decoder)
	buf, seg, rows := d.buf, d.seg, d.rows
	if buf == nil {
		buf = make([]byte, bufSize)
	}
	*d = decoder{buf: buf, seg: seg[:0], rows: rows, r: r, scale: 1, orientation: 1}
	return d
}

func putDecoder(d *decoder) {
	for i := range d.comp {
		c := &d.comp[i]
		putBytes(c.plane)
		putInt16s(c.coefs)
		putUint64s(c.mask)
		c.plane, c.coefs, c.mask = nil, nil, nil
	}
	d.r = nil
	d.ctx = nil
	d.seg = d.seg[:0]
	decoderPool.Put(d)
}

func (d *decoder) config() Config {
	profile, ignored := d.icc.profile()
	return Config{
		ICC:         profile,
		ICCIgnored:  ignored,
		Width:       d.width,
		Height:      d.height,
		Components:  d.ncomp,
		ColorSpace:  d.colorSpace(),
		Progressive: d.progressive,
		Orientation: d.orientation,
	}
}

// colorSpace mirrors image/jpeg's choice of colour model.
func (d *decoder) colorSpace() ColorSpace {
	switch d.ncomp {
	case 1:
		return Gray
	case 3:
		if d.isRGB() {
			return RGB
		}
		return YCbCr
	case 4:
		if d.adobeValid && d.adobeTransform != 0 {
			return YCCK
		}
		return CMYK
	}
	return 0
}

func (d *decoder) isRGB() bool {
	if d.jfif {
		return false
	}
	if d.adobeValid && d.adobeTransform == 0 {
		return true
	}
	return d.comp[0].id == 'R' && d.comp[1].id == 'G' && d.comp[2].id == 'B'
}

// Byte pools for planes and coefficients, reused across images.
var (
	bytePool   sync.Pool
	int16Pool  sync.Pool
	uint64Pool sync.Pool
)

func getBytes(n int) []byte {
	if p, ok := bytePool.Get().(*[]byte); ok && cap(*p) >= n {
		b := (*p)[:n]
		clear(b)
		return b
	}
	return make([]byte, n)
}

func putBytes(b []byte) {
	if cap(b) > 0 {
		bytePool.Put(&b)
	}
}

func getInt16s(n int) []int16 {
	if p, ok := int16Pool.Get().(*[]int16); ok && cap(*p) >= n {
		b := (*p)[:n]
		clear(b)
		return b
	}
	return make([]int16, n)
}

func putInt16s(b []int16) {
	if cap(b) > 0 {
		int16Pool.Put(&b)
	}
}

func getUint64s(n int) []uint64 {
	if p, ok := uint64Pool.Get().(*[]uint64); ok && cap(*p) >= n {
		b := (*p)[:n]
		clear(b)
		return b
	}
	return make([]uint64, n)
}

func putUint64s(b []uint64) {
	if cap(b) > 0 {
		uint64Pool.Put(&b)
	}
}
