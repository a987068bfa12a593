// Package pngdec is a pure-Go PNG decoder that decodes straight to a
// reduced size ("shrink-on-load"), row by row, so that the memory a
// thumbnail costs follows the thumbnail, not the file.
//
// A typical caller reads the header with [DecodeConfig], checks
// [MemoryEstimate] and the pixel count against its budget, picks the scale
// with [ScaleFor] for the largest box it needs (or passes the box in
// [Options]), decodes with [Decode] and a pixel limit, applies
// Config.Orientation and resamples.
//
// # Sequential images
//
// The IDAT chunks are inflated as one stream with compress/zlib, straight
// from the decoder's 32 KiB input buffer. Rows are unfiltered one at a
// time (two row buffers), converted to 8 bits per sample (16-bit samples
// are rounded, v*255/65535, not truncated) and summed into a one-row
// accumulator of the output's width; every Scale rows the sums become an
// output row. Each output pixel is the average of the Scale x Scale box
// it covers (edge boxes average the pixels that exist); with alpha the
// colour is weighted by alpha, so transparent pixels add no colour. At
// scale 1 rows are converted straight into the output, and the pixels
// equal image/png's after the 16-to-8-bit rounding.
//
// # Interlaced images
//
// Adam7 delivers the pixels on an 8x8 grid first (pass 1), then a 4x4 grid
// (passes 1 to 3), a 2x2 grid (passes 1 to 5), and all of them. For a
// scale that is a multiple of 8, 4 or 2 only the passes of the coarsest
// grid that divides it are decoded; the rest of the input is neither read
// nor checked. When the grid is the output (scale 8, 4 or 2) pixels are
// written straight into it and then moved to the centres of their boxes
// by bilinear interpolation between neighbouring grid pixels; otherwise
// each output pixel averages the grid pixels in its box, summed in an
// accumulator as large as the output ([reduce]): 32 bytes per output pixel (8 for
// gray), on top of the output's 4 (1). Sampling a grid aliases detail
// finer than it: on a smooth photo the PSNR against the box-filtered full
// decode is 37 dB or more, but thin hard edges can bring it down to 22 dB;
// Options.AllPasses trades the early stop for the exact box average.
// An odd scale needs all seven passes.
//
// # Hostile input
//
// Chunks are read in a stream with their CRCs checked (a mismatch is
// ErrChecksum). IHDR is validated and Options.MaxPixels checked before
// any pixel memory is allocated; without it a small file can declare up
// to 2^31-1 pixels a side. The row buffers follow the width, not the
// output, so a very wide image costs memory at any scale: [MemoryEstimate]
// says how much before anything is allocated. Chunk lengths beyond 2^31-1, and iCCP
// and eXIf chunks beyond MaxMetadata, are refused with ErrChunkTooLarge;
// other ancillary chunks are skipped without being held in memory. Image
// data that goes on after the last row (a zlib bomb) stops the decode at
// the first extra byte with ErrTooMuchData; truncated data wraps
// io.ErrUnexpectedEOF; a palette index beyond PLTE is ErrPaletteIndex.
// Chunks after the image data (and any bytes after IEND) are not read, so
// a missing IEND is tolerated. Only iCCP and eXIf chunks before the image
// data are reported.
//
// # Output
//
// *image.Gray for grayscale images without tRNS, *image.NRGBA for all
// others, at ceil(Width/Scale) x ceil(Height/Scale) pixels.
package pngdec
