package icc

// fastGrid interpolates a precomputed device-space grid of linear sRGB
// (3 or 4 inputs, 3 outputs; encoded and clipped after interpolation) at
// 8-bit device codes, with each code's grid
// cell and fraction looked up rather than computed: tetrahedral in three
// inputs, and for four inputs linear in the first between two tetrahedra,
// like clut.eval.
type fastGrid struct {
	n    int
	off  [4][256]int32 // code to the offset of its cell's lower node
	frac [4][256]float32
	step [4]int32 // offset to the next node along each input
	s    []float32
	enc  []uint16
}

func newFastGrid(c *clut) *fastGrid {
	f := &fastGrid{n: c.n, s: c.samples}
	for d := range c.n {
		g := c.grid[d]
		f.step[d] = int32(c.stride[d])
		for v := range 256 {
			pos := float64(v) * float64(g-1) / 255
			i := min(int(pos), g-2)
			f.off[d][v] = int32(i * c.stride[d])
			f.frac[d][v] = float32(pos - float64(i))
		}
	}
	return f
}

// tetra interpolates the cube at base with fractions x, y, z along steps
// sx, sy, sz.
func (f *fastGrid) tetra(base int32, x, y, z float32, sx, sy, sz int32) (float32, float32, float32) {
	// Order the axes by descending fraction.
	f1, f2, f3 := x, y, z
	s1, s2, s3 := sx, sy, sz
	if f1 < f2 {
		f1, f2, s1, s2 = f2, f1, s2, s1
	}
	if f2 < f3 {
		f2, f3, s2, s3 = f3, f2, s3, s2
		if f1 < f2 {
			f1, f2, s1, s2 = f2, f1, s2, s1
		}
	}
	s := f.s
	v0 := s[base : base+3 : base+3]
	v1 := s[base+s1 : base+s1+3 : base+s1+3]
	v2 := s[base+s1+s2 : base+s1+s2+3 : base+s1+s2+3]
	v3 := s[base+s1+s2+s3 : base+s1+s2+s3+3 : base+s1+s2+s3+3]
	w0, w1, w2 := 1-f1, f1-f2, f2-f3
	return w0*v0[0] + w1*v1[0] + w2*v2[0] + f3*v3[0],
		w0*v0[1] + w1*v1[1] + w2*v2[1] + f3*v3[1],
		w0*v0[2] + w1*v1[2] + w2*v2[2] + f3*v3[2]
}

func (f *fastGrid) rgb(r, g, b uint8) (uint8, uint8, uint8) {
	base := f.off[0][r] + f.off[1][g] + f.off[2][b]
	x, y, z := f.tetra(base, f.frac[0][r], f.frac[1][g], f.frac[2][b], f.step[0], f.step[1], f.step[2])
	return f.to8(x), f.to8(y), f.to8(z)
}

func (f *fastGrid) to8(v float32) uint8 {
	return uint8((uint32(linTo16(f.enc, v))*255 + 32767) / 65535)
}

func (f *fastGrid) cmyk(c, m, y, k uint8) (uint8, uint8, uint8) {
	base := f.off[1][m] + f.off[2][y] + f.off[3][k]
	fm, fy, fk := f.frac[1][m], f.frac[2][y], f.frac[3][k]
	b0 := base + f.off[0][c]
	r0, g0, bl0 := f.tetra(b0, fm, fy, fk, f.step[1], f.step[2], f.step[3])
	if fc := f.frac[0][c]; fc != 0 {
		r1, g1, bl1 := f.tetra(b0+f.step[0], fm, fy, fk, f.step[1], f.step[2], f.step[3])
		r0 += fc * (r1 - r0)
		g0 += fc * (g1 - g0)
		bl0 += fc * (bl1 - bl0)
	}
	return f.to8(r0), f.to8(g0), f.to8(bl0)
}
