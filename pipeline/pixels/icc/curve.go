package icc

import "math"

type curveKind uint8

const (
	curveIdentity curveKind = iota
	curveParam
	curveTable
)

// paraCount is the number of parameters of each 'para' function type.
var paraCount = [...]int{1, 3, 4, 5, 7}

// curve is a one-dimensional tone curve on [0, 1]: identity, one of the
// five parametric functions of the 'para' type (a plain gamma is type 0) or
// a sampled table interpolated linearly.
type curve struct {
	kind  curveKind
	fn    int
	p     [7]float64 // g, a, b, c, d, e, f
	table []float64
}

func clamp01(x float64) float64 {
	if x <= 0 || x != x { // NaN goes to 0
		return 0
	}
	if x >= 1 {
		return 1
	}
	return x
}

// pow is math.Pow for a base that rounding may have made slightly negative.
func pow(base, g float64) float64 {
	if base <= 0 {
		return 0
	}
	return math.Pow(base, g)
}

func (c *curve) eval(x float64) float64 {
	x = clamp01(x)
	switch c.kind {
	case curveIdentity:
		return x
	case curveTable:
		t := c.table
		pos := x * float64(len(t)-1)
		i := int(pos)
		if i >= len(t)-1 {
			return t[len(t)-1]
		}
		f := pos - float64(i)
		return t[i] + f*(t[i+1]-t[i])
	}
	g, a, b, cc, d, e, f := c.p[0], c.p[1], c.p[2], c.p[3], c.p[4], c.p[5], c.p[6]
	switch c.fn {
	case 0:
		return pow(x, g)
	case 1:
		if x >= -b/a {
			return pow(a*x+b, g)
		}
		return 0
	case 2:
		if x >= -b/a {
			return pow(a*x+b, g) + cc
		}
		return cc
	case 3:
		if x >= d {
			return pow(a*x+b, g)
		}
		return cc * x
	default:
		if x >= d {
			return pow(a*x+b, g) + e
		}
		return cc*x + f
	}
}

// sRGB's transfer function (IEC 61966-2-1) as lcms and the ICC write it:
// a 'para' curve of type 3.
var srgbCurve = &curve{kind: curveParam, fn: 3, p: [7]float64{2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045}}

// srgbEncode is the inverse of srgbCurve: linear light to sRGB's encoding.
func srgbEncode(l float64) float64 {
	if l <= 0.04045/12.92 {
		return clamp01(12.92 * l)
	}
	return clamp01(1.055*math.Pow(l, 1/2.4) - 0.055)
}

// D50, the ICC profile connection space's white, as lcms and the ICC
// specification round it.
var d50 = xyz{0.9642, 1.0, 0.8249}

// bradford is the Bradford cone-response matrix.
var bradford = mat3{
	{0.8951, 0.2664, -0.1614},
	{-0.7502, 1.7135, 0.0367},
	{0.0389, -0.0685, 1.0296},
}

// adaptation returns the Bradford matrix that maps colours seen under the
// white from to their corresponding colours under the white to.
func adaptation(from, to xyz) mat3 {
	cf, ct := bradford.mulVec(from), bradford.mulVec(to)
	var scale mat3
	for i := range 3 {
		scale[i][i] = ct[i] / cf[i]
	}
	inv, _ := bradford.inverse()
	return inv.mul(scale.mul(bradford))
}

// xyToXYZ returns the XYZ (Y = 1) of chromaticity x, y.
func xyToXYZ(x, y float64) xyz {
	return xyz{x / y, 1, (1 - x - y) / y}
}

// rgbToXYZD50 returns the matrix from linear RGB with the given primaries
// and white (chromaticities) to XYZ adapted to D50 with Bradford, the
// colorant matrix an ICC profile of that space carries.
func rgbToXYZD50(prim [3][2]float64, white [2]float64) mat3 {
	var m mat3
	for c, p := range prim {
		v := xyToXYZ(p[0], p[1])
		for r := range 3 {
			m[r][c] = v[r]
		}
	}
	w := xyToXYZ(white[0], white[1])
	inv, _ := m.inverse()
	s := inv.mulVec(w)
	for r := range 3 {
		for c := range 3 {
			m[r][c] *= s[c]
		}
	}
	return adaptation(w, d50).mul(m)
}

// srgbToXYZ is sRGB's colorant matrix (Rec. 709 primaries, D65 adapted to
// D50), built as lcms builds its sRGB profile; xyzToSRGB is its inverse.
var (
	srgbToXYZ    = rgbToXYZD50([3][2]float64{{0.64, 0.33}, {0.30, 0.60}, {0.15, 0.06}}, [2]float64{0.3127, 0.3290})
	xyzToSRGB, _ = srgbToXYZ.inverse()
)

func (m mat3) mulVec(v xyz) xyz {
	return xyz{
		m[0][0]*v[0] + m[0][1]*v[1] + m[0][2]*v[2],
		m[1][0]*v[0] + m[1][1]*v[1] + m[1][2]*v[2],
		m[2][0]*v[0] + m[2][1]*v[1] + m[2][2]*v[2],
	}
}

func (m mat3) mul(n mat3) mat3 {
	var r mat3
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				r[i][j] += m[i][k] * n[k][j]
			}
		}
	}
	return r
}

func (m mat3) inverse() (mat3, bool) {
	a := m
	det := a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) -
		a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) +
		a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
	if math.Abs(det) < 1e-12 || math.IsNaN(det) {
		return mat3{}, false
	}
	inv := 1 / det
	return mat3{
		{(a[1][1]*a[2][2] - a[1][2]*a[2][1]) * inv, (a[0][2]*a[2][1] - a[0][1]*a[2][2]) * inv, (a[0][1]*a[1][2] - a[0][2]*a[1][1]) * inv},
		{(a[1][2]*a[2][0] - a[1][0]*a[2][2]) * inv, (a[0][0]*a[2][2] - a[0][2]*a[2][0]) * inv, (a[0][2]*a[1][0] - a[0][0]*a[1][2]) * inv},
		{(a[1][0]*a[2][1] - a[1][1]*a[2][0]) * inv, (a[0][1]*a[2][0] - a[0][0]*a[2][1]) * inv, (a[0][0]*a[1][1] - a[0][1]*a[1][0]) * inv},
	}, true
}

// labToXYZ converts CIE L*a*b* relative to D50 to XYZ.
func labToXYZ(l, a, b float64) xyz {
	fy := (l + 16) / 116
	fx := fy + a/500
	fz := fy - b/200
	finv := func(t float64) float64 {
		if t > 6.0/29 {
			return t * t * t
		}
		return 108.0 / 841 * (t - 4.0/29)
	}
	return xyz{d50[0] * finv(fx), d50[1] * finv(fy), d50[2] * finv(fz)}
}

// xyzToLab converts XYZ to CIE L*a*b* relative to white.
func xyzToLab(v, white xyz) (l, a, b float64) {
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return 841.0/108*t + 4.0/29
	}
	fx, fy, fz := f(v[0]/white[0]), f(v[1]/white[1]), f(v[2]/white[2])
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}
