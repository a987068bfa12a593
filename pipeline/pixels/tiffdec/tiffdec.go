package tiffdec

import (
	"bufio"
	"compress/lzw"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/reduce"
)

// Compression is a TIFF compression scheme (tag 259).
type Compression int

// The compression schemes Decode reads.
const (
	None         Compression = 1
	LZW          Compression = 5
	Deflate      Compression = 8
	PackBits     Compression = 32773
	DeflateOld   Compression = 32946 // Deflate under its earlier, private code
	compressJPEG Compression = 7
)

// String names the scheme.
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case LZW:
		return "LZW"
	case Deflate, DeflateOld:
		return "Deflate"
	case PackBits:
		return "PackBits"
	case compressJPEG:
		return "JPEG"
	}
	return fmt.Sprintf("compression %d", int(c))
}

// Photometric is how samples are to be read as colour (tag 262).
type Photometric int

// The photometric interpretations Decode reads.
const (
	WhiteIsZero Photometric = 0
	BlackIsZero Photometric = 1
	RGB         Photometric = 2
	Palette     Photometric = 3
)

// String names the interpretation.
func (p Photometric) String() string {
	switch p {
	case WhiteIsZero:
		return "WhiteIsZero"
	case BlackIsZero:
		return "BlackIsZero"
	case RGB:
		return "RGB"
	case Palette:
		return "Palette"
	case 5:
		return "CMYK"
	case 6:
		return "YCbCr"
	case 8:
		return "CIELab"
	}
	return fmt.Sprintf("photometric %d", int(p))
}

// Alpha is what the first extra sample is (tag 338).
type Alpha int

// The kinds of alpha.
const (
	NoAlpha      Alpha = 0 // no extra sample, or one of unspecified meaning
	Associated   Alpha = 1 // premultiplied
	Unassociated Alpha = 2
)

// Config describes the first image of a TIFF file, as its IFD declares it.
type Config struct {
	// Width and Height are the pixel dimensions.
	Width, Height int
	// BitsPerSample is 1, 2, 4, 8 or 16, the same for every sample.
	BitsPerSample int
	// SamplesPerPixel counts every sample, extra ones included.
	SamplesPerPixel int
	Photometric     Photometric
	Compression     Compression
	// Predictor is 1 (none) or 2 (horizontal differencing).
	Predictor int
	Alpha     Alpha
	// RowsPerStrip is the rows of each strip of a stripped image (the last
	// may have fewer); 0 for a tiled one.
	RowsPerStrip int
	// TileWidth and TileHeight are the tiles' size; 0 for a stripped
	// image.
	TileWidth, TileHeight int
	// Orientation is the EXIF orientation of tag 274, 1 to 8 (1 when
	// absent or out of range). It is reported, never applied.
	Orientation int
	// Pages is 1 when the first image is the file's only one and 0 when
	// more follow: they are not counted, since reaching them can mean
	// reading the whole file.
	Pages int
}

// Pixels returns Width*Height.
func (c Config) Pixels() int64 { return int64(c.Width) * int64(c.Height) }

// Channels is the channels of the image Decode returns for c: 1 (an
// *image.Gray) for gray without alpha, 4 (an *image.NRGBA) otherwise.
func (c Config) Channels() int {
	if (c.Photometric == WhiteIsZero || c.Photometric == BlackIsZero) && c.Alpha == NoAlpha {
		return 1
	}
	return 4
}

// Options controls Decode.
type Options struct {
	// Scale is the reduction factor, 1 to reduce.MaxScale: the image is
	// decoded to ceil(Width/Scale) x ceil(Height/Scale) pixels, each the
	// average of a Scale x Scale box. 0 means: reduce.ScaleFor the box
	// below, or 1.
	Scale int
	// BoxWidth and BoxHeight, when Scale is 0, pick the scale.
	BoxWidth, BoxHeight int
	// MaxPixels, when positive, makes Decode refuse images whose full-size
	// Width*Height exceeds it, before any pixel memory is allocated.
	MaxPixels int64
}

// scale returns the reduction factor opts asks for an image with header c.
func (opts Options) scale(c Config) int {
	if opts.Scale != 0 {
		return opts.Scale
	}
	return reduce.ScaleFor(c.Width, c.Height, opts.BoxWidth, opts.BoxHeight)
}

// FormatError reports that the input is not a valid TIFF.
type FormatError string

