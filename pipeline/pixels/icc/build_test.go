package icc

import (
	"encoding/binary"
	"math"
	"sort"
	"testing"
)

// This file writes ICC profiles for the tests: the standard RGB spaces from
// their published primaries and transfer functions, LUT profiles of every
// type, and hostile variants.

type tagSpec struct {
	sig  string
	data []byte
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func fixed(v float64) []byte { return be32(uint32(int32(math.Round(v * 65536)))) }

// buildProfile lays out a profile: header, tag table, then each tag's data
// padded to 4 bytes.
func buildProfile(version uint32, class, space, pcs string, tags []tagSpec) []byte {
	h := make([]byte, headerSize)
	binary.BigEndian.PutUint32(h[8:], version)
	copy(h[12:], class)
	copy(h[16:], space)
	copy(h[20:], pcs)
	copy(h[36:], "acsp")
	copy(h[68:], append(append(fixed(d50[0]), fixed(d50[1])...), fixed(d50[2])...))
	out := append(h, be32(uint32(len(tags)))...)
	off := len(out) + 12*len(tags)
	var body []byte
	for _, t := range tags {
		out = append(out, t.sig...)
		out = append(out, be32(uint32(off+len(body)))...)
		out = append(out, be32(uint32(len(t.data)))...)
		body = append(body, t.data...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	out = append(out, body...)
	binary.BigEndian.PutUint32(out[0:], uint32(len(out)))
	return out
}

func xyzTag(v xyz) []byte {
	b := []byte("XYZ \x00\x00\x00\x00")
	for _, x := range v {
		b = append(b, fixed(x)...)
	}
	return b
}

func sf32Tag(m mat3) []byte {
	b := []byte("sf32\x00\x00\x00\x00")
	for _, r := range m {
		for _, x := range r {
			b = append(b, fixed(x)...)
		}
	}
	return b
}

func paraTag(fn int, p ...float64) []byte {
	b := []byte("para\x00\x00\x00\x00")
	b = binary.BigEndian.AppendUint16(b, uint16(fn))
	b = append(b, 0, 0)
	for _, x := range p {
		b = append(b, fixed(x)...)
	}
	return b
}

func curvGamma(g float64) []byte {
	b := append([]byte("curv\x00\x00\x00\x00"), be32(1)...)
	return binary.BigEndian.AppendUint16(b, uint16(math.Round(g*256)))
}

func curvTable(n int, f func(float64) float64) []byte {
	b := append([]byte("curv\x00\x00\x00\x00"), be32(uint32(n))...)
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, uint16(math.Round(clamp01(f(float64(i)/float64(n-1)))*65535)))
	}
	return b
}

// rgbSpace describes an RGB colour space by its chromaticities and a TRC
// tag shared by its three channels.
type rgbSpace struct {
	prim  [3][2]float64
	white [2]float64
	trc   []byte
}

var (
	// Display P3: DCI-P3 primaries, D65, the sRGB transfer function.
	displayP3 = rgbSpace{[3][2]float64{{0.680, 0.320}, {0.265, 0.690}, {0.150, 0.060}}, [2]float64{0.3127, 0.3290},
		paraTag(3, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045)}
	// Rec. 2020 with its own transfer function (para type 3).
	rec2020 = rgbSpace{[3][2]float64{{0.708, 0.292}, {0.170, 0.797}, {0.131, 0.046}}, [2]float64{0.3127, 0.3290},
		paraTag(3, 1/0.45, 1/1.09929682680944, 0.09929682680944/1.09929682680944, 1/4.5, 0.081242858298635)}
	// ProPhoto (ROMM RGB): D50, gamma 1.8.
	proPhoto = rgbSpace{[3][2]float64{{0.7347, 0.2653}, {0.1596, 0.8404}, {0.0366, 0.0001}}, [2]float64{0.3457, 0.3585},
		curvGamma(1.8)}
	// sRGB written with a 'para' curve, as a v4 profile.
	srgbPara = rgbSpace{[3][2]float64{{0.64, 0.33}, {0.30, 0.60}, {0.15, 0.06}}, [2]float64{0.3127, 0.3290},
		paraTag(3, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045)}
)

// matrixProfile writes a v4 display profile of s: colorants adapted to D50
// with Bradford, wtpt D50 and the chad tag that adapts s's white to D50.
func matrixProfile(s rgbSpace) []byte {
	m := rgbToXYZD50(s.prim, s.white)
	col := func(c int) xyz { return xyz{m[0][c], m[1][c], m[2][c]} }
	w := xyToXYZ(s.white[0], s.white[1])
	return buildProfile(0x04300000, "mntr", "RGB ", "XYZ ", []tagSpec{
		{"wtpt", xyzTag(d50)},
		{"chad", sf32Tag(adaptation(w, d50))},
		{"rXYZ", xyzTag(col(0))}, {"gXYZ", xyzTag(col(1))}, {"bXYZ", xyzTag(col(2))},
		{"rTRC", s.trc}, {"gTRC", s.trc}, {"bTRC", s.trc},
	})
}

// inkModel is a smooth made-up CMYK printing model for synthetic LUT
// profiles: each ink absorbs its own band, K darkens, paper is slightly warm.
func inkModel(in []float64) (l, a, b float64) {
	c, m, y, k := in[0], in[1], in[2], in[3]
	r := (1 - 0.92*c) * (1 - 0.08*m) * (1 - 0.02*y)
	g := (1 - 0.25*c) * (1 - 0.88*m) * (1 - 0.08*y)
	bl := (1 - 0.10*c) * (1 - 0.30*m) * (1 - 0.90*y)
	kk := 1 - 0.93*math.Pow(k, 1.2)
	v := xyzFromLinearSRGB(xyz{r * kk, g * kk, bl * kk})
	v = xyz{v[0] * 0.97, v[1] * 0.97, v[2] * 0.93}
	return xyzToLab(v, d50)
}

func xyzFromLinearSRGB(v xyz) xyz { return srgbToXYZ.mulVec(v) }

// mabCMYK writes a v4 CMYK output profile whose A2B0 is an mAB with every
// element: A curves, a 4-D CLUT of grid points, M curves, a matrix and B
// curves, encoding Lab.
func mabCMYK(grid int) []byte {
	aCurve := paraTag(0, 1.0)
	curves := func(n int, c []byte) []byte {
		var b []byte
		for range n {
			b = append(b, c...)
			for len(b)%4 != 0 {
				b = append(b, 0)
			}
		}
		return b
	}
	// CLUT: Lab encoded as v4 (L/100, (a+128)/255), then an identity-ish
	// M curve (gamma 1), a matrix that scales by 1, B curves identity.
	var clutData []byte
	for i := range 16 {
		if i < 4 {
			clutData = append(clutData, byte(grid))
		} else {
			clutData = append(clutData, 0)
		}
	}
	clutData = append(clutData, 2, 0, 0, 0)
	idx := make([]int, 4)
	in := make([]float64, 4)
	for {
		for d := range 4 {
			in[d] = float64(idx[d]) / float64(grid-1)
		}
		l, a, b := inkModel(in)
		for _, v := range []float64{l / 100, (a + 128) / 255, (b + 128) / 255} {
			clutData = binary.BigEndian.AppendUint16(clutData, uint16(math.Round(clamp01(v)*65535)))
		}
		d := 3
		for ; d >= 0; d-- {
			if idx[d]++; idx[d] < grid {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			break
		}
	}
	for len(clutData)%4 != 0 {
		clutData = append(clutData, 0)
	}
	var matrix []byte
	for i, v := range []float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0} {
		_ = i
		matrix = append(matrix, fixed(v)...)
	}
	bCurves := curves(3, paraTag(0, 1.0))
	mCurves := curves(3, curvGamma(1.0))
	aCurves := curves(4, aCurve)
	hdr := 32
	offB := hdr
	offMat := offB + len(bCurves)
	offM := offMat + len(matrix)
	offCLUT := offM + len(mCurves)
	offA := offCLUT + len(clutData)
	t := []byte("mAB \x00\x00\x00\x00")
	t = append(t, 4, 3, 0, 0)
	for _, o := range []int{offB, offMat, offM, offCLUT, offA} {
		t = append(t, be32(uint32(o))...)
	}
	t = append(t, bCurves...)
	t = append(t, matrix...)
	t = append(t, mCurves...)
	t = append(t, clutData...)
	t = append(t, aCurves...)
	return buildProfile(0x04300000, "prtr", "CMYK", "Lab ", []tagSpec{
		{"wtpt", xyzTag(d50)},
		{"A2B0", t},
	})
}

// mft1RGB writes a v2 RGB input profile whose A2B0 is an 8-bit mft1 LUT to
// XYZ, sampling Display P3 on a 9-point grid.
func mft1RGB() []byte {
	const g = 9
	m := rgbToXYZD50(displayP3.prim, displayP3.white)
	t := []byte("mft1\x00\x00\x00\x00")
	t = append(t, 3, 3, g, 0)
	for _, v := range []float64{1, 0, 0, 0, 1, 0, 0, 0, 1} {
		t = append(t, fixed(v)...)
	}
	for range 3 { // input tables: the sRGB curve, so the grid is linear
		for i := range 256 {
			t = append(t, byte(math.Round(srgbCurve.eval(float64(i)/255)*255)))
		}
	}
	for r := range g {
		for gg := range g {
			for b := range g {
				v := m.mulVec(xyz{float64(r) / (g - 1), float64(gg) / (g - 1), float64(b) / (g - 1)})
				for _, x := range v {
					t = append(t, byte(math.Round(clamp01(x*32768/65535)*255)))
				}
			}
		}
	}
	for range 3 {
		for i := range 256 {
			t = append(t, byte(i))
		}
	}
	return buildProfile(0x02100000, "scnr", "RGB ", "XYZ ", []tagSpec{
		{"wtpt", xyzTag(d50)},
		{"A2B0", t},
	})
}

// mft2Header writes an mft2 tag header for in inputs and a grid of g
// points, with the given table sizes, and nothing after it.
func mft2Header(in, g, inEntries, outEntries int) []byte {
	t := []byte("mft2\x00\x00\x00\x00")
	t = append(t, byte(in), 3, byte(g), 0)
	for _, v := range []float64{1, 0, 0, 0, 1, 0, 0, 0, 1} {
		t = append(t, fixed(v)...)
	}
	t = binary.BigEndian.AppendUint16(t, uint16(inEntries))
	return binary.BigEndian.AppendUint16(t, uint16(outEntries))
}

// tagOffset returns the offset of the tag table entry of sig in p.
func tagEntryOffset(p []byte, s string) int {
	n := int(binary.BigEndian.Uint32(p[headerSize:]))
	for i := range n {
		o := headerSize + 4 + 12*i
		if string(p[o:o+4]) == s {
			return o
		}
	}
	return -1
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// mustTransform parses data and builds its transform, ending the test on
// an error.
func mustTransform(tb testing.TB, data []byte) (*Profile, *Transform) {
	tb.Helper()
	p, err := Parse(data)
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := NewTransform(p)
	if err != nil {
		tb.Fatal(err)
	}
	return p, tr
}

// a2b1Only turns a profile's A2B0 into its A2B1 and makes it an input
// (scanner) profile, whose relative colorimetric black point lcms finds
// from the darkest colorant, as the package does.
func a2b1Only(p []byte) []byte {
	p = append([]byte(nil), p...)
	copy(p[12:], "scnr")
	copy(p[tagEntryOffset(p, "A2B0"):], "A2B1")
	return p
}
