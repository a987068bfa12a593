package jpegdec

import "math"

// Reduced-size inverse DCTs. An N-point output (N = 4, 2, 1) is computed
// from the top-left NxN dequantized coefficients with the N-point IDCT
// basis, normalised so that each output sample approximates the mean of
// the (8/N)x(8/N) full-size pixels it stands for. This is the approach of
// libjpeg's scaled decoding (jidctred.c).

// clamp8 level-shifts an IDCT output by 128 and clamps it to [0, 255].
func clamp8(v int32) byte {
	v += 128
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return byte(v)
}

// dcPixel returns the value of a block whose only non-zero coefficient is
// the dequantized DC dc. It matches the 8x8 IDCT of such a block exactly.
func dcPixel(dc int32) byte {
	return clamp8((dc + 4) >> 3)
}

// storeBlock level-shifts, clamps and writes an 8x8 IDCT output.
func storeBlock(b *[64]int32, dst []byte, stride int) {
	for y := 0; y < 8; y++ {
		row := dst[y*stride : y*stride+8 : y*stride+8]
		s := b[y*8 : y*8+8 : y*8+8]
		for x := range 8 {
			row[x] = clamp8(s[x])
		}
	}
}

// idct2 computes the 2x2 IDCT from b[0], b[1], b[8], b[9].
func idct2(b *[64]int32, dst []byte, stride int) {
	f00, f01, f10, f11 := b[0], b[1], b[8], b[9]
	a, s := f00+f10, f00-f10
	dst[0] = clamp8((a + f01 + f11 + 4) >> 3)
	dst[1] = clamp8((a - f01 - f11 + 4) >> 3)
	dst[stride] = clamp8((s + f01 - f11 + 4) >> 3)
	dst[stride+1] = clamp8((s - f01 + f11 + 4) >> 3)
}

// 4-point IDCT constants: cos(k*pi/8)/2 (and 1/(2*sqrt 2) for DC), scaled
// by 2^12.
const (
	i4c4 = 1448 // 4096 * cos(pi/4) / 2
	i4c1 = 1892 // 4096 * cos(pi/8) / 2
	i4c3 = 784  // 4096 * cos(3*pi/8) / 2
)

// idct4 computes the 4x4 IDCT from the top-left 4x4 coefficients.
func idct4(b *[64]int32, dst []byte, stride int) {
	var t [16]int32
	// Rows (horizontal frequencies) first; keep 12 fraction bits minus 2.
	for r := 0; r < 4; r++ {
		s := b[r*8 : r*8+4 : r*8+4]
		f0, f1, f2, f3 := s[0], s[1], s[2], s[3]
		if f1 == 0 && f2 == 0 && f3 == 0 {
			v := f0 * i4c4 >> 2
			t[r*4], t[r*4+1], t[r*4+2], t[r*4+3] = v, v, v, v
			continue
		}
		e0 := (f0 + f2) * i4c4
		e1 := (f0 - f2) * i4c4
		o0 := f1*i4c1 + f3*i4c3
		o1 := f1*i4c3 - f3*i4c1
		t[r*4] = (e0 + o0) >> 2
		t[r*4+1] = (e1 + o1) >> 2
		t[r*4+2] = (e1 - o1) >> 2
		t[r*4+3] = (e0 - o0) >> 2
	}
	// Columns. Inputs carry 10 fraction bits, outputs 22; round to 0.
	const sh = 22
	const half = 1 << (sh - 1)
	for x := 0; x < 4; x++ {
		f0, f1, f2, f3 := int64(t[x]), int64(t[4+x]), int64(t[8+x]), int64(t[12+x])
		e0 := (f0 + f2) * i4c4
		e1 := (f0 - f2) * i4c4
		o0 := f1*i4c1 + f3*i4c3
		o1 := f1*i4c3 - f3*i4c1
		dst[x] = clamp8(int32((e0 + o0 + half) >> sh))
		dst[stride+x] = clamp8(int32((e1 + o1 + half) >> sh))
		dst[2*stride+x] = clamp8(int32((e1 - o1 + half) >> sh))
		dst[3*stride+x] = clamp8(int32((e0 - o0 + half) >> sh))
	}
}

// idctTab[l][n][u] is the N-point (N = 1<<l) IDCT basis C(u)/2 *
// cos((2n+1)u*pi/2N), with C(0) = 1/sqrt 2 and C(u) = 1 otherwise.
var idctTab = func() (t [4][8][8]float32) {
	for l := range 4 {
		N := 1 << l
		for n := 0; n < N; n++ {
			for u := 0; u < N; u++ {
				c := 0.5
				if u == 0 {
					c = 0.5 / math.Sqrt2
				}
				t[l][n][u] = float32(c * math.Cos(float64((2*n+1)*u)*math.Pi/float64(2*N)))
			}
		}
	}
	return t
}()

var log2 = [9]uint8{1: 0, 2: 1, 4: 2, 8: 3}

// idctRect computes a non-square nx x ny reduced IDCT (nx, ny in
// {1, 2, 4, 8}) from the top-left ny rows and nx columns of coefficients.
// It serves subsampled components whose horizontal and vertical ratios
// differ, such as 4:2:2 chroma.
func idctRect(b *[64]int32, nx, ny int, dst []byte, stride int) {
	tx, ty := &idctTab[log2[nx]], &idctTab[log2[ny]]
	var tmp [8][8]float32
	for u := 0; u < nx; u++ {
		for y := 0; y < ny; y++ {
			var s float32
			for v := 0; v < ny; v++ {
				s += ty[y][v] * float32(b[v*8+u])
			}
			tmp[y][u] = s
		}
	}
	for y := 0; y < ny; y++ {
		row := dst[y*stride : y*stride+nx]
		for x := range row {
			s := float32(128.5)
			for u := 0; u < nx; u++ {
				s += tx[x][u] * tmp[y][u]
			}
			switch {
			case s <= 0:
				row[x] = 0
			case s >= 255:
				row[x] = 255
			default:
				row[x] = byte(s)
			}
		}
	}
}