func (e FormatError) Error() string { return "tiffdec: invalid format: " + string(e) }

// UnsupportedError reports that the input uses a valid TIFF feature Decode
// does not implement.
type UnsupportedError string

func (e UnsupportedError) Error() string { return "tiffdec: unsupported feature: " + string(e) }

// Named errors, returned wrapped. All but ErrTooLarge and ErrTruncated
// are FormatErrors.
var (
	// ErrTooLarge means the image exceeds Options.MaxPixels.
	ErrTooLarge = errors.New("tiffdec: image exceeds pixel limit")
	// ErrTruncated means the file ends before the data it declares.
	ErrTruncated = fmt.Errorf("tiffdec: file ends early: %w", io.ErrUnexpectedEOF)
	// ErrShortBlock means a strip or tile decompresses to fewer bytes than
	// its rows need.
	ErrShortBlock error = FormatError("strip or tile holds fewer rows than the header implies")
	// ErrTooMuchData means a strip or tile decompresses to more than its
	// rows (and, for the last strip, the padding to a full strip): an
	// inflate bomb, refused at its first extra byte.
	ErrTooMuchData error = FormatError("strip or tile holds more data than the header implies")
)

// The limits on what an IFD may declare.
const (
	// MaxEntries is the most entries the first IFD may have.
	MaxEntries = 4096
	// MaxBlocks is the most strips or tiles an image may have.
	MaxBlocks = 1 << 20
	// MaxTileSide is the largest tile width or height Decode reads: the
	// tiles of one row are reduced together, so their height sets the
	// accumulator's size.
	MaxTileSide = 1024
	// MaxSamples is the most samples a pixel may have.
	MaxSamples = 16
)

// TIFF tags Decode reads.
const (
	tagWidth           = 256
	tagHeight          = 257
	tagBitsPerSample   = 258
	tagCompression     = 259
	tagPhotometric     = 262
	tagFillOrder       = 266
	tagStripOffsets    = 273
	tagOrientation     = 274
	tagSamplesPerPixel = 277
	tagRowsPerStrip    = 278
	tagStripByteCounts = 279
	tagPlanarConfig    = 284
	tagPredictor       = 317
	tagColorMap        = 320
	tagTileWidth       = 322
	tagTileLength      = 323
	tagTileOffsets     = 324
	tagTileByteCounts  = 325
	tagExtraSamples    = 338
	tagSampleFormat    = 339
)

// entry is one IFD entry: its type, count and the 4 bytes that hold the
// value or its offset.
type entry struct {
	typ   uint16
	count uint32
	value [4]byte
}

// decoder holds the state of one decode.
type decoder struct {
	src     source
	bo      binary.ByteOrder
	entries map[uint16]entry
	cfg     Config
	// colormap holds the 3×2^bits 16-bit entries of a palette image.
	colormap []uint16
	// offsets and counts locate each strip or tile.
	offsets, counts []int64
	// The decompressors and the buffered reader, reused from block to
	// block (x/image/tiff/lzw's reader cannot be reset).
	zr     io.ReadCloser
	oldLZW *lzw.Reader
	br     *bufio.Reader
}

// typeSize is the bytes of one value of each integer type.
var typeSize = map[uint16]int64{1: 1, 3: 2, 4: 4, 7: 1}

// readHeader reads the file header and the first IFD's entries.
func (d *decoder) readHeader() error {
	var h [8]byte
	if _, err := d.src.ReadAt(h[:], 0); err != nil {
		return readErr(err)
	}
	switch string(h[:4]) {
	case "II*\x00":
		d.bo = binary.LittleEndian
	case "MM\x00*":
		d.bo = binary.BigEndian
	case "II+\x00", "MM\x00+":
		return UnsupportedError("BigTIFF")
	default:
		return FormatError("not a TIFF file")
	}
	ifd := int64(d.bo.Uint32(h[4:]))
	if ifd < 8 {
		return FormatError(fmt.Sprintf("first IFD at offset %d, inside the header", ifd))
	}
	var cnt [2]byte
	if _, err := d.src.ReadAt(cnt[:], ifd); err != nil {
		return readErr(err)
	}
	n := int(d.bo.Uint16(cnt[:]))
	if n == 0 || n > MaxEntries {
		return FormatError(fmt.Sprintf("first IFD has %d entries (1 to %d)", n, MaxEntries))
	}
	raw := make([]byte, 12*n+4)
	if _, err := d.src.ReadAt(raw, ifd+2); err != nil {
		return readErr(err)
	}
	d.entries = make(map[uint16]entry, n)
	for e := raw[:12*n]; len(e) >= 12; e = e[12:] {
		en := entry{typ: d.bo.Uint16(e[2:]), count: d.bo.Uint32(e[4:])}
		copy(en.value[:], e[8:12])
		d.entries[d.bo.Uint16(e)] = en
	}
	d.cfg.Pages = 1
	if d.bo.Uint32(raw[12*n:]) != 0 {
		d.cfg.Pages = 0
	}
	return nil
}

