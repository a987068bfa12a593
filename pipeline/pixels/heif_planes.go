package pixels

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/av1"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/hevc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// decodeInto decodes a coded item (AV1 with dav1d, HEVC with libde265)
// and adds it, converted to RGB by its matrix (premultiplied by its alpha
// plane's item when alpha is not nil), to k at x0, y0, one row at a time:
// nothing of the picture is held in Go but a row and k's output. from is
// the item it stands for (a grid's tile, a thumbnail's primary image),
// whose colour description applies where the item has none.
func decodeInto(ctx context.Context, k *shrinker, x0, y0 int, f *heif.File, data []byte, it, alpha, from *heif.Item) error {
	if ctx == nil {
		ctx = context.Background()
	}
	desc := it.NCLX
	if desc == nil && from != nil {
		desc = from.NCLX
	}
	color := func(a *wasmrt.Frame) error {
		return decodeCoded(ctx, f, data, it, func(fr *wasmrt.Frame) error {
			if fr.Width < it.Width || fr.Height < it.Height {
				return fmt.Errorf("%w: item %d decodes to %dx%d pixels, not its declared %dx%d", heif.ErrCorrupt, it.ID, fr.Width, fr.Height, it.Width, it.Height)
			}
			if a != nil && (a.Width != fr.Width || a.Height != fr.Height) {
				a = nil // as libheif does, an alpha plane of another size is dropped
			}
			k.mu.Lock()
			defer k.mu.Unlock()
			addFrame(k, x0, y0, it.Width, it.Height, fr, a, desc)
			return nil
		})
	}
	if alpha == nil {
		return color(nil)
	}
	// Both pictures are held at once, each in its own instance, for
	// their rows to be joined as they are converted.
	if err := decodeCoded(ctx, f, data, alpha, color); err != nil {
		return fmt.Errorf("with its alpha plane: %w", err)
	}
	return nil
}

// decodeCoded decodes one coded image item with its codec's decoder, its
// picture limited to the item's size and its decoder's memory to
// codedMemoryLimit, and calls fn with the picture.
func decodeCoded(ctx context.Context, f *heif.File, data []byte, it *heif.Item, fn func(*wasmrt.Frame) error) error {
	coded, err := f.ItemData(data, it)
	if err != nil {
		return err
	}
	limit, mem := codedFrameLimit(it), codedMemoryLimit(it)
	switch it.Type {
	case heif.TypeAV1:
		err = av1.Decode(ctx, coded, limit, mem, fn)
	case heif.TypeHEVC:
		err = hevc.Decode(ctx, it.Property("hvcC"), coded, limit, mem, fn)
	default:
		err = fmt.Errorf("%w: item %d is %q, not a coded image", heif.ErrUnsupported, it.ID, it.Type)
	}
	if err != nil {
		return fmt.Errorf("item %d (%s): %w", it.ID, it.Type, err)
	}
	return nil
}

// heifTooExpensive reports the decoders' refusals of a picture
// larger than its item, or of a decode that needs more memory than its
// limit.
func heifTooExpensive(err error) bool {
	return errors.Is(err, av1.ErrMemory) || errors.Is(err, av1.ErrTooLarge) ||
		errors.Is(err, hevc.ErrMemory) || errors.Is(err, hevc.ErrTooLarge)
}

// codedFrameLimit is the most pixels an item's coded picture may have:
// its ispe with room for the coded size's rounding. Both decoders refuse
// a larger one from its headers, before they allocate the picture.
func codedFrameLimit(it *heif.Item) int {
	return (it.Width + 64) * (it.Height + 64)
}

// codedMemoryLimit caps what one item's decoder instance may map: twice
// the most a picture of its size needs (more than 8 bits, 4:4:4), and
// its fixed part. A file whose pictures need more is refused, not
// decoded.
func codedMemoryLimit(it *heif.Item) int64 {
	return av1WasmBase + 2*codedPerPixel(16)*int64(codedFrameLimit(it))
}

// The decoders' memory, measured by TestHEIFMemoryEstimate: a fixed part
// (the module's data and stack and the decoder's state: dav1d's 4 MB
// stack and tables, libde265's 1 MB; the coded data, copied in, and the
// file it came from) and, a pixel, the picture's planes with their
// borders and the decoder's per-block state (codedPerPixel).
const (
	av1WasmBase  = 8 << 20
	hevcWasmBase = 3 << 20
)

// codedWasmBase is the fixed part of a decode of an image of format f
// (whose items are, as a rule, of its own codec): the larger for AV1 in
// a HEIC-branded file, which the header does not tell apart, is within
// the instance's own limit (codedMemoryLimit).
func codedWasmBase(f Format) int64 {
	if f == AVIF {
		return av1WasmBase
	}
	return hevcWasmBase
}

// codedPerPixel is what a decoder's instance takes a pixel of a picture
// of bits bits, in the worst layout (4:4:4, since the header does not
// tell): three planes of one or two bytes a sample, and as much again for
// the decoder's state (libde265 keeps per-block metadata; dav1d a tenth
// of the planes and a byte).
func codedPerPixel(bits int) int64 {
	if bits > 8 {
		return 12
	}
	return 6
}

// addFrame converts the top h rows and w columns of fr (and of a, its
// alpha plane, when not nil) and adds them to k at x0, y0.
func addFrame(k *shrinker, x0, y0, w, h int, fr, a *wasmrt.Frame, desc *heif.NCLX) {
	matrix, full := fr.Matrix, fr.FullRange
	if desc != nil {
		matrix, full = int(desc.Matrix), desc.FullRange
	}
	conv := newYUVToRGB(fr.BitDepth, matrix, full)
	var aconv *yuvToRGB
	if a != nil {
		aconv = newYUVToRGB(a.BitDepth, 2, a.FullRange)
	}
	sx, sy := fr.ChromaShift()
	row := make([]byte, 4*w)
	read := sampler(fr.BitDepth)
	aread := read
	if a != nil {
		aread = sampler(a.BitDepth)
	}
	for y := range h {
		yrow := fr.Y[y*fr.YStride:]
		var cb, cr []byte
		if fr.Layout != wasmrt.I400 {
			cb, cr = fr.Cb[(y>>sy)*fr.CStride:], fr.Cr[(y>>sy)*fr.CStride:]
		}
		var arow []byte
		if a != nil {
			arow = a.Y[y*a.YStride:]
		}
		px := row
		for x := range w {
			var r, g, b uint8
			if cb == nil {
				r = conv.gray(read(yrow, x))
				g, b = r, r
			} else {
				r, g, b = conv.pixel(read(yrow, x), read(cb, x>>sx), read(cr, x>>sx))
			}
			al := uint8(255)
			if arow != nil {
				al = aconv.gray(aread(arow, x))
				if al < 255 {
					r, g, b = premul(r, al), premul(g, al), premul(b, al)
				}
			}
			px[4*x], px[4*x+1], px[4*x+2], px[4*x+3] = r, g, b, al
		}
		k.addRow(row, x0, y0+y)
	}
}

// premul multiplies a colour value by an alpha, rounded.
func premul(v, a uint8) uint8 {
	t := uint32(v)*uint32(a) + 128
	return uint8((t + t>>8) >> 8)
}

// sampler returns the reader of sample x of a row of bits-bit samples.
func sampler(bits int) func(row []byte, x int) int32 {
	if bits > 8 {
		return func(row []byte, x int) int32 { return int32(binary.LittleEndian.Uint16(row[2*x:])) }
	}
	return func(row []byte, x int) int32 { return int32(row[x]) }
}
