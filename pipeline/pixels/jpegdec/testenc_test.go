package jpegdec

import (
	"bytes"
	"image"
	"math"
)

// A small test-only JPEG encoder. image/jpeg cannot write progressive
// files, and the big benchmark inputs must be generated at run time, so
// this writes 4:2:0 YCbCr JPEGs with the Annex K tables either as baseline
// or as progressive with spectral selection and DC successive
// approximation. (Committed fixtures from libjpeg cover AC successive
// approximation.)

var specBits = [4][16]byte{
	{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
	{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125},
	{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
	{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119},
}

var specVals = [4][]byte{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
	{
		0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
		0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
		0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
		0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
		0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
		0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
		0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
		0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	},
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
	{
		0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
		0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
		0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
		0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
		0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
		0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
		0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
		0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
		0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
		0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	},
}

// Annex K quantization tables in natural order.
var specQuant = [2][64]int{
	{
		16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
		14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
		18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
		49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
	},
	{
		17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
		24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
	},
}

type testCode struct{ code, size [256]uint32 }

func buildCodes(bits [16]byte, vals []byte) *testCode {
	c := new(testCode)
	code, k := uint32(0), 0
	for l := 1; l <= 16; l++ {
		for i := 0; i < int(bits[l-1]); i++ {
			c.code[vals[k]], c.size[vals[k]] = code, uint32(l)
			code++
			k++
		}
		code <<= 1
	}
	return c
}

type bitWriter struct {
	out  bytes.Buffer
	acc  uint32
	nacc uint
}

func (w *bitWriter) put(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.nacc++
		if w.nacc == 8 {
			b := byte(w.acc)
			w.out.WriteByte(b)
			if b == 0xFF {
				w.out.WriteByte(0)
			}
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *bitWriter) flush() {
	for w.nacc != 0 {
		w.put(1, 1)
	}
}

// magnitude returns the JPEG size category and bits of v.
func magnitude(v int32) (uint32, uint) {
	a := v
	if a < 0 {
		a = -a
		v--
	}
	s := uint(0)
	for a > 0 {
		s++
		a >>= 1
	}
	return uint32(v) & (1<<s - 1), s
}

// testPlane is one component's quantized coefficients in zig-zag order,
// for a block grid padded to whole MCUs.
type testPlane struct {
	bw, bh   int // padded block grid
	cbw, cbh int // blocks covering the component
	coef     [][64]int32
}

var dctCos = func() (t [8][8]float64) {
	for x := 0; x < 8; x++ {
		for u := 0; u < 8; u++ {
			c := 1.0
			if u == 0 {
				c = 1 / math.Sqrt2
			}
			t[x][u] = c / 2 * math.Cos(float64((2*x+1)*u)*math.Pi/16)
		}
	}
	return t
}()

func fdctQuant(src *[64]float64, q *[64]int) (out [64]int32) {
	var tmp [64]float64
	for y := 0; y < 8; y++ {
		for u := 0; u < 8; u++ {
			s := 0.0
			for x := 0; x < 8; x++ {
				s += dctCos[x][u] * src[y*8+x]
			}
			tmp[y*8+u] = s
		}
	}
	for u := 0; u < 8; u++ {
		for v := 0; v < 8; v++ {
			s := 0.0
			for y := 0; y < 8; y++ {
				s += dctCos[y][v] * tmp[y*8+u]
			}
			out[zigOf[v*8+u]] = int32(math.Round(s / float64(q[v*8+u])))
		}
	}
	return out
}

var zigOf = func() (z [64]int) {
	for k, n := range unzig {
		z[n] = k
	}
	return z
}()

// encodeTest encodes img as 4:2:0 YCbCr at the given quality.
func encodeTest(img *image.RGBA, quality int, progressive bool) []byte {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	scaleQ := 5000 / quality
	if quality >= 50 {
		scaleQ = 200 - 2*quality
	}
	var quant [2][64]int
	for t := range quant {
		for i, v := range specQuant[t] {
			quant[t][i] = min(255, max(1, (v*scaleQ+50)/100))
		}
	}
	mcusX, mcusY := (w+15)/16, (h+15)/16
	at := func(x, y int) (float64, float64, float64) {
		x, y = min(x, w-1), min(y, h-1)
		p := img.Pix[y*img.Stride+4*x:]
		r, g, b := float64(p[0]), float64(p[1]), float64(p[2])
		return 0.299*r + 0.587*g + 0.114*b,
			-0.168736*r - 0.331264*g + 0.5*b + 128,
			0.5*r - 0.418688*g - 0.081312*b + 128
	}
	planes := [3]*testPlane{}
	for ci := range planes {
		f := 2
		if ci > 0 {
			f = 1
		}
		p := &testPlane{bw: mcusX * f, bh: mcusY * f}
		cw, ch := (w*f+1)/2, (h*f+1)/2
		p.cbw, p.cbh = (cw+7)/8, (ch+7)/8
		p.coef = make([][64]int32, p.bw*p.bh)
		qt := &quant[min(ci, 1)]
		var src [64]float64
		for by := 0; by < p.bh; by++ {
			for bx := 0; bx < p.bw; bx++ {
				for y := 0; y < 8; y++ {
					for x := 0; x < 8; x++ {
						var v float64
						if ci == 0 {
							v, _, _ = at(bx*8+x, by*8+y)
						} else {
							// 2x2 box-filtered chroma.
							for dy := 0; dy < 2; dy++ {
								for dx := 0; dx < 2; dx++ {
									_, cb, cr := at(2*(bx*8+x)+dx, 2*(by*8+y)+dy)
									if ci == 1 {
										v += cb / 4
									} else {
										v += cr / 4
									}
								}
							}
						}
						src[y*8+x] = v - 128
					}
				}
				p.coef[by*p.bw+bx] = fdctQuant(&src, qt)
			}
		}
		planes[ci] = p
	}

	var out bytes.Buffer
	seg := func(m byte, payload ...byte) {
		out.Write([]byte{0xFF, m, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)})
		out.Write(payload)
	}
	out.Write([]byte{0xFF, 0xD8})
	for t := range quant {
		p := []byte{byte(t)}
		for k := 0; k < 64; k++ {
			p = append(p, byte(quant[t][unzig[k]]))
		}
		seg(0xDB, p...)
	}
	sof := byte(0xC0)
	if progressive {
		sof = 0xC2
	}
	seg(sof, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	var codes [4]*testCode
	for i := range codes {
		p := []byte{byte(i/2 | (i%2)<<4)}
		p = append(p, specBits[i][:]...)
		p = append(p, specVals[i]...)
		seg(0xC4, p...)
		codes[i] = buildCodes(specBits[i], specVals[i])
	}
	huff := func(bw *bitWriter, c *testCode, sym byte) { bw.put(c.code[sym], uint(c.size[sym])) }

	// scan writes one scan; blockFn encodes one block of component ci.
	scan := func(comps []int, ss, se, ah, al int, blockFn func(bw *bitWriter, ci int, b *[64]int32)) {
		p := []byte{byte(len(comps))}
		for _, ci := range comps {
			t := byte(0)
			if ci > 0 {
				t = 0x11
			}
			p = append(p, byte(ci+1), t)
		}
		p = append(p, byte(ss), byte(se), byte(ah<<4|al))
		seg(0xDA, p...)
		var bw bitWriter
		if len(comps) == 1 {
			pl := planes[comps[0]]
			for by := 0; by < pl.cbh; by++ {
				for bx := 0; bx < pl.cbw; bx++ {
					blockFn(&bw, comps[0], &pl.coef[by*pl.bw+bx])
				}
			}
		} else {
			for my := 0; my < mcusY; my++ {
				for mx := 0; mx < mcusX; mx++ {
					for _, ci := range comps {
						pl := planes[ci]
						f := pl.bw / mcusX
						for y := 0; y < f; y++ {
							for x := 0; x < f; x++ {
								blockFn(&bw, ci, &pl.coef[(my*f+y)*pl.bw+mx*f+x])
							}
						}
					}
				}
			}
		}
		bw.flush()
		out.Write(bw.out.Bytes())
	}
	var pred [3]int32
	dcFirst := func(al int) func(*bitWriter, int, *[64]int32) {
		pred = [3]int32{}
		return func(bw *bitWriter, ci int, b *[64]int32) {
			v := b[0] >> al
			bits, s := magnitude(v - pred[ci])
			pred[ci] = v
			huff(bw, codes[2*min(ci, 1)], byte(s))
			bw.put(bits, s)
		}
	}
	acFirst := func(ss, se int) func(*bitWriter, int, *[64]int32) {
		return func(bw *bitWriter, ci int, b *[64]int32) {
			c := codes[2*min(ci, 1)+1]
			run := 0
			for k := ss; k <= se; k++ {
				if b[k] == 0 {
					run++
					continue
				}
				for ; run > 15; run -= 16 {
					huff(bw, c, 0xF0)
				}
				bits, s := magnitude(b[k])
				huff(bw, c, byte(run<<4)|byte(s))
				bw.put(bits, s)
				run = 0
			}
			if run > 0 {
				huff(bw, c, 0x00)
			}
		}
	}
	if !progressive {
		dc := dcFirst(0)
		ac := acFirst(1, 63)
		scan([]int{0, 1, 2}, 0, 63, 0, 0, func(bw *bitWriter, ci int, b *[64]int32) {
			dc(bw, ci, b)
			ac(bw, ci, b)
		})
	} else {
		scan([]int{0, 1, 2}, 0, 0, 0, 1, dcFirst(1))
		scan([]int{0}, 1, 5, 0, 0, acFirst(1, 5))
		scan([]int{2}, 1, 63, 0, 0, acFirst(1, 63))
		scan([]int{1}, 1, 63, 0, 0, acFirst(1, 63))
		scan([]int{0}, 6, 63, 0, 0, acFirst(6, 63))
		scan([]int{0, 1, 2}, 0, 0, 1, 0, func(bw *bitWriter, ci int, b *[64]int32) {
			bw.put(uint32(b[0])&1, 1)
		})
	}
	out.Write([]byte{0xFF, 0xD9})
	return out.Bytes()
}
