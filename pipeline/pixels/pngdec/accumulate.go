package pngdec

// accumulator sums 8-bit pixels into output pixels. Without alpha it
// keeps one sum per channel; with alpha (4 channels) it keeps the sums of
// R*A, G*A, B*A and A, so transparent pixels add no colour to a box.
// Sums are uint32: a box of up to 256x256 pixels cannot overflow them.
type accumulator struct {
	w, c  int
	alpha bool
	sum   []uint32
}

func newAccumulator(w, h, c int, alpha bool) *accumulator {
	return &accumulator{w: w, c: c, alpha: alpha && c == 4, sum: make([]uint32, w*h*c)}
}

// addRow adds a full row px of w pixels to accumulator row oy, s pixels
// to an output pixel.
func (a *accumulator) addRow(oy int, px []byte, w, s int) {
	sum := a.sum[oy*a.w*a.c : (oy+1)*a.w*a.c]
	switch {
	case a.c == 1:
		for ox := range sum {
			var t uint32
			for _, v := range px[ox*s : min(ox*s+s, w)] {
				t += uint32(v)
			}
			sum[ox] += t
		}
	case !a.alpha:
		for ox := 0; ox < a.w; ox++ {
			var r, g, b uint32
			p := px[4*ox*s : 4*min(ox*s+s, w)]
			for ; len(p) >= 4; p = p[4:] {
				r += uint32(p[0])
				g += uint32(p[1])
				b += uint32(p[2])
			}
			o := sum[4*ox : 4*ox+4]
			o[0] += r
			o[1] += g
			o[2] += b
		}
	default:
		for ox := 0; ox < a.w; ox++ {
			var r, g, b, al uint32
			p := px[4*ox*s : 4*min(ox*s+s, w)]
			for ; len(p) >= 4; p = p[4:] {
				t := uint32(p[3])
				r += uint32(p[0]) * t
				g += uint32(p[1]) * t
				b += uint32(p[2]) * t
				al += t
			}
			o := sum[4*ox : 4*ox+4]
			o[0] += r
			o[1] += g
			o[2] += b
			o[3] += al
		}
	}
}

// addSparse adds the pw pixels of an interlace pass row, at x0, x0+dx,
// ..., to accumulator row oy.
func (a *accumulator) addSparse(oy int, px []byte, pw, x0, dx, s int) {
	sum := a.sum[oy*a.w*a.c : (oy+1)*a.w*a.c]
	c := a.c
	for i := 0; i < pw; i++ {
		ox := (x0 + i*dx) / s
		p, o := px[c*i:c*i+c], sum[c*ox:c*ox+c]
		switch {
		case c == 1:
			o[0] += uint32(p[0])
		case !a.alpha:
			o[0] += uint32(p[0])
			o[1] += uint32(p[1])
			o[2] += uint32(p[2])
		default:
			t := uint32(p[3])
			o[0] += uint32(p[0]) * t
			o[1] += uint32(p[1]) * t
			o[2] += uint32(p[2]) * t
			o[3] += t
		}
	}
}

// emitRow writes accumulator row oy as averages into dst and clears it:
// output pixel ox averages the pixels of source columns [ox*s, ox*s+s)
// that exist, over ny rows.
func (a *accumulator) emitRow(dst []byte, oy, w, s, ny int) {
	a.emit(dst, oy, func(ox int) uint32 { return uint32((min(ox*s+s, w) - ox*s) * ny) })
}

// emitRowGrid is emitRow for sums of the pixels on a grid of step g: the
// ny grid rows in the box times the grid columns in it.
func (a *accumulator) emitRowGrid(dst []byte, oy, w, s, g, ny int) {
	a.emit(dst, oy, func(ox int) uint32 { return uint32(ceilDiv(min(ox*s+s, w)-ox*s, g) * ny) })
}

func (a *accumulator) emit(dst []byte, oy int, count func(ox int) uint32) {
	sum := a.sum[oy*a.w*a.c : (oy+1)*a.w*a.c]
	c := a.c
	for ox := 0; ox < a.w; ox++ {
		n := count(ox)
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
				o[0] = uint8((t[0] + al/2) / al)
				o[1] = uint8((t[1] + al/2) / al)
				o[2] = uint8((t[2] + al/2) / al)
			}
		}
		clear(t)
	}
}