// readErr is the error for a failed read of declared data.
func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrTruncated
	}
	return fmt.Errorf("tiffdec: reading: %w", err)
}

// ints reads the integer values of tag, at most limit of them; nil when
// the tag is absent.
func (d *decoder) ints(tag uint16, limit int) ([]int64, error) {
	e, ok := d.entries[tag]
	if !ok {
		return nil, nil
	}
	size, ok := typeSize[e.typ]
	if !ok || e.typ == 7 {
		return nil, FormatError(fmt.Sprintf("tag %d has type %d, not an integer", tag, e.typ))
	}
	if e.count == 0 || int64(e.count) > int64(limit) {
		return nil, FormatError(fmt.Sprintf("tag %d has %d values (1 to %d)", tag, e.count, limit))
	}
	raw := e.value[:]
	if n := size * int64(e.count); n > 4 {
		raw = make([]byte, n)
		if _, err := d.src.ReadAt(raw, int64(d.bo.Uint32(e.value[:]))); err != nil {
			return nil, fmt.Errorf("tag %d: %w", tag, readErr(err))
		}
	}
	out := make([]int64, e.count)
	for i := range out {
		switch size {
		case 1:
			out[i] = int64(raw[i])
		case 2:
			out[i] = int64(d.bo.Uint16(raw[2*i:]))
		default:
			out[i] = int64(d.bo.Uint32(raw[4*i:]))
		}
	}
	return out, nil
}

// int reads the single value of tag, def when it is absent.
func (d *decoder) int(tag uint16, def int64) (int64, error) {
	v, err := d.ints(tag, 1)
	if err != nil || v == nil {
		return def, err
	}
	return v[0], nil
}

