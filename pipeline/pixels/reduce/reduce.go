// Package reduce shrinks an image while its rows arrive: it sums the
// pixels of each s×s box into an accumulator of output pixels and turns
// the sums into 8-bit averages once the box is complete, so a decoder never
// holds the image at full size. The decoders that stream rows or tiles
// (pngdec, tiffdec) share it.
//
// Pixels have one channel (gray) or four (R, G, B, A), of 8 or 16 bits.
// With alpha the colour of each pixel is weighted by its alpha, so
// transparent pixels add no colour to a box. 16-bit samples are summed
// at full precision and rounded to 8 bits only when a box is emitted.
package reduce

// MaxScale is the largest reduction factor ScaleFor returns.
const MaxScale = 256

// ScaleFor returns the largest power of two s <= MaxScale such that the
// image reduced by s is still at least as large as the image scaled to
// cover (fill) a boxW x boxH box:
//
//	s*boxW <= srcW && s*boxH <= srcH
//
// so a downstream resampler keeps its full quality for both fit and fill.
// A non-positive box dimension places no constraint on that axis; if both
// are non-positive, or the source size is not positive, ScaleFor returns 1.
func ScaleFor(srcW, srcH, boxW, boxH int) int {
	if srcW <= 0 || srcH <= 0 || (boxW <= 0 && boxH <= 0) {
		return 1
	}
	s := 1
	for s < MaxScale && (boxW <= 0 || 2*s*boxW <= srcW) && (boxH <= 0 || 2*s*boxH <= srcH) {
		s *= 2
	}
	return s
}

// Sample returns the x-th sample of a row of samples of bits bits (1, 2,
// 4 or 8), packed most significant bits first as PNG and TIFF store them.
func Sample(row []byte, x, bits int) byte {
	switch bits {
	case 8:
		return row[x]
	case 4:
		return row[x/2] >> (4 - 4*(x%2)) & 0x0f
	case 2:
		return row[x/4] >> (6 - 2*(x%4)) & 0x03
	}
	return row[x/8] >> (7 - x%8) & 1
}

// CeilDiv returns a/b rounded up, for positive b.
func CeilDiv(a, b int) int { return (a + b - 1) / b }

// Accumulator holds the sums of rows of output pixels. Its rows are
// addressed by the caller, who may use them as a ring (output row oy in
// row oy%rows) when boxes complete in order.
type Accumulator struct {
	w, c  int
	alpha bool
	deep  bool
	sum   []uint64
}

// New returns an accumulator of rows rows of w output pixels of c
// channels (1, or 4 for R, G, B, A), whose colour is weighted by alpha
// when alpha is set (and c is 4), for samples of 16 bits when deep is set
// and 8 bits otherwise.
func New(w, rows, c int, alpha, deep bool) *Accumulator {
	return &Accumulator{w: w, c: c, alpha: alpha && c == 4, deep: deep, sum: make([]uint64, w*rows*c)}
}

// Bytes is the memory New allocates for those dimensions.
func Bytes(w, rows, c int) int64 { return 8 * int64(w) * int64(rows) * int64(c) }

// Add8 adds n 8-bit pixels, those of source columns [x0, x0+n), to
// accumulator row row, s source columns to an output pixel.
func (a *Accumulator) Add8(row int, px []byte, x0, n, s int) { add(a, row, px, x0, n, s) }

// Add16 is Add8 for 16-bit pixels.
func (a *Accumulator) Add16(row int, px []uint16, x0, n, s int) { add(a, row, px, x0, n, s) }

