package icc

import (
	"encoding/binary"
	"math"
)

// pcsEncoding says how a LUT's output values in [0, 1] map to the PCS.
type pcsEncoding uint8

const (
	pcsEncV4   pcsEncoding = iota // mAB and mft1: L* = 100v, a* = 255v - 128; XYZ = v * 65535/32768
	pcsEncLab2                    // mft2 with Lab: the v2 16-bit Lab encoding (L* 100 at 0xFF00)
)

// lut is a device-to-PCS pipeline: curves A (or mft input tables), a CLUT,
// curves M, a matrix and curves B (or mft output tables). Any stage may be
// absent. Values between stages are normalised to [0, 1].
type lut struct {
	in, out int
	a       []*curve
	clut    *clut
	m       []*curve
	matrix  *[12]float64 // 3x3 then offsets
	b       []*curve
	enc     pcsEncoding
}

// clut is a multidimensional colour lookup table with n inputs, each with
// its own number of grid points, and out outputs per node.
type clut struct {
	n, out  int
	grid    [maxInputChannels]int
	stride  [maxInputChannels]int // in values, not nodes
	samples []float32
}

// eval runs the pipeline on in (l.in values) and writes l.out values to dst.
func (l *lut) eval(in []float64, dst []float64) {
	var v [maxInputChannels]float64
	copy(v[:], in[:l.in])
	for i, c := range l.a {
		v[i] = c.eval(v[i])
	}
	n := l.in
	if l.clut != nil {
		var o [3]float64
		l.clut.eval(v[:l.in], o[:])
		copy(v[:], o[:l.out])
		n = l.out
	}
	for i, c := range l.m {
		v[i] = c.eval(v[i])
	}
	if m := l.matrix; m != nil && n == 3 {
		x, y, z := v[0], v[1], v[2]
		v[0] = clamp01(m[0]*x + m[1]*y + m[2]*z + m[9])
		v[1] = clamp01(m[3]*x + m[4]*y + m[5]*z + m[10])
		v[2] = clamp01(m[6]*x + m[7]*y + m[8]*z + m[11])
	}
	for i, c := range l.b {
		v[i] = c.eval(v[i])
	}
	copy(dst, v[:l.out])
}

// eval interpolates the table at in (each in [0, 1]): tetrahedral in the
// last three inputs, linear in each input before them (as lcms does), so a
// CMYK table interpolates tetrahedrally in M, Y, K and linearly in C.
func (c *clut) eval(in []float64, dst []float64) {
	c.evalAt(0, 0, in, dst)
}

