// Package tiffdec is a pure-Go TIFF decoder that decodes straight to a
// reduced size ("shrink-on-load"), strip by strip or tile by tile, so the
// memory a thumbnail costs follows the thumbnail, not the file.
//
// golang.org/x/image/tiff, the well-kept Go decoder, allocates the whole
// image at full size (16 bits a sample for 16-bit files) and reads each
// strip or tile whole into a buffer first: a 16-bit RGBA file of one
// deflated strip costs five times its pixels. No Go library streams TIFF.
//
// A typical caller reads the header with [DecodeConfig], checks
// [MemoryEstimate] and the pixel count against its budget, passes the box
// it needs in [Options], decodes with [Decode] and a pixel limit, applies
// Config.Orientation and resamples.
//
// # What it reads
//
// The first image (IFD) of a classic TIFF, little- or big-endian:
// compression none, LZW (with libtiff's old-style, least significant bits
// first, variant), Deflate (8 and 32946) and PackBits; the horizontal
// predictor on 8- and 16-bit samples; gray (WhiteIsZero and BlackIsZero,
// 1, 2, 4, 8 and 16 bits), RGB (8 and 16 bits) and palette (1 to 8 bits)
// images, each with an alpha sample, associated (premultiplied) or not;
// strips, and tiles up to MaxTileSide a side. Anything else, such as
// separate planes, CMYK, YCbCr, JPEG compression, floating-point samples
// or BigTIFF, is an [UnsupportedError] that names it.
//
// # How
//
// Each strip or tile is decompressed as a stream, one stored row at a
// time: the predictor is undone, the row converted to gray or R, G, B, A
// with unassociated alpha (16-bit samples stay 16 bits) and summed into a
// [reduce.Accumulator] of output rows; an output row is emitted as 8-bit
// averages once every source row of its boxes has arrived. Strips need a
// single accumulator row; tiles one per output row a tile row covers, at
// most MaxTileSide/scale+1. At scale 1 rows go straight into the output.
//
// The file is read at the offsets its IFD gives. An [io.ReaderAt] is read
// directly; any other reader is read forward once through a window that
// frees (or never holds) the bytes before the lowest offset still to be
// read, so a file whose IFD precedes its data, strips in order, costs a
// few chunks of 64 KiB. A file whose IFD comes last is held up to it.
//
// # Hostile input
//
// Every count and offset is bounded: at most MaxEntries IFD entries,
// MaxSamples samples, MaxBlocks strips or tiles (whose counts must match
// the image's size), offsets and byte counts within 32 bits.
// Options.MaxPixels is checked before any array or pixel memory is
// allocated. A strip or tile is decompressed only as far as its rows need:
// one that ends early is [ErrShortBlock], one that goes on past its rows
// (and, for the last strip, past the padding to a full strip) is
// [ErrTooMuchData] at its first extra byte, so an inflate bomb costs
// nothing; a file that ends early is [ErrTruncated]. Decode never returns
// a partial image.
//
// # Output
//
// *image.Gray for gray images without alpha, *image.NRGBA for all others,
// of ceil(Width/scale) x ceil(Height/scale) pixels, each the average of
// its box, colour weighted by alpha.
package tiffdec
