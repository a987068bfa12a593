// Package jpegdec is a pure-Go JPEG decoder that can decode directly at
// 1/2, 1/4 or 1/8 of the full size ("shrink-on-load"), for fast thumbnails
// of large camera images.
//
// A typical caller reads the header with [DecodeConfig], picks the scale
// with [ScaleFor] for the largest thumbnail box it needs, decodes with
// [Decode] and a pixel limit, applies Config.Orientation and resamples.
//
// # Scaled decoding
//
// Each 8x8 DCT block is reconstructed with a reduced inverse DCT (4x4, 2x2
// or DC only), so the pixel planes, the colour conversion and the output
// are only as large as the reduced image. Subsampled chroma is
// reconstructed at a finer scale where that is exact, separately per axis
// (4:2:0 chroma at 1/8 becomes 2x2 samples per block, 4:2:2 chroma 2x1),
// so that colour conversion needs little or no upsampling. [ScaleFor]
// picks the largest scale that keeps a downstream resampler at full
// quality.
//
// # Entropy decoding
//
// A 64-bit bit buffer is refilled in bulk straight from the decoder's own
// input buffer (byte stuffing and markers are handled in the refill).
// 9-bit lookahead tables decode Huffman symbols, a combined table yields
// run, length and signed value of common AC coefficients in one lookup,
// and coefficients that the reduced IDCT does not need are stepped over,
// one or two per lookup, without computing their values. Progressive
// images keep only the coefficients the chosen scale needs, plus a one-bit
// non-zero history per block for refinement scans; AC scans of components
// that need only DC (luma at 1/8) are skipped without Huffman decoding, so
// memory follows the output, not the input.
//
// # Supported input
//
// 8-bit baseline, extended-sequential (Huffman) and progressive JPEG,
// with spectral selection and successive approximation; grayscale, YCbCr,
// RGB (Adobe transform 0 or 'R','G','B' identifiers), Adobe CMYK and YCCK;
// any sampling factors from 1 to 4 where each component's factors divide
// the maximum ones; restart intervals. Refused with an [UnsupportedError]:
// arithmetic coding, lossless and hierarchical modes, 12-bit precision,
// DNL-defined height, 4-component images without an Adobe APP14 marker.
//
// # Output
//
// *image.Gray for one component; *image.YCbCr for YCbCr images whose
// planes come out of the reduced IDCT as a standard subsampling (4:4:4,
// 4:2:2, 4:2:0, 4:4:0: every common file at every scale), so the planes
// are the image and no converted copy is made; otherwise (RGB, CMYK, YCCK,
// unusual sampling) an opaque *image.NRGBA. At full size the pixels match
// image/jpeg's: the same IDCT, the same image types for YCbCr and gray,
// and for the others nearest-neighbour chroma upsampling and the YCbCr,
// CMYK and YCCK conversions of image/jpeg and image/color. EXIF orientation is reported
// in [Config], not applied.
//
// # Hostile input
//
// Headers are validated before anything is allocated, and
// Options.MaxPixels bounds the image size before pixel memory is
// allocated; without it a small file can declare up to 65535x65535
// pixels. Truncated entropy-coded data (wrapping io.ErrUnexpectedEOF) and
// data that breaks the Huffman code yield an error, never a panic or a
// partial image. Corruption that still decodes validly cannot be detected
// and gives wrong pixels, as with any JPEG decoder.
//
// Each scan costs a pass over its components' blocks, whatever its size
// in the file, so scans are bounded too: a progressive image must follow
// its progression (JPEG G.1.1.1: a coefficient sent once by a first scan,
// then refined one bit at a time from the bit last sent), which libjpeg
// only warns about, and a component of a sequential image has one scan;
// other files are refused with a FormatError that says how they break it.
// At most Options.MaxScans scans are read (DefaultMaxScans, as
// libjpeg-turbo's scan limit), more give ErrTooManyScans. [DecodeContext]
// checks its context before every scan. [MemoryEstimate] bounds the
// memory Decode allocates from the header alone.
package jpegdec
