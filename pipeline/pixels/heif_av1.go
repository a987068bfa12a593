package pixels

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/av1"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// decodeAV1Into decodes an AV1 item with dav1d and adds it, converted to
// RGB by its matrix (premultiplied by its alpha plane's item when alpha
// is not nil), to k at x0, y0, one row at a time: nothing of the picture
// is held in Go but a row and k's output. from is the item it stands for
// (a grid's tile, a thumbnail's primary image), whose colour description
// applies where the item has none.
func decodeAV1Into(ctx context.Context, k *shrinker, x0, y0 int, f *heif.File, data []byte, it, alpha, from *heif.Item) error {
	if ctx == nil {
		ctx = context.Background()
	}
	coded, err := f.ItemData(data, it)
	if err != nil {
		return err
	}
	desc := it.NCLX
	if desc == nil && from != nil {
		desc = from.NCLX
	}
	color := func(a *wasmrt.Frame) error {
		return av1.Decode(ctx, coded, av1FrameLimit(it), av1MemoryLimit(it), func(fr *wasmrt.Frame) error {
			if fr.Width < it.Width || fr.Height < it.Height {
				return fmt.Errorf("item %d decodes to %dx%d pixels, not its declared %dx%d", it.ID, fr.Width, fr.Height, it.Width, it.Height)
			}
			if a != nil && (a.Width != fr.Width || a.Height != fr.Height) {
				a = nil // as libheif does, an alpha plane of another size is dropped
			}
			addAV1(k, x0, y0, it.Width, it.Height, fr, a, desc)
			return nil
		})
	}
	if alpha == nil {
		err = color(nil)
	} else {
		// Both pictures are held at once, each in its own instance,
		// for their rows to be joined as they are converted.
		acoded, aerr := f.ItemData(data, alpha)
		if aerr != nil {
			return fmt.Errorf("alpha plane: %w", aerr)
		}
		err = av1.Decode(ctx, acoded, av1FrameLimit(alpha), av1MemoryLimit(alpha), color)
	}
	if err != nil {
		return fmt.Errorf("item %d (%s): %w", it.ID, it.Type, err)
	}
	return nil
}

// heifTooExpensive reports the AV1 decoder's refusals of a picture
// larger than its item, or of a decode that needs more memory than its
// limit.
func heifTooExpensive(err error) bool {
	return errors.Is(err, av1.ErrMemory) || errors.Is(err, av1.ErrTooLarge)
}

// av1FrameLimit is the most pixels an item's coded picture may have: its
// ispe with room for the coded size's rounding. dav1d refuses a larger
// one from its frame header, before it allocates the frame.
func av1FrameLimit(it *heif.Item) int {
	return (it.Width + 64) * (it.Height + 64)
}

// av1MemoryLimit caps what one item's decoder instance may map: twice
// the most a picture of its size needs (12 bits, 4:4:4), and its fixed
// part. A file whose frames need more is refused, not decoded.
func av1MemoryLimit(it *heif.Item) int64 {
	return av1WasmBase + 2*av1PerPixel(12)*int64(av1FrameLimit(it))
}

// The AV1 decoder's memory (dav1d in its instance), measured by
// TestAVIFMemoryEstimate: a fixed part (the module's data and stack, the
// decoder's state) and, a pixel, its planes with their borders and some
// tenth more for the decoder's per-block state. av1PerPixel takes 4:4:4,
// the costliest layout, since the header does not tell.
const av1WasmBase = 8 << 20

// av1PerPixel is what dav1d's instance takes a pixel of a picture of
// bits bits, in the worst layout: three planes of one or two bytes a
// sample, plus a tenth, plus a byte and a bit of state.
func av1PerPixel(bits int) int64 {
	if bits > 8 {
		return 8
	}
	return 5
}

// addAV1 converts the top h rows and w columns of fr (and of a, its
// alpha plane, when not nil) and adds them to k at x0, y0.
func addAV1(k *shrinker, x0, y0, w, h int, fr, a *wasmrt.Frame, desc *heif.NCLX) {
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
	row := image.NewRGBA(image.Rect(0, 0, w, 1))
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
		px := row.Pix
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
		k.add(row, x0, y0+y)
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
