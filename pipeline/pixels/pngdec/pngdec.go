package pngdec

import (
	"bufio"
	"compress/zlib"
	"errors"
	"fmt"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/reduce"
	"image"
	"io"
)

// ColorType is the colour type an IHDR chunk declares.
type ColorType uint8

// The PNG colour types, with their values in IHDR.
const (
	Gray      ColorType = 0
	RGB       ColorType = 2
	Paletted  ColorType = 3
	GrayAlpha ColorType = 4
	RGBA      ColorType = 6
)

// String returns the colour type's name.
func (c ColorType) String() string {
	switch c {
	case Gray:
		return "Gray"
	case RGB:
		return "RGB"
	case Paletted:
		return "Paletted"
	case GrayAlpha:
		return "GrayAlpha"
	case RGBA:
		return "RGBA"
	}
	return fmt.Sprintf("ColorType(%d)", uint8(c))
}

// channels is the number of samples per pixel.
func (c ColorType) channels() int {
	switch c {
	case RGB:
		return 3
	case GrayAlpha:
		return 2
	case RGBA:
		return 4
	}
	return 1
}

// Config describes a PNG image as declared by the chunks before its image
// data.
type Config struct {
	// Width and Height are the full-size pixel dimensions.
	Width, Height int
	// BitDepth is the number of bits per sample (or per palette index):
	// 1, 2, 4, 8 or 16.
	BitDepth int
	// ColorType is the colour type of the stored samples.
	ColorType ColorType
	// Interlaced reports Adam7 interlacing.
	Interlaced bool
	// Transparency reports a tRNS chunk: a transparent colour, or alpha
	// values for palette entries.
	Transparency bool
	// ICCProfile is the inflated profile of an iCCP chunk, or nil.
	ICCProfile []byte
	// Orientation is the EXIF orientation (1..8) of an eXIf chunk before
	// the image data, or 1 when there is none. It is reported, never
	// applied.
	Orientation int
}

// Pixels returns Width*Height.
func (c Config) Pixels() int64 { return int64(c.Width) * int64(c.Height) }

// Options controls Decode.
type Options struct {
	// Scale is the reduction factor, 1 to MaxScale: the image is decoded
	// to ceil(Width/Scale) x ceil(Height/Scale) pixels, each the average
	// of a Scale x Scale box. 0 means: ScaleFor the box below, or 1.
	Scale int
	// BoxWidth and BoxHeight, when Scale is 0, pick the scale with
	// ScaleFor once the header is read.
	BoxWidth, BoxHeight int
	// MaxPixels, when positive, makes Decode refuse images whose full-size
	// Width*Height exceeds it, before any pixel memory is allocated.
	MaxPixels int64
	// AllPasses makes an interlaced image decode all seven passes and
	// average every pixel of each box, as for a sequential image, instead
	// of stopping after the early passes that cover the output's grid:
	// slower and reading the whole file, but without the aliasing of
	// sampling a grid.
	AllPasses bool
}

// MaxScale is the largest reduction factor Decode accepts.
const MaxScale = reduce.MaxScale

// FormatError reports that the input is not a valid PNG.
type FormatError string

func (e FormatError) Error() string { return "pngdec: invalid format: " + string(e) }

// UnsupportedError reports that the input uses a valid but unimplemented
// PNG feature.
type UnsupportedError string

func (e UnsupportedError) Error() string { return "pngdec: unsupported feature: " + string(e) }

// Named errors, returned wrapped. All but ErrTooLarge are FormatErrors.
var (
	// ErrTooLarge means the image exceeds Options.MaxPixels.
	ErrTooLarge = errors.New("pngdec: image exceeds pixel limit")
	// ErrChecksum means a chunk's CRC does not match its data.
	ErrChecksum error = FormatError("chunk CRC mismatch")
	// ErrChunkTooLarge means a chunk declares more than 2^31-1 bytes, or
	// metadata the decoder keeps (iCCP, eXIf) exceeds MaxMetadata.
	ErrChunkTooLarge error = FormatError("chunk too large")
	// ErrTooMuchData means the image data goes on after the last row.
	ErrTooMuchData error = FormatError("too much pixel data")
	// ErrPaletteIndex means a pixel refers to a palette entry that does
	// not exist.
	ErrPaletteIndex error = FormatError("palette index out of range")
)

