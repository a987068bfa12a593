package icc

import (
	"encoding/binary"
	"math"
)

// Parametric is an ICC parametric curve of function type 3, which decodes
// a value X to linear light Y = (A·X + B)^G for X ≥ D, and C·X below:
// the form of the sRGB and Rec. 709 transfer functions (a pure gamma has
// A 1 and B, C, D 0).
type Parametric struct{ G, A, B, C, D float64 }

// RGBProfile returns a version 2 matrix/TRC ICC profile of the RGB space
// with the given primaries and white (CIE 1931 xy chromaticities, red,
// green, blue) whose three channels share the transfer curve trc: what a
// coded colour description (HEIF's nclx, ITU-T H.273 code points) says,
// made into a profile [Parse] and lcms read. The colorants are adapted to
// D50 with Bradford, as the ICC requires.
func RGBProfile(primaries [3][2]float64, white [2]float64, trc Parametric) []byte {
	m := rgbToXYZD50(primaries, white)
	fixed := func(b []byte, v float64) []byte {
		return binary.BigEndian.AppendUint32(b, uint32(int32(math.Round(v*65536))))
	}
	xyzTag := func(v xyz) []byte {
		b := []byte("XYZ \x00\x00\x00\x00")
		for _, x := range v {
			b = fixed(b, x)
		}
		return b
	}
	para := []byte("para\x00\x00\x00\x00\x00\x03\x00\x00")
	for _, v := range []float64{trc.G, trc.A, trc.B, trc.C, trc.D} {
		para = fixed(para, v)
	}
	desc := []byte("desc\x00\x00\x00\x00")
	desc = binary.BigEndian.AppendUint32(desc, 4)
	desc = append(desc, "RGB\x00"...)
	desc = append(desc, make([]byte, 4+4+2+1+67)...) // no Unicode or ScriptCode text
	tags := []struct {
		sig  string
		data []byte
	}{
		{"desc", desc},
		{"wtpt", xyzTag(d50)},
		{"rXYZ", xyzTag(xyz{m[0][0], m[1][0], m[2][0]})},
		{"gXYZ", xyzTag(xyz{m[0][1], m[1][1], m[2][1]})},
		{"bXYZ", xyzTag(xyz{m[0][2], m[1][2], m[2][2]})},
		{"rTRC", para},
		{"gTRC", para},
		{"bTRC", para},
	}
	h := make([]byte, headerSize)
	binary.BigEndian.PutUint32(h[8:], 0x02400000)
	copy(h[12:], "mntr")
	copy(h[16:], "RGB ")
	copy(h[20:], "XYZ ")
	copy(h[36:], "acsp")
	copy(h[68:], xyzTag(d50)[8:])
	out := binary.BigEndian.AppendUint32(h, uint32(len(tags)))
	off := len(out) + 12*len(tags)
	var body []byte
	sharedAt := 0
	for _, t := range tags {
		at := off + len(body)
		if t.sig == "gTRC" || t.sig == "bTRC" {
			// Shares rTRC's data, as many profiles do.
			at = off + sharedAt
		}
		out = append(out, t.sig...)
		out = binary.BigEndian.AppendUint32(out, uint32(at))
		out = binary.BigEndian.AppendUint32(out, uint32(len(t.data)))
		if t.sig == "rTRC" {
			sharedAt = len(body)
		}
		if t.sig != "gTRC" && t.sig != "bTRC" {
			body = append(body, t.data...)
			for len(body)%4 != 0 {
				body = append(body, 0)
			}
		}
	}
	out = append(out, body...)
	binary.BigEndian.PutUint32(out, uint32(len(out)))
	return out
}