// config reads and checks the fields of the first IFD that describe the
// image, without its strip or tile locations.
func (d *decoder) config() error {
	c := &d.cfg
	var err error
	get := func(tag uint16, def int64) int {
		if err != nil {
			return 0
		}
		var v int64
		v, err = d.int(tag, def)
		return int(v)
	}
	c.Width, c.Height = get(tagWidth, -1), get(tagHeight, -1)
	comp := get(tagCompression, 1)
	photo := get(tagPhotometric, -1)
	spp := get(tagSamplesPerPixel, 1)
	c.Predictor = get(tagPredictor, 1)
	planar := get(tagPlanarConfig, 1)
	fill := get(tagFillOrder, 1)
	c.Orientation = get(tagOrientation, 1)
	tw, th := get(tagTileWidth, 0), get(tagTileLength, 0)
	rps := get(tagRowsPerStrip, 1<<32-1)
	if err != nil {
		return err
	}
	c.Compression, c.Photometric, c.SamplesPerPixel = Compression(comp), Photometric(photo), spp
	if c.Orientation < 1 || c.Orientation > 8 {
		c.Orientation = 1
	}
	if c.Width <= 0 || c.Height <= 0 {
		return FormatError(fmt.Sprintf("image of %dx%d pixels", c.Width, c.Height))
	}
	if spp < 1 || spp > MaxSamples {
		return FormatError(fmt.Sprintf("%d samples per pixel (1 to %d)", spp, MaxSamples))
	}
	bits, err := d.ints(tagBitsPerSample, MaxSamples)
	if err != nil {
		return err
	}
	c.BitsPerSample = 1
	if bits != nil {
		c.BitsPerSample = int(bits[0])
		for _, b := range bits {
			if b != bits[0] {
				return UnsupportedError(fmt.Sprintf("samples of different sizes %v", bits))
			}
		}
	}
	formats, err := d.ints(tagSampleFormat, MaxSamples)
	if err != nil {
		return err
	}
	for _, f := range formats {
		if f != 1 {
			return UnsupportedError(fmt.Sprintf("sample format %d (only unsigned integers are read)", f))
		}
	}
	extra, err := d.ints(tagExtraSamples, MaxSamples)
	if err != nil {
		return err
	}
	switch c.Compression {
	case None, LZW, Deflate, DeflateOld, PackBits:
	default:
		return UnsupportedError(c.Compression.String() + " compression")
	}
	if planar != 1 {
		return UnsupportedError(fmt.Sprintf("planar configuration %d (separate planes)", planar))
	}
	if fill != 1 {
		return UnsupportedError(fmt.Sprintf("fill order %d (bits least significant first)", fill))
	}
	colour := 1
	switch c.Photometric {
	case WhiteIsZero, BlackIsZero, Palette:
	case RGB:
		colour = 3
	case -1:
		return FormatError("no photometric interpretation")
	default:
		return UnsupportedError(c.Photometric.String() + " images")
	}
	if spp < colour {
		return FormatError(fmt.Sprintf("%s with %d samples per pixel", c.Photometric, spp))
	}
	if spp > colour && len(extra) > 0 && (extra[0] == 1 || extra[0] == 2) {
		c.Alpha = Alpha(extra[0])
	}
	switch c.BitsPerSample {
	case 8, 16:
	case 1, 2, 4:
		if spp != 1 {
			return UnsupportedError(fmt.Sprintf("%d-bit samples with %d samples per pixel", c.BitsPerSample, spp))
		}
	default:
		return UnsupportedError(fmt.Sprintf("%d-bit samples", c.BitsPerSample))
	}
	if c.Photometric == Palette && (spp != 1 || c.BitsPerSample > 8) {
		return UnsupportedError(fmt.Sprintf("palette image of %d %d-bit samples", spp, c.BitsPerSample))
	}
	switch c.Predictor {
	case 1:
	case 2:
		if c.BitsPerSample < 8 {
			return UnsupportedError(fmt.Sprintf("horizontal predictor on %d-bit samples", c.BitsPerSample))
		}
	default:
		return UnsupportedError(fmt.Sprintf("predictor %d", c.Predictor))
	}
	_, tiled := d.entries[tagTileWidth]
	if tiled {
		if tw <= 0 || th <= 0 || tw%16 != 0 || th%16 != 0 {
			return FormatError(fmt.Sprintf("tiles of %dx%d (multiples of 16)", tw, th))
		}
		if tw > MaxTileSide || th > MaxTileSide {
			return UnsupportedError(fmt.Sprintf("tiles of %dx%d (at most %d a side)", tw, th, MaxTileSide))
		}
		c.TileWidth, c.TileHeight = tw, th
	} else {
		if rps <= 0 {
			return FormatError(fmt.Sprintf("%d rows per strip", rps))
		}
		c.RowsPerStrip = min(rps, c.Height)
	}
	return nil
}

// blocks is the number of strips or tiles.
func (c Config) blocks() int64 {
	if c.TileWidth > 0 {
		return int64(reduce.CeilDiv(c.Width, c.TileWidth)) * int64(reduce.CeilDiv(c.Height, c.TileHeight))
	}
	return int64(reduce.CeilDiv(c.Height, c.RowsPerStrip))
}

// rowBytes is the size of a stored row of w pixels.
func (c Config) rowBytes(w int) int64 {
	return (int64(w)*int64(c.SamplesPerPixel)*int64(c.BitsPerSample) + 7) / 8
}

