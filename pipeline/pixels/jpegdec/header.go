package jpegdec

import (
	"context"
	"fmt"
	"io"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
)

// Marker codes (the byte after 0xFF).
const (
	mSOF0  = 0xC0 // baseline
	mSOF1  = 0xC1 // extended sequential, Huffman
	mSOF2  = 0xC2 // progressive, Huffman
	mDHT   = 0xC4
	mRST0  = 0xD0
	mRST7  = 0xD7
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mDQT   = 0xDB
	mDNL   = 0xDC
	mDRI   = 0xDD
	mAPP0  = 0xE0
	mAPP1  = 0xE1
	mAPP2  = 0xE2
	mAPP14 = 0xEE
)

type component struct {
	id     uint8
	h, v   int // sampling factors
	tq     uint8
	bw, bh int // blocks per row/column, padded to whole MCUs
	cbw    int // blocks per row/column actually covering the component,
	cbh    int // as used by non-interleaved scans
	nx, ny int // samples per block row/column after the reduced IDCT
	maxK   int // highest zig-zag coefficient index the reduced IDCT needs
	sx, sy int // replication factors from plane samples to output pixels

	plane  []byte
	stride int

	// Progressive only: K = maxK+1 coefficients per block in zig-zag order,
	// and, when K < 64, a bitmask of which other coefficients are non-zero
	// (successive-approximation refinement depends on that history).
	coefs []int16
	mask  []uint64
	done  bool // baseline: all blocks decoded
}

type decoder struct {
	r       io.Reader
	buf     []byte
	pos     int
	end     int
	eof     bool
	readErr error
	seg     []byte

	// Entropy bit reader state, see reader.go.
	acc    uint64
	n      uint
	pad    uint
	marker bool

	scale     int
	maxPixels int64
	ctx       context.Context // checked before each scan; nil for DecodeConfig
	maxScans  int             // negative: no bound
	scans     int             // SOS segments read so far

	// sa records, per component and coefficient, the successive
	// approximation state of a progressive image: 0 before any scan has
	// sent the coefficient, else 1 + the Al of the last scan that did.
	sa [4][64]uint8

	sofSeen     bool
	progressive bool
	width       int
	height      int
	ncomp       int
	comp        [4]component
	hmax, vmax  int
	mcusX       int
	mcusY       int
	allocated   bool

	quant    [4][64]int32 // zig-zag order
	quantSet [4]bool
	huff     [2][4]huffTable // [class][id], class 0 = DC, 1 = AC
	ri       int             // restart interval in MCUs
	eobrun   uint32

	jfif           bool
	adobeValid     bool
	adobeTransform uint8
	orientation    int
	exifSeen       bool
	icc            iccParts
	cmykInk        bool // output CMYK/YCCK as *image.CMYK ink amounts
	blk            [64]int32
	rows           []byte // colour conversion scratch
}

// readHeaders parses markers. With configOnly it stops after the frame
// header; otherwise it decodes every scan until EOI.
func (d *decoder) readHeaders(configOnly bool) error {
	if !d.ensure(2) || d.buf[d.pos] != 0xFF || d.buf[d.pos+1] != mSOI {
		if d.readErr != nil {
			return d.readErr
		}
		return FormatError("missing SOI marker")
	}
	d.pos += 2
	for {
		m, err := d.nextMarker()
		if err != nil {
			if !configOnly && d.complete() && d.readErr == nil {
				// Tolerate a missing EOI after a complete baseline image.
				return nil
			}
			return err
		}
		switch {
		case m == mEOI:
			if configOnly || !d.sofSeen {
				return FormatError("missing frame header")
			}
			if !d.allocated {
				return FormatError("missing image data")
			}
			return nil
		case m >= mRST0 && m <= mRST7, m == 0x01, m == mSOI:
			// Stray parameterless markers: ignore, like libjpeg.
			continue
		}
		length, err := d.readU16()
		if err != nil {
			return err
		}
		length -= 2
		if length < 0 {
			return FormatError("short segment length")
		}
		switch m {
		case mSOF0, mSOF1, mSOF2:
			if err := d.processSOF(m, length); err != nil {
				return err
			}
			if configOnly {
				return nil
			}
		case 0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF:
			return UnsupportedError("lossless or hierarchical JPEG")
		case 0xC9, 0xCA, 0xCC:
			return UnsupportedError("arithmetic coding")
		case mDHT:
			err = d.processDHT(length)
		case mDQT:
			err = d.processDQT(length)
		case mDRI:
			err = d.processDRI(length)
		case mSOS:
			if configOnly {
				return FormatError("missing frame header")
			}
			err = d.processSOS(length)
		case mAPP0:
			err = d.processAPP0(length)
		case mAPP1:
			err = d.processAPP1(length)
		case mAPP2:
			err = d.processAPP2(length)
		case mAPP14:
			err = d.processAPP14(length)
		case mDNL:
			return UnsupportedError("DNL marker")
		default:
			err = d.skip(length)
		}
		if err != nil {
			return err
		}
	}
}

