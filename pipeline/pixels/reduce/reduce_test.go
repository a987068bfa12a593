package reduce

import (
	"bytes"
	"testing"
)

// TestAccumulator sums a 5×3 RGBA image in segments (as tiles arrive) at
// scale 2, with 8-bit and the same 16-bit samples (v*257), and checks
// both give the alpha-weighted box averages, partial boxes at the edges
// averaging the pixels that exist.
func TestAccumulator(t *testing.T) {
	const w, h, s = 5, 3, 2
	px := func(x, y int) [4]byte {
		return [4]byte{byte(10 * x), byte(20 * y), byte(x + y), byte(50 * (x + 1))}
	}
	want := func(ox, oy int) [4]byte {
		var r, g, b, a, n float64
		for y := oy * s; y < min(oy*s+s, h); y++ {
			for x := ox * s; x < min(ox*s+s, w); x++ {
				p := px(x, y)
				al := float64(p[3])
				r, g, b, a, n = r+float64(p[0])*al, g+float64(p[1])*al, b+float64(p[2])*al, a+al, n+1
			}
		}
		return [4]byte{byte(r/a + 0.5), byte(g/a + 0.5), byte(b/a + 0.5), byte(a/n + 0.5)}
	}
	for _, deep := range []bool{false, true} {
		acc := New(CeilDiv(w, s), 1, 4, true, deep)
		for oy := 0; oy < CeilDiv(h, s); oy++ {
			for y := oy * s; y < min(oy*s+s, h); y++ {
				// Two segments, split inside a box: columns 0-2 and 3-4.
				for _, seg := range [][2]int{{0, 3}, {3, 2}} {
					var p8 []byte
					var p16 []uint16
					for x := seg[0]; x < seg[0]+seg[1]; x++ {
						p := px(x, y)
						p8 = append(p8, p[:]...)
						for _, v := range p {
							p16 = append(p16, uint16(v)*257)
						}
					}
					if deep {
						acc.Add16(0, p16, seg[0], seg[1], s)
					} else {
						acc.Add8(0, p8, seg[0], seg[1], s)
					}
				}
			}
			out := make([]byte, 4*CeilDiv(w, s))
			acc.EmitRow(out, 0, w, s, min(oy*s+s, h)-oy*s)
			for ox := 0; ox < CeilDiv(w, s); ox++ {
				if w := want(ox, oy); !bytes.Equal(out[4*ox:4*ox+4], w[:]) {
					t.Errorf("deep %v: pixel %d,%d = %v, want %v", deep, ox, oy, out[4*ox:4*ox+4], w)
				}
			}
		}
	}
}

func TestScaleFor(t *testing.T) {
	for _, tc := range []struct{ w, h, bw, bh, want int }{
		{7071, 7071, 200, 200, 32}, {6000, 4000, 200, 200, 16}, {100, 100, 200, 200, 1},
		{65535, 399, 200, 200, 1}, {1 << 20, 1 << 20, 1, 1, MaxScale}, {0, 10, 1, 1, 1}, {10, 10, 0, 0, 1},
	} {
		if got := ScaleFor(tc.w, tc.h, tc.bw, tc.bh); got != tc.want {
			t.Errorf("ScaleFor(%d, %d, %d, %d) = %d, want %d", tc.w, tc.h, tc.bw, tc.bh, got, tc.want)
		}
	}
}