// layout reads the locations of the strips or tiles and, for a palette
// image, the colour map.
func (d *decoder) layout() error {
	c := &d.cfg
	n := c.blocks()
	if n > MaxBlocks {
		return UnsupportedError(fmt.Sprintf("%d strips or tiles (at most %d)", n, MaxBlocks))
	}
	offTag, cntTag := uint16(tagStripOffsets), uint16(tagStripByteCounts)
	bw, bh := c.Width, c.RowsPerStrip
	if c.TileWidth > 0 {
		offTag, cntTag = tagTileOffsets, tagTileByteCounts
		bw, bh = c.TileWidth, c.TileHeight
	}
	var err error
	if d.offsets, err = d.ints(offTag, int(n)); err != nil {
		return err
	}
	if d.counts, err = d.ints(cntTag, int(n)); err != nil {
		return err
	}
	if int64(len(d.offsets)) != n {
		return FormatError(fmt.Sprintf("%d strip or tile offsets for %d", len(d.offsets), n))
	}
	if d.counts == nil && c.Compression == None && n == 1 {
		d.counts = []int64{c.rowBytes(bw) * int64(bh)}
	}
	if int64(len(d.counts)) != n {
		return FormatError(fmt.Sprintf("%d strip or tile byte counts for %d", len(d.counts), n))
	}
	if c.Photometric == Palette {
		cm, err := d.ints(tagColorMap, 3<<c.BitsPerSample)
		if err != nil {
			return err
		}
		if len(cm) != 3<<c.BitsPerSample {
			return FormatError(fmt.Sprintf("colour map of %d values, want %d", len(cm), 3<<c.BitsPerSample))
		}
		d.colormap = make([]uint16, len(cm))
		for i, v := range cm {
			d.colormap[i] = uint16(v)
		}
	}
	return nil
}

func newDecoder(r io.Reader) *decoder { return &decoder{src: newSource(r)} }

// DecodeConfig reads the header and the first IFD of the TIFF file r
// holds and describes its first image. It allocates no pixel memory. On a
// stream that is not an [io.ReaderAt] the bytes up to the IFD's are read
// and, for an IFD at the end of the file, held.
func DecodeConfig(r io.Reader) (Config, error) {
	d := newDecoder(r)
	if err := d.readHeader(); err != nil {
		return Config{}, err
	}
	if err := d.config(); err != nil {
		return Config{}, err
	}
	return d.cfg, nil
}

// Overheads of a decode, whatever the image.
const (
	// inflaterSize approximates what a decompressor allocates: zlib's
	// 32 KiB window, Huffman tables and state, LZW's code table, and the
	// buffered reader in front of them.
	inflaterSize = 64 << 10
	// windowSize is what a window over a stream holds when the IFD comes
	// before the image data and the strips or tiles are in order: the
	// chunk being read and the one before it.
	windowSize = 2 * chunkSize
)

// MemoryEstimate returns about how many bytes Decode allocates for an
// image with header c decoded with opts: the strip or tile locations,
// (as read and as kept, 32 bytes each), the window over the stream and a decompressor, a stored row and a
// converted row, the accumulator and the output image. Fields c leaves at
// zero are taken at their costliest: four 16-bit samples a pixel, and
// tiles MaxTileSide high (or a strip a row) whichever costs more.
//
// On a stream (not an [io.ReaderAt]) a file whose IFD follows its image
// data is held up to the IFD, as reading its header already did; that is
// not counted.
func MemoryEstimate(c Config, opts Options) int64 {
	s := opts.scale(c)
	w, h := int64(c.Width), int64(c.Height)
	ow, oh := (w+int64(s)-1)/int64(s), (h+int64(s)-1)/int64(s)
	ch := int64(4)
	if c.Photometric != 0 || c.SamplesPerPixel != 0 {
		ch = int64(c.Channels())
	}
	spp, bits := int64(c.SamplesPerPixel), int64(c.BitsPerSample)
	if spp == 0 {
		spp = 4
	}
	if bits == 0 {
		bits = 16
	}
	sample := (bits + 7) / 8
	var blocks, bw, bandRows int64
	switch {
	case c.TileWidth > 0:
		blocks, bw = c.blocks(), int64(c.TileWidth)
		bandRows = int64(reduce.CeilDiv(c.TileHeight, s)) + 1
	case c.RowsPerStrip > 0:
		blocks, bw, bandRows = c.blocks(), w, 1
	default: // unknown layout: the costliest of both
		tiles := int64(reduce.CeilDiv(c.Width, 16)) * int64(reduce.CeilDiv(c.Height, 16))
		blocks, bw = min(MaxBlocks, max(h, tiles)), max(w, MaxTileSide)
		bandRows = int64(reduce.CeilDiv(MaxTileSide, s)) + 1
	}
	n := inflaterSize + windowSize + 32*blocks
	n += (bw*spp*bits+7)/8 + bw*ch*sample // a stored row, a converted row
	if c.Photometric == Palette {
		n += 2 * 3 << c.BitsPerSample
	}
	if s > 1 {
		n += reduce.Bytes(int(ow), int(min(bandRows, oh)), int(ch))
	}
	return n + ch*ow*oh
}