func add[T uint8 | uint16](a *Accumulator, row int, px []T, x0, n, s int) {
	sum := a.sum[row*a.w*a.c : (row+1)*a.w*a.c]
	c := a.c
	for x := x0; x < x0+n; {
		ox := x / s
		end := min((ox+1)*s, x0+n)
		p := px[c*(x-x0) : c*(end-x0)]
		o := sum[c*ox : c*ox+c]
		switch {
		case c == 1:
			var t uint64
			for _, v := range p {
				t += uint64(v)
			}
			o[0] += t
		case !a.alpha:
			var r, g, b uint64
			for ; len(p) >= 4; p = p[4:] {
				r += uint64(p[0])
				g += uint64(p[1])
				b += uint64(p[2])
			}
			o[0] += r
			o[1] += g
			o[2] += b
		default:
			var r, g, b, al uint64
			for ; len(p) >= 4; p = p[4:] {
				t := uint64(p[3])
				r += uint64(p[0]) * t
				g += uint64(p[1]) * t
				b += uint64(p[2]) * t
				al += t
			}
			o[0] += r
			o[1] += g
			o[2] += b
			o[3] += al
		}
		x = end
	}
}

// AddSparse adds the pw 8-bit pixels of a row sampled every dx columns
// from x0 (an interlace pass's row) to accumulator row row.
func (a *Accumulator) AddSparse(row int, px []byte, pw, x0, dx, s int) {
	sum := a.sum[row*a.w*a.c : (row+1)*a.w*a.c]
	c := a.c
	for i := 0; i < pw; i++ {
		ox := (x0 + i*dx) / s
		p, o := px[c*i:c*i+c], sum[c*ox:c*ox+c]
		switch {
		case c == 1:
			o[0] += uint64(p[0])
		case !a.alpha:
			o[0] += uint64(p[0])
			o[1] += uint64(p[1])
			o[2] += uint64(p[2])
		default:
			t := uint64(p[3])
			o[0] += uint64(p[0]) * t
			o[1] += uint64(p[1]) * t
			o[2] += uint64(p[2]) * t
			o[3] += t
		}
	}
}

// EmitRow writes accumulator row row as 8-bit averages into dst (c bytes
// a pixel, alpha 0xff when c is 4 without alpha) and clears it: output
// pixel ox averages the pixels of source columns [ox*s, ox*s+s) that
// exist in a source w pixels wide, over ny rows.
func (a *Accumulator) EmitRow(dst []byte, row, w, s, ny int) {
	a.emit(dst, row, func(ox int) uint64 { return uint64((min(ox*s+s, w) - ox*s) * ny) })
}

// EmitGrid is EmitRow for sums of the pixels on a grid of step g: the ny
// grid rows in the box times the grid columns in it.
func (a *Accumulator) EmitGrid(dst []byte, row, w, s, g, ny int) {
	a.emit(dst, row, func(ox int) uint64 { return uint64(CeilDiv(min(ox*s+s, w)-ox*s, g) * ny) })
}

func (a *Accumulator) emit(dst []byte, row int, count func(ox int) uint64) {
	sum := a.sum[row*a.w*a.c : (row+1)*a.w*a.c]
	c := a.c
	// unit is what one 8-bit step weighs in a sum of samples.
	unit := uint64(1)
	if a.deep {
		unit = 257
	}
	for ox := 0; ox < a.w; ox++ {
		n := count(ox) * unit
		o, t := dst[c*ox:c*ox+c], sum[c*ox:c*ox+c]
		switch {
		case c == 1:
			o[0] = uint8((t[0] + n/2) / n)
		case !a.alpha:
			o[0] = uint8((t[0] + n/2) / n)
			o[1] = uint8((t[1] + n/2) / n)
			o[2] = uint8((t[2] + n/2) / n)
			o[3] = 0xff
		default:
			al := t[3]
			o[3] = uint8((al + n/2) / n)
			if al == 0 {
				o[0], o[1], o[2] = 0, 0, 0
			} else {
				d := al * unit
				o[0] = uint8((t[0] + d/2) / d)
				o[1] = uint8((t[1] + d/2) / d)
				o[2] = uint8((t[2] + d/2) / d)
			}
		}
		clear(t)
	}
}
