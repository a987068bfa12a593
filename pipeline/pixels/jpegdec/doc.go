// Package jpegdec is a pure-Go JPEG decoder that can decode directly at
// 1/2, 1/4 or 1/8 of the full size ("shrink-on-load"), for fast thumbnails
// of large camera images.
//
// # Sections
//
// Scaled decoding: each 8x8 DCT block is reconstructed with a reduced
// inverse DCT (4x4, 2x2 or DC only), so the pixel planes, the colour
// conversion and the output are only as large as the reduced image.
// Subsampled chroma is reconstructed at a finer scale where that is exact,
// so that colour conversion needs no upsampling. Use [ScaleFor] to pick
// the largest scale that keeps a downstream resampler at full quality.
//
// Entropy decoding: a 64-bit bit buffer refilled in bulk from the
// decoder's own input buffer, 9-bit lookahead tables for Huffman symbols,
// and a combined table that yields run, length and signed value for
// common AC coefficients in one lookup. Coefficients that the reduced
// IDCT does not need are decoded only to be skipped. Progressive images
// keep only the coefficients the chosen scale needs (plus a one-bit
// non-zero history per block for refinement scans); at 1/8 all AC scans
// are skipped without Huffman decoding.
//
// Supported input: 8-bit baseline, extended-sequential (Huffman) and
// progressive JPEG, with spectral selection and successive approximation;
// grayscale, YCbCr, RGB (Adobe transform 0 or 'R','G','B' identifiers),
// Adobe CMYK and YCCK; any sampling factors from 1 to 4 where each
// component's factors divide the maximum ones; restart intervals.
// Refused with an [UnsupportedError]: arithmetic coding, lossless and
// hierarchical modes, 12-bit precision, DNL-defined height, 4-component
// images without an Adobe APP14 marker.
//
// Output: *image.Gray for one component, otherwise an opaque
// *image.NRGBA. Full-size output matches image/jpeg converted to NRGBA:
// the same IDCT, nearest-neighbour chroma upsampling and the YCbCr, CMYK
// and YCCK conversions of image/jpeg and image/color.
//
// Hostile input: headers are validated before anything is allocated,
// Options.MaxPixels bounds the image size before pixel memory is
// allocated, and truncated or corrupt entropy-coded data yields an error
// (wrapping io.ErrUnexpectedEOF for truncation), never a panic or a
// partially decoded image.
package jpegdec