// errTruncated is returned when the input ends inside a chunk.
var errTruncated = fmt.Errorf("pngdec: %w", io.ErrUnexpectedEOF)

// decoder holds the state of one decode.
type decoder struct {
	br  *bufio.Reader
	tmp []byte
	// crc is the running CRC of the current chunk.
	crc uint32
	// win[rpos:rend] is IDAT data read but not yet inflated; idatLeft
	// bytes of the current IDAT chunk are still unread; idatDone is set
	// at the chunk after the last IDAT.
	win        []byte
	rpos, rend int
	idatLeft   int64
	idatDone   bool
	ihdrSeen   bool
	exifSeen   bool
	width      int
	height     int
	depth      int
	colorType  ColorType
	// palette holds 4 bytes (R, G, B, A) per entry.
	palette     []byte
	transparent bool
	trns        [6]byte
	interlaced  bool
	icc         []byte
	orientation int
}

func newDecoder(r io.Reader) *decoder {
	return &decoder{br: bufio.NewReaderSize(r, bufSize), orientation: 1}
}

func (d *decoder) config() Config {
	return Config{
		Width:        d.width,
		Height:       d.height,
		BitDepth:     d.depth,
		ColorType:    d.colorType,
		Interlaced:   d.interlaced,
		Transparency: d.transparent,
		ICCProfile:   d.icc,
		Orientation:  d.orientation,
	}
}

// DecodeConfig reads the PNG chunks from r up to the first IDAT chunk's
// header and returns the image's configuration. It allocates no pixel
// memory, so huge declared dimensions cost nothing.
func DecodeConfig(r io.Reader) (Config, error) {
	d := newDecoder(r)
	if err := d.readHeaders(); err != nil {
		return Config{}, err
	}
	return d.config(), nil
}

// ScaleFor returns the largest power of two s <= MaxScale such that the
// image reduced by s is still at least as large as the image scaled to
// cover (fill) a boxW x boxH box:
//
//	s*boxW <= srcW && s*boxH <= srcH
//
// so a downstream resampler keeps its full quality for both fit and fill.
// Powers of two keep interlaced images on the grid of their early passes.
// A non-positive box dimension places no constraint on that axis; if both
// are non-positive, or the source size is not positive, ScaleFor returns 1.
// It is [reduce.ScaleFor].
func ScaleFor(srcW, srcH, boxW, boxH int) int { return reduce.ScaleFor(srcW, srcH, boxW, boxH) }

// Decode decodes a PNG image from r reduced by opts.Scale. The result is
// an *image.Gray for grayscale images without transparency and an
// *image.NRGBA for all others, 8 bits per sample (16-bit samples are
// rounded). The returned Config describes the full-size image; EXIF
// orientation is reported in it, not applied.
//
// Decode returns an error, and never a partial image, for truncated or
// corrupt image data. Chunks after the image data are not read.
func Decode(r io.Reader, opts Options) (image.Image, Config, error) {
	d := newDecoder(r)
	if err := d.readHeaders(); err != nil {
		if d.ihdrSeen {
			return nil, d.config(), err
		}
		return nil, Config{}, err
	}
	cfg := d.config()
	if opts.MaxPixels > 0 && cfg.Pixels() > opts.MaxPixels {
		return nil, cfg, fmt.Errorf("%w: %dx%d is over %d pixels", ErrTooLarge, d.width, d.height, opts.MaxPixels)
	}
	scale := opts.scale(cfg)
	if scale < 1 || scale > MaxScale {
		return nil, cfg, fmt.Errorf("pngdec: invalid scale %d (want 1 to %d)", opts.Scale, MaxScale)
	}
	d.win = make([]byte, bufSize)
	zr, err := zlib.NewReader(idatReader{d})
	if err != nil {
		return nil, cfg, dataErr(err)
	}
	var img image.Image
	if d.interlaced {
		img, err = d.decodeAdam7(zr, scale, opts.AllPasses)
	} else {
		img, err = d.decodeSequential(zr, scale)
	}
	if err != nil {
		return nil, cfg, err
	}
	return img, cfg, nil
}

