package wasmrt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Layout is a picture's chroma subsampling.
type Layout int

// The layouts, numbered as dav1d's Dav1dPixelLayout and libde265's
// de265_chroma.
const (
	I400 Layout = iota // monochrome: no chroma planes
	I420               // chroma halved both ways
	I422               // chroma halved horizontally
	I444               // chroma at full size
)

// Frame is a decoded picture, its planes read in place from an
// instance's memory: valid only until the instance is closed.
type Frame struct {
	Width, Height int
	// BitDepth is 8 to 16; above 8, each sample is two bytes, little
	// endian.
	BitDepth int
	Layout   Layout
	// Y, Cb and Cr are the planes (Cb and Cr nil for I400), with rows
	// of YStride and CStride bytes.
	Y, Cb, Cr        []byte
	YStride, CStride int
	// The bitstream's colour description, where the codec reports one:
	// ITU-T H.273 code points (2, unspecified, otherwise), and whether
	// samples use the full range.
	Primaries, Transfer, Matrix int
	FullRange                   bool
}

// ChromaShift returns how many bits the chroma planes' width and height
// are shifted right from the luma plane's.
func (f *Frame) ChromaShift() (x, y int) {
	switch f.Layout {
	case I420:
		return 1, 1
	case I422:
		return 1, 0
	}
	return 0, 0
}

// ErrFrame is a frame record that does not describe planes inside the
// instance's memory.
var ErrFrame = errors.New("decoded frame out of bounds")

// planes checks f's size, depth and layout, and slices its planes from
// the instance's memory at offsets y, cb and cr (cb and cr unused for
// I400).
func (in *instance) planes(f *Frame, y, cb, cr uint32) error {
	if f.Width <= 0 || f.Height <= 0 || f.Layout < I400 || f.Layout > I444 || f.BitDepth < 8 || f.BitDepth > 16 {
		return fmt.Errorf("%w: a %dx%d picture of %d bits, layout %d", ErrFrame, f.Width, f.Height, f.BitDepth, f.Layout)
	}
	bps := 1
	if f.BitDepth > 8 {
		bps = 2
	}
	plane := func(off uint32, stride, w, h int) ([]byte, error) {
		if stride < w*bps {
			return nil, fmt.Errorf("%w: rows of %d bytes hold %d samples", ErrFrame, stride, w)
		}
		n := int64(stride)*int64(h-1) + int64(w*bps)
		p, ok := in.Memory().Read(off, uint32(min(n, 1<<32-1)))
		if !ok || int64(len(p)) != n {
			return nil, fmt.Errorf("%w: a plane of %d bytes at %d", ErrFrame, n, off)
		}
		return p, nil
	}
	var err error
	if f.Y, err = plane(y, f.YStride, f.Width, f.Height); err != nil {
		return err
	}
	if f.Layout != I400 {
		sx, sy := f.ChromaShift()
		cw, ch := (f.Width+sx)>>sx, (f.Height+sy)>>sy
		if f.Cb, err = plane(cb, f.CStride, cw, ch); err != nil {
			return err
		}
		if f.Cr, err = plane(cr, f.CStride, cw, ch); err != nil {
			return err
		}
	}
	return nil
}

// frameRecord is the size of the frame record the codecs' entry points
// fill: 13 little-endian 32-bit words, width, height, bit depth, layout,
// the three planes' offsets, the luma and chroma strides, primaries,
// transfer, matrix and full range.
const frameRecord = 13 * 4

// readFrame reads the frame record at rec and slices the planes it
// points to.
func (in *instance) readFrame(rec uint32) (*Frame, error) {
	b, ok := in.Memory().Read(rec, frameRecord)
	if !ok {
		return nil, fmt.Errorf("%w: frame record at %d", ErrFrame, rec)
	}
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	f := &Frame{
		Width: int(w(0)), Height: int(w(1)), BitDepth: int(w(2)), Layout: Layout(w(3)),
		YStride: int(int32(w(7))), CStride: int(int32(w(8))),
		Primaries: int(w(9)), Transfer: int(w(10)), Matrix: int(w(11)), FullRange: w(12) != 0,
	}
	if err := in.planes(f, w(4), w(5), w(6)); err != nil {
		return nil, err
	}
	return f, nil
}

// Errors are a codec's errors for the results its entry point returns.
type Errors struct {
	Corrupt, TooLarge, Memory error
}

// The results the codecs' entry points return besides 0 (a picture).
const (
	resultInvalid   = -1 // the bitstream is not valid
	resultMemory    = -2 // the decoder ran out of memory
	resultNoPicture = -3 // valid data that holds no picture
	resultLimit     = -4 // larger than the pixel limit
	resultOpen      = -5 // the decoder would not open
)

// result turns an entry point's result into an error (nil for 0): the
// call's trap, an allocation the decoder did not check, which the memory
// limit causes first, is a memory error too.
func (e Errors) result(res []uint64, trap error, inputBytes, maxPixels int, maxMemory int64) error {
	if trap != nil {
		return fmt.Errorf("%w: %v", e.Memory, trap)
	}
	switch int32(res[0]) {
	case 0:
		return nil
	case resultMemory:
		return fmt.Errorf("%w (%d bytes)", e.Memory, maxMemory)
	case resultLimit:
		return fmt.Errorf("%w: more than %d pixels", e.TooLarge, maxPixels)
	case resultNoPicture:
		return fmt.Errorf("%w: no picture in %d bytes", e.Corrupt, inputBytes)
	case resultOpen:
		return errors.New("the decoder did not open")
	}
	return fmt.Errorf("%w: the decoder refused it", e.Corrupt)
}
