package icc

import "math"

// Tolerances of the sRGB check: colorants within 0.002 of sRGB's (D50)
// and tone curves within 1/255 of sRGB's at every sampled point, so an
// image passed through unchanged is off by at most about one code value.
const (
	srgbColorantTolerance = 0.002
	srgbCurveTolerance    = 1.0 / 255
)

// IsSRGB reports whether p is an sRGB profile: an RGB matrix/TRC profile
// whose colorants and tone curves match sRGB's within a small tolerance,
// whatever its name, version or curve encoding (table, gamma, para). Such
// a profile needs no transform; a profile that also carries an A2B0 table
// is not treated as sRGB, since its perceptual table may differ.
func (p *Profile) IsSRGB() bool {
	if p.space != RGB || !p.hasMatrix || p.a2b0 != nil {
		return false
	}
	return p.isSRGB()
}

func (p *Profile) isSRGB() bool {
	if p.space != RGB || !p.hasMatrix {
		return false
	}
	for r := range 3 {
		for c := range 3 {
			if math.Abs(p.toPCS[r][c]-srgbToXYZ[r][c]) > srgbColorantTolerance {
				return false
			}
		}
	}
	for _, c := range p.trc {
		for i := 0; i <= 64; i++ {
			x := float64(i) / 64
			if math.Abs(c.eval(x)-srgbCurve.eval(x)) > srgbCurveTolerance {
				return false
			}
		}
	}
	return true
}