// complete reports whether a baseline image has every component decoded.
func (d *decoder) complete() bool {
	if !d.allocated || d.progressive {
		return false
	}
	for i := 0; i < d.ncomp; i++ {
		if !d.comp[i].done {
			return false
		}
	}
	return true
}

func (d *decoder) processSOF(m byte, n int) error {
	if d.sofSeen {
		return FormatError("multiple frame headers")
	}
	if n < 6 {
		return FormatError("short SOF segment")
	}
	p, err := d.readSegment(n)
	if err != nil {
		return err
	}
	if p[0] != 8 {
		return UnsupportedError(fmt.Sprintf("%d-bit precision", p[0]))
	}
	d.sofSeen = true
	d.progressive = m == mSOF2
	d.height = int(p[1])<<8 | int(p[2])
	d.width = int(p[3])<<8 | int(p[4])
	d.ncomp = int(p[5])
	switch d.ncomp {
	case 1, 3, 4:
	default:
		d.ncomp = 0
		return UnsupportedError("number of components")
	}
	if n != 6+3*d.ncomp {
		return FormatError("bad SOF length")
	}
	if d.height == 0 {
		return UnsupportedError("zero height (DNL)")
	}
	if d.width == 0 {
		return FormatError("zero width")
	}
	d.hmax, d.vmax = 1, 1
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		c.id = p[6+3*i]
		for j := 0; j < i; j++ {
			if d.comp[j].id == c.id {
				return FormatError("repeated component identifier")
			}
		}
		c.h = int(p[7+3*i] >> 4)
		c.v = int(p[7+3*i] & 15)
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return FormatError("bad sampling factor")
		}
		c.tq = p[8+3*i]
		if c.tq > 3 {
			return FormatError("bad quantization table selector")
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
	}
	if d.ncomp == 1 {
		// A single component is always decoded non-interleaved, with its
		// own block grid; its sampling factors are irrelevant.
		d.comp[0].h, d.comp[0].v = 1, 1
		d.hmax, d.vmax = 1, 1
	}
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return UnsupportedError("sampling factors that do not divide the maximum")
		}
	}
	return nil
}

func (d *decoder) processDQT(n int) error {
	p, err := d.readSegment(n)
	if err != nil {
		return err
	}
	for len(p) > 0 {
		pq, tq := p[0]>>4, p[0]&15
		if tq > 3 {
			return FormatError("bad quantization table id")
		}
		p = p[1:]
		switch pq {
		case 0:
			if len(p) < 64 {
				return FormatError("short DQT segment")
			}
			for i := range 64 {
				d.quant[tq][i] = int32(p[i])
			}
			p = p[64:]
		case 1:
			if len(p) < 128 {
				return FormatError("short DQT segment")
			}
			for i := range 64 {
				d.quant[tq][i] = int32(p[2*i])<<8 | int32(p[2*i+1])
			}
			p = p[128:]
		default:
			return FormatError("bad quantization table precision")
		}
		d.quantSet[tq] = true
	}
	return nil
}

