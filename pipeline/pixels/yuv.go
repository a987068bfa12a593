package pixels

import "math"

// yuvToRGB converts rows of Y'CbCr samples of one bit depth to 8-bit
// R'G'B' by ITU-T H.273 matrix coefficients and range, through tables of
// 16.16 fixed-point terms (one lookup a term, two to five a pixel).
type yuvToRGB struct {
	mask int32 // the sample values' bits, which keeps corrupt samples in the tables
	// r = y + cr2r, g = y - cr2g - cb2g, b = y + cb2b (or, for the
	// identity and YCgCo matrices, as kind says).
	y, cr2r, cr2g, cb2g, cb2b []int32
	kind                      int
}

// The kinds of matrix yuvToRGB knows.
const (
	yuvMatrix   = iota // Kr, Kb coefficients
	yuvIdentity        // 0: G, B, R stored as they are (GBR)
	yuvYCgCo           // 8: Y, Cg, Co
)

// matrixK are the luma coefficients (Kr, Kb) of the H.273 matrices this
// package converts with them; any other (2, unspecified, among them) is
// taken as BT.601's, as libavif does.
var matrixK = map[int][2]float64{
	1:  {0.2126, 0.0722}, // BT.709
	4:  {0.30, 0.11},     // FCC
	5:  {0.299, 0.114},   // BT.601 625
	6:  {0.299, 0.114},   // BT.601 525
	7:  {0.212, 0.087},   // SMPTE 240M
	9:  {0.2627, 0.0593}, // BT.2020 non-constant luminance
	10: {0.2627, 0.0593}, // BT.2020 constant luminance, approximated
}

// newYUVToRGB returns the converter for samples of bits bits coded with
// the matrix and range given.
func newYUVToRGB(bits, matrix int, full bool) *yuvToRGB {
	n := 1 << bits
	maxv := float64(n - 1)
	scale := float64(int(1) << (bits - 8))
	// luma and chroma map a sample to its normalized value: 0..1, and
	// -0.5..0.5 around the middle.
	luma := func(v int) float64 {
		if full {
			return float64(v) / maxv
		}
		return (float64(v) - 16*scale) / (219 * scale)
	}
	chroma := func(v int) float64 {
		if full {
			return (float64(v) - float64(n/2)) / maxv
		}
		return (float64(v) - 128*scale) / (224 * scale)
	}
	fix := func(x float64) int32 { return int32(math.Round(x * 255 * 65536)) }
	c := &yuvToRGB{mask: int32(n - 1), y: make([]int32, n), cr2r: make([]int32, n), cr2g: make([]int32, n),
		cb2g: make([]int32, n), cb2b: make([]int32, n)}
	kr, kb := 0.299, 0.114
	switch k, ok := matrixK[matrix]; {
	case matrix == 0:
		c.kind = yuvIdentity
	case matrix == 8:
		c.kind = yuvYCgCo
	case ok:
		kr, kb = k[0], k[1]
	}
	kg := 1 - kr - kb
	for v := range n {
		c.y[v] = fix(luma(v))
		switch c.kind {
		case yuvIdentity:
			// Every plane is a full colour channel.
			c.cb2b[v], c.cr2r[v] = fix(luma(v)), fix(luma(v))
		case yuvYCgCo:
			c.cb2g[v], c.cr2r[v] = fix(chroma(v)), fix(chroma(v))
		default:
			c.cr2r[v] = fix(2 * (1 - kr) * chroma(v))
			c.cb2b[v] = fix(2 * (1 - kb) * chroma(v))
			c.cr2g[v] = fix(2 * kr * (1 - kr) / kg * chroma(v))
			c.cb2g[v] = fix(2 * kb * (1 - kb) / kg * chroma(v))
		}
	}
	return c
}

// fixed8 rounds a 16.16 value to a byte.
func fixed8(v int32) uint8 {
	v = (v + 1<<15) >> 16
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// pixel converts one sample triple to R, G, B.
func (c *yuvToRGB) pixel(y, cb, cr int32) (r, g, b uint8) {
	y, cb, cr = y&c.mask, cb&c.mask, cr&c.mask
	switch c.kind {
	case yuvIdentity:
		return fixed8(c.cr2r[cr]), fixed8(c.y[y]), fixed8(c.cb2b[cb])
	case yuvYCgCo:
		yy, cg, co := c.y[y], c.cb2g[cb], c.cr2r[cr]
		t := yy - cg
		return fixed8(t + co), fixed8(yy + cg), fixed8(t - co)
	}
	yy := c.y[y]
	return fixed8(yy + c.cr2r[cr]), fixed8(yy - c.cr2g[cr] - c.cb2g[cb]), fixed8(yy + c.cb2b[cb])
}

// gray converts a luma sample alone (a monochrome picture) to its level.
func (c *yuvToRGB) gray(y int32) uint8 { return fixed8(c.y[y&c.mask]) }