// finish checks that the zlib stream ends, with a valid checksum, right
// after the last row, and checks the CRC of the IDAT chunk it ends in.
func (d *decoder) finish(zr io.Reader) error {
	var one [1]byte
	n, err := 0, error(nil)
	for i := 0; n == 0 && err == nil; i++ {
		if i == 100 {
			return io.ErrNoProgress
		}
		n, err = zr.Read(one[:])
	}
	if n != 0 {
		return ErrTooMuchData
	}
	if err != io.EOF {
		return dataErr(err)
	}
	if d.rpos != d.rend || d.idatLeft != 0 {
		return ErrTooMuchData
	}
	if !d.idatDone {
		return d.endChunk()
	}
	return nil
}

// dataErr is the error to return for err from the inflater: the
// decoder's own errors (from reading the chunks) as they are, the end of
// the input as errTruncated, the inflater's own ones (corrupt data, a bad
// checksum) wrapped.
func dataErr(err error) error {
	var fe FormatError
	switch {
	case errors.As(err, &fe), errors.Is(err, errTruncated):
		return err
	case err == io.EOF, err == io.ErrUnexpectedEOF:
		return errTruncated
	}
	return fmt.Errorf("pngdec: image data: %w", err)
}

// rowBytes is the size of a filtered row of w pixels, without the filter
// type byte.
func (d *decoder) rowBytes(w int) int {
	return (w*d.depth*d.colorType.channels() + 7) / 8
}

// bytesPerPixel is the filter unit: bytes per complete pixel, at least 1.
func (d *decoder) bytesPerPixel() int {
	return max(1, d.depth*d.colorType.channels()/8)
}

// readRow reads and unfilters the next row of rb bytes into cur, given
// the previous (unfiltered) row prev of the same pass. cur and prev have
// room for rb+1 bytes; the row is returned without its filter byte.
func (d *decoder) readRow(zr io.Reader, cur, prev []byte, rb int) ([]byte, error) {
	if _, err := io.ReadFull(zr, cur[:rb+1]); err != nil {
		return nil, dataErr(err)
	}
	row := cur[1 : rb+1]
	if err := unfilter(cur[0], row, prev[1:rb+1], d.bytesPerPixel()); err != nil {
		return nil, err
	}
	return row, nil
}

// inflaterSize approximates what compress/zlib allocates for one stream:
// its 32 KiB window, Huffman tables and state.
const inflaterSize = 48 << 10

// ioSize is the input buffer and the IDAT window.
const ioSize = 2 * bufSize

// MemoryEstimate returns about how many bytes Decode allocates for an
// image with header c decoded with opts: the input buffer, the inflater,
// two rows of filtered data, a converted row, the accumulator and the
// output image. The ICC profile, which c already holds, is not counted.
// A budget can be checked with it before decoding.
func MemoryEstimate(c Config, opts Options) int64 {
	s := int64(opts.scale(c))
	w, h := int64(c.Width), int64(c.Height)
	ow, oh := (w+s-1)/s, (h+s-1)/s
	ch := int64(4)
	if c.ColorType == Gray && !c.Transparency {
		ch = 1
	}
	rb := (w*int64(c.BitDepth)*int64(c.ColorType.channels()) + 7) / 8
	n := int64(ioSize) + inflaterSize + 2*(rb+1) + ch*ow*oh
	g, _ := gridFor(int(s))
	if opts.AllPasses {
		g = 1
	}
	switch {
	case c.Interlaced && int64(g) != s:
		n += ch*w + reduce.Bytes(int(ow), int(oh), int(ch))
	case c.Interlaced:
		n += ch * w
	case s > 1:
		n += ch*w + reduce.Bytes(int(ow), 1, int(ch))
	}
	return n
}

// scale returns the reduction factor opts asks for an image with header c.
func (opts Options) scale(c Config) int {
	if opts.Scale != 0 {
		return opts.Scale
	}
	return ScaleFor(c.Width, c.Height, opts.BoxWidth, opts.BoxHeight)
}