func (c *clut) evalAt(dim, base int, in []float64, dst []float64) {
	rem := c.n - dim
	if rem > 3 {
		pos := clamp01(in[dim]) * float64(c.grid[dim]-1)
		i := int(pos)
		f := pos - float64(i)
		if i >= c.grid[dim]-1 {
			i, f = c.grid[dim]-1, 0
		}
		c.evalAt(dim+1, base+i*c.stride[dim], in, dst)
		if f == 0 {
			return
		}
		var hi [3]float64
		c.evalAt(dim+1, base+(i+1)*c.stride[dim], in, hi[:c.out])
		for o := range c.out {
			dst[o] += f * (hi[o] - dst[o])
		}
		return
	}
	// Up to three remaining dimensions: walk the simplex (tetrahedral for
	// three, triangular for two, linear for one) in order of the fractions.
	var (
		idx  [3]int
		frac [3]float64
		step [3]int
	)
	for k := range rem {
		d := dim + k
		pos := clamp01(in[d]) * float64(c.grid[d]-1)
		i := int(pos)
		f := pos - float64(i)
		if i >= c.grid[d]-1 {
			i, f = c.grid[d]-1, 0
		}
		idx[k], frac[k], step[k] = i, f, c.stride[d]
		base += i * c.stride[d]
	}
	// Sort dimension order by descending fraction (at most three: a tiny
	// insertion sort).
	order := [3]int{0, 1, 2}
	for i := 1; i < rem; i++ {
		for j := i; j > 0 && frac[order[j]] > frac[order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	s := c.samples
	prevF := 1.0
	off := base
	for o := range c.out {
		dst[o] = 0
	}
	for k := 0; k <= rem; k++ {
		var f float64
		if k < rem {
			f = frac[order[k]]
		}
		w := prevF - f
		if w != 0 {
			for o := range c.out {
				dst[o] += w * float64(s[off+o])
			}
		}
		if k < rem {
			if f == 0 {
				break
			}
			off += step[order[k]]
			prevF = f
		}
	}
}

// parseLUT reads an A2Bx tag of type mft1, mft2 or mAB whose input has
// channels device channels and whose output is the 3-channel PCS.
func parseLUT(tag string, b []byte, channels int) (*lut, error) {
	typ, err := checkType(tag, b, "mft1", "mft2", "mAB ")
	if err != nil {
		return nil, err
	}
	if len(b) < 32 {
		return nil, invalidf("LUT %q of %d bytes is too short for its header", tag, len(b))
	}
	in, out := int(b[8]), int(b[9])
	if in != channels || out != 3 {
		return nil, invalidf("LUT %q maps %d to %d channels; the profile needs %d to 3", tag, in, out, channels)
	}
	if in < 1 || in > maxInputChannels {
		return nil, invalidf("LUT %q has %d input channels (limit %d)", tag, in, maxInputChannels)
	}
	if typ == "mAB " {
		return parseMAB(tag, b, in, out)
	}
	return parseMFT(tag, b, typ == "mft2", in, out)
}

func parseMFT(tag string, b []byte, wide bool, in, out int) (*lut, error) {
	be := binary.BigEndian
	g := int(b[10])
	if g < 2 {
		return nil, invalidf("LUT %q has %d grid points per channel (want at least 2)", tag, g)
	}
	inEntries, outEntries, pos, size := 256, 256, 48, 1
	if wide {
		if len(b) < 52 {
			return nil, invalidf("LUT %q of %d bytes is too short for its header", tag, len(b))
		}
		inEntries, outEntries, pos, size = int(be.Uint16(b[48:])), int(be.Uint16(b[50:])), 52, 2
		if inEntries < 2 || inEntries > maxTableEntries || outEntries < 2 || outEntries > maxTableEntries {
			return nil, invalidf("LUT %q has %d input and %d output table entries (want 2 to %d)", tag, inEntries, outEntries, maxTableEntries)
		}
	}
	var grid [maxInputChannels]int
	for i := range in {
		grid[i] = g
	}
	values, err := clutValues(tag, grid[:in], out)
	if err != nil {
		return nil, err
	}
	need := (in*inEntries + values + out*outEntries) * size
	if pos+need > len(b) {
		return nil, invalidf("LUT %q needs %d bytes of tables and grid but has %d", tag, need, len(b)-pos)
	}
	read := func(i int) float64 {
		if wide {
			return float64(be.Uint16(b[pos+2*i:])) / 65535
		}
		return float64(b[pos+i]) / 255
	}
	table := func(n int) *curve {
		t := make([]float64, n)
		for i := range t {
			t[i] = read(i)
		}
		pos += n * size
		c := &curve{kind: curveTable, table: t}
		if isIdentityTable(t) {
			c = &curve{kind: curveIdentity}
		}
		return c
	}
	l := &lut{in: in, out: out, enc: pcsEncV4}
	if wide {
		l.enc = pcsEncLab2
	}
	for range in {
		l.a = append(l.a, table(inEntries))
	}
	cl := newCLUT(grid[:in], out, values)
	for i := range cl.samples {
		cl.samples[i] = float32(read(i))
	}
	pos += values * size
	l.clut = cl
	for range out {
		l.b = append(l.b, table(outEntries))
	}
	return l, nil
}

func isIdentityTable(t []float64) bool {
	for i, v := range t {
		if math.Abs(v-float64(i)/float64(len(t)-1)) > 0.5/65535 {
			return false
		}
	}
	return true
}

// clutValues checks a CLUT's grid and returns its number of values,
// refusing, before anything is allocated, a grid beyond maxCLUTValues.
func clutValues(tag string, grid []int, out int) (int, error) {
	n := out
	for i, g := range grid {
		if g < 2 {
			return 0, invalidf("CLUT of %q has %d grid points in input %d (want at least 2)", tag, g, i)
		}
		n *= g
		if n > maxCLUTValues {
			return 0, invalidf("CLUT of %q with grid %v and %d outputs exceeds the limit of %d values", tag, grid, out, maxCLUTValues)
		}
	}
	return n, nil
}

func newCLUT(grid []int, out, values int) *clut {
	c := &clut{n: len(grid), out: out, samples: make([]float32, values)}
	stride := out
	for i := len(grid) - 1; i >= 0; i-- {
		c.grid[i] = grid[i]
		c.stride[i] = stride
		stride *= grid[i]
	}
	return c
}

func parseMAB(tag string, b []byte, in, out int) (*lut, error) {
	be := binary.BigEndian
	offB, offMat, offM, offCLUT, offA := be.Uint32(b[12:]), be.Uint32(b[16:]), be.Uint32(b[20:]), be.Uint32(b[24:]), be.Uint32(b[28:])
	at := func(what string, off uint32, min int) ([]byte, error) {
		if off < 32 || uint64(off)+uint64(min) > uint64(len(b)) {
			return nil, invalidf("%s of LUT %q at offset %d lies outside its %d bytes", what, tag, off, len(b))
		}
		return b[off:], nil
	}
	curves := func(what string, off uint32, n int) ([]*curve, error) {
		p, err := at(what, off, 12)
		if err != nil {
			return nil, err
		}
		cs := make([]*curve, n)
		for i := range n {
			c, size, err := parseCurve(tag+" "+what, p)
			if err != nil {
				return nil, err
			}
			cs[i] = c
			size = (size + 3) &^ 3
			if size > len(p) {
				size = len(p)
			}
			p = p[size:]
		}
		return cs, nil
	}
	l := &lut{in: in, out: out, enc: pcsEncV4}
	if offB == 0 {
		return nil, invalidf("LUT %q has no B curves", tag)
	}
	var err error
	if l.b, err = curves("B curves", offB, out); err != nil {
		return nil, err
	}
	if offMat != 0 {
		p, err := at("matrix", offMat, 48)
		if err != nil {
			return nil, err
		}
		var m [12]float64
		for i := range m {
			m[i] = s15(p[4*i:])
		}
		l.matrix = &m
	}
	if offM != 0 {
		if l.m, err = curves("M curves", offM, out); err != nil {
			return nil, err
		}
	}
	if offCLUT != 0 {
		p, err := at("CLUT", offCLUT, 20)
		if err != nil {
			return nil, err
		}
		grid := make([]int, in)
		for i := range grid {
			grid[i] = int(p[i])
		}
		prec := int(p[16])
		if prec != 1 && prec != 2 {
			return nil, invalidf("CLUT of %q has precision %d (want 1 or 2 bytes)", tag, prec)
		}
		values, err := clutValues(tag, grid, out)
		if err != nil {
			return nil, err
		}
		if 20+values*prec > len(p) {
			return nil, invalidf("CLUT of %q needs %d bytes but has %d", tag, 20+values*prec, len(p))
		}
		cl := newCLUT(grid, out, values)
		for i := range cl.samples {
			if prec == 1 {
				cl.samples[i] = float32(p[20+i]) / 255
			} else {
				cl.samples[i] = float32(be.Uint16(p[20+2*i:])) / 65535
			}
		}
		l.clut = cl
	} else if in != out {
		return nil, invalidf("LUT %q maps %d to %d channels without a CLUT", tag, in, out)
	}
	if offA != 0 {
		if l.a, err = curves("A curves", offA, in); err != nil {
			return nil, err
		}
	} else if offCLUT != 0 {
		return nil, invalidf("LUT %q has a CLUT but no A curves", tag)
	}
	return l, nil
}

// pcs decodes the LUT's normalised output to XYZ (D50, Y of white 1).
func (l *lut) pcs(v []float64, lab bool) xyz {
	if !lab {
		const k = 65535.0 / 32768
		return xyz{v[0] * k, v[1] * k, v[2] * k}
	}
	var L, a, bb float64
	if l.enc == pcsEncLab2 {
		L = v[0] * 65535 / 65280 * 100
		a = v[1]*65535/256 - 128
		bb = v[2]*65535/256 - 128
	} else {
		L = v[0] * 100
		a = v[1]*255 - 128
		bb = v[2]*255 - 128
	}
	return labToXYZ(L, a, bb)
}