func (d *decoder) processDRI(n int) error {
	if n != 2 {
		return FormatError("bad DRI length")
	}
	v, err := d.readU16()
	if err != nil {
		return err
	}
	d.ri = v
	return nil
}

func (d *decoder) processAPP0(n int) error {
	if n < 5 {
		return d.skip(n)
	}
	p, err := d.readSegment(n)
	if err != nil {
		return err
	}
	if string(p[:5]) == "JFIF\x00" {
		d.jfif = true
	}
	return nil
}

func (d *decoder) processAPP14(n int) error {
	if n < 12 {
		return d.skip(n)
	}
	p, err := d.readSegment(n)
	if err != nil {
		return err
	}
	if string(p[:5]) == "Adobe" {
		d.adobeValid = true
		d.adobeTransform = p[11]
	}
	return nil
}

func (d *decoder) processAPP1(n int) error {
	if d.exifSeen || d.sofSeen || n < 14 {
		// Only Exif before the frame header counts, as in DecodeConfig.
		return d.skip(n)
	}
	p, err := d.readSegment(n)
	if err != nil {
		return err
	}
	if string(p[:6]) != "Exif\x00\x00" {
		return nil
	}
	d.exifSeen = true
	if o := metadata.Orientation(p[6:]); o >= 1 && o <= 8 {
		d.orientation = o
	}
	return nil
}

// maxZig returns the largest zig-zag index of the coefficients in the
// top-left nx x ny corner of a block.
func maxZig(nx, ny int) int {
	m := 0
	for k, p := range unzig {
		if int(p)%8 < nx && int(p)/8 < ny {
			m = k
		}
	}
	return m
}

// allocate sets up per-component geometry and output planes. It runs at
// the first SOS, after the pixel limit has been checked.
func (d *decoder) allocate() error {
	if d.maxPixels > 0 && int64(d.width)*int64(d.height) > d.maxPixels {
		return fmt.Errorf("%w: %dx%d exceeds %d pixels", ErrTooLarge, d.width, d.height, d.maxPixels)
	}
	if d.ncomp == 4 && !d.adobeValid {
		return UnsupportedError("4-component JPEG without Adobe APP14 marker")
	}
	bs := 8 / d.scale // output samples per full-resolution block edge
	d.mcusX = (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcusY = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		cw := (d.width*c.h + d.hmax - 1) / d.hmax
		ch := (d.height*c.v + d.vmax - 1) / d.vmax
		c.cbw, c.cbh = (cw+7)/8, (ch+7)/8
		// Reconstruct subsampled components at a finer scale where that
		// is exact (a power of two dividing the subsampling ratio, up to
		// 8 samples per block edge), so that they need little or no
		// upsampling; each axis is handled separately (e.g. 4:2:2 chroma
		// at 1/8 becomes 2x1 samples per block).
		rx, ry := d.hmax/c.h, d.vmax/c.v
		fx, fy := 1, 1
		for bs*fx*2 <= 8 && rx%(fx*2) == 0 {
			fx *= 2
		}
		for bs*fy*2 <= 8 && ry%(fy*2) == 0 {
			fy *= 2
		}
		c.nx, c.ny = bs*fx, bs*fy
		c.sx, c.sy = rx/fx, ry/fy
		c.maxK = maxZig(c.nx, c.ny)
		c.stride = c.bw * c.nx
		if d.progressive {
			nb := c.bw * c.bh
			c.coefs = getInt16s(nb * (c.maxK + 1))
			if c.maxK > 0 && c.maxK < 63 {
				c.mask = getUint64s(nb)
			}
		}
	}
	// Planes that become the returned image (see output) are the caller's;
	// the others are scratch for the colour conversion.
	_, direct := d.ycbcrRatio()
	direct = direct || d.ncomp == 1
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		if size := c.stride * c.bh * c.ny; direct {
			c.plane = make([]byte, size)
		} else {
			c.plane = getBytes(size)
		}
	}
	d.allocated = true
	return nil
}
