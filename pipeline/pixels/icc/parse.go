package icc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Limits on what a profile may demand. They are far above any real profile:
// press profiles with 33-point CMYK CLUTs are under 3 MiB.
const (
	// MaxSize is the largest profile Parse accepts, in bytes.
	MaxSize = 4 << 20
	// maxTags bounds the tag count (real profiles have a few dozen).
	maxTags = 1024
	// maxCLUTValues bounds the values of one CLUT (grid points^inputs * outputs).
	maxCLUTValues = 1 << 21
	// maxInputChannels bounds the device channels of a LUT.
	maxInputChannels = 8
	// maxCurveEntries bounds one sampled curve.
	maxCurveEntries = 1 << 16
	// maxTableEntries bounds the input and output tables of an mft2 LUT.
	maxTableEntries = 4096
)

const headerSize = 128

// ErrInvalid is wrapped by every error about a malformed or hostile profile.
var ErrInvalid = errors.New("icc: invalid profile")

// ErrUnsupported is wrapped by the errors about well-formed profiles this
// package cannot convert (a device-link, a Lab or XYZ data space, a profile
// without the tags its colour space needs).
var ErrUnsupported = errors.New("icc: unsupported profile")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)
}

// ColorSpace is an ICC colour space signature, such as 'RGB ' or 'CMYK'.
type ColorSpace uint32

// The device colour spaces a Transform converts from.
const (
	RGB  ColorSpace = 'R'<<24 | 'G'<<16 | 'B'<<8 | ' '
	Gray ColorSpace = 'G'<<24 | 'R'<<16 | 'A'<<8 | 'Y'
	CMYK ColorSpace = 'C'<<24 | 'M'<<16 | 'Y'<<8 | 'K'
)

const (
	pcsXYZ ColorSpace = 'X'<<24 | 'Y'<<16 | 'Z'<<8 | ' '
	pcsLab ColorSpace = 'L'<<24 | 'a'<<16 | 'b'<<8 | ' '
)

// String returns the four-character signature without trailing spaces.
func (c ColorSpace) String() string { return sigString(uint32(c)) }

// Channels returns the number of channels of c, or 0 if c is not RGB, Gray
// or CMYK.
func (c ColorSpace) Channels() int {
	switch c {
	case RGB:
		return 3
	case Gray:
		return 1
	case CMYK:
		return 4
	}
	return 0
}

func sigString(s uint32) string {
	b := []byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return string(b)
}

func sig(s string) uint32 {
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

// xyz is a CIE XYZ triple (Y of the white is 1).
type xyz [3]float64

// mat3 is a row-major 3x3 matrix.
type mat3 [3][3]float64

// Profile is a parsed ICC profile, reduced to what converting its device
// colours to sRGB needs. A Profile is immutable and safe for concurrent use.
type Profile struct {
	version uint32 // major<<24 | minor<<20 | bugfix<<16 as in the header
	class   uint32
	space   ColorSpace
	pcs     ColorSpace

	// Matrix/TRC (shaper) model: colorants (columns of toPCS) and curves.
	hasMatrix bool
	toPCS     mat3
	trc       [3]*curve
	gray      *curve

	a2b0, a2b1 *lut

	white xyz   // media white point (wtpt), D50 if absent
	chad  *mat3 // chromatic adaptation matrix to D50, if present
}

// Version returns the major and minor version of the profile's format.
func (p *Profile) Version() (major, minor int) {
	return int(p.version >> 24), int(p.version>>20) & 0xf
}

// ColorSpace returns the device colour space of the profile's data.
func (p *Profile) ColorSpace() ColorSpace { return p.space }

// SourceWhite returns the white point of the profile's original viewing
// condition as CIE XYZ: the chad tag's inverse applied to D50 when the tag
// is present, else the media white point (v2 profiles). Colours reach the
// D50 connection space adapted from this white with Bradford.
func (p *Profile) SourceWhite() [3]float64 {
	if p.chad != nil {
		if inv, ok := p.chad.inverse(); ok {
			return inv.mulVec(d50)
		}
	}
	return p.white
}

type tagEntry struct {
	off, size uint32
}

// Parse reads an ICC profile (versions 2 and 4). It checks the header, the
// tag table and every tag it uses against the profile's size and the
// package's limits before allocating anything that size depends on, and
// returns an error wrapping ErrInvalid for anything malformed or too large,
// or ErrUnsupported for a well-formed profile this package cannot convert.
func Parse(data []byte) (*Profile, error) {
	if len(data) > MaxSize {
		return nil, invalidf("profile of %d bytes exceeds the %d-byte limit", len(data), MaxSize)
	}
	if len(data) < headerSize+4 {
		return nil, invalidf("profile of %d bytes is shorter than its %d-byte header and tag count", len(data), headerSize+4)
	}
	be := binary.BigEndian
	size := be.Uint32(data[0:])
	if size > uint32(len(data)) {
		return nil, invalidf("header declares %d bytes but only %d are present (truncated)", size, len(data))
	}
	if size < headerSize+4 {
		return nil, invalidf("header declares a size of %d bytes, smaller than the header", size)
	}
	data = data[:size]
	if be.Uint32(data[36:]) != sig("acsp") {
		return nil, invalidf("missing 'acsp' signature at offset 36")
	}
	p := &Profile{
		version: be.Uint32(data[8:]),
		class:   be.Uint32(data[12:]),
		space:   ColorSpace(be.Uint32(data[16:])),
		pcs:     ColorSpace(be.Uint32(data[20:])),
		white:   d50,
	}
	if major := p.version >> 24; major < 2 || major > 4 {
		return nil, unsupportedf("profile version %d.%d (want 2 or 4)", major, (p.version>>20)&0xf)
	}
	switch p.class {
	case sig("link"), sig("abst"), sig("nmcl"):
		return nil, unsupportedf("%q profile class (device-link, abstract and named-colour profiles do not describe an image's colours)", sigString(p.class))
	}
	if p.pcs != pcsXYZ && p.pcs != pcsLab {
		return nil, invalidf("profile connection space %q is neither XYZ nor Lab", p.pcs)
	}

	n := be.Uint32(data[headerSize:])
	if n > maxTags {
		return nil, invalidf("tag count %d exceeds the limit of %d", n, maxTags)
	}
	if uint64(headerSize+4)+uint64(n)*12 > uint64(size) {
		return nil, invalidf("tag table of %d entries runs past the end of the %d-byte profile", n, size)
	}
	tags := make(map[uint32]tagEntry, n)
	for i := range n {
		e := data[headerSize+4+12*i:]
		s, off, sz := be.Uint32(e), be.Uint32(e[4:]), be.Uint32(e[8:])
		if sz < 8 {
			return nil, invalidf("tag %q has size %d, too small for a type signature", sigString(s), sz)
		}
		if uint64(off)+uint64(sz) > uint64(size) || off < headerSize+4 {
			return nil, invalidf("tag %q at offset %d with size %d lies outside the %d-byte profile", sigString(s), off, sz, size)
		}
		if _, dup := tags[s]; !dup {
			tags[s] = tagEntry{off, sz}
		}
	}
	tagData := func(name string) ([]byte, bool) {
		e, ok := tags[sig(name)]
		if !ok {
			return nil, false
		}
		return data[e.off : e.off+e.size], true
	}

	if b, ok := tagData("wtpt"); ok {
		w, err := parseXYZTag("wtpt", b)
		if err != nil {
			return nil, err
		}
		p.white = w
	}
	if b, ok := tagData("chad"); ok {
		m, err := parseChad(b)
		if err != nil {
			return nil, err
		}
		p.chad = &m
	}

	// A2B1 is read only without A2B0, the only case a transform uses it
	// (press profiles often point both at the same large table).
	for _, l := range []struct {
		name string
		dst  **lut
	}{{"A2B0", &p.a2b0}, {"A2B1", &p.a2b1}} {
		b, ok := tagData(l.name)
		if !ok || p.a2b0 != nil {
			continue
		}
		t, err := parseLUT(l.name, b, p.space.Channels())
		if err != nil {
			return nil, err
		}
		*l.dst = t
	}

	switch p.space {
	case RGB:
		var cols [3]xyz
		have := 0
		for i, name := range []string{"rXYZ", "gXYZ", "bXYZ"} {
			b, ok := tagData(name)
			if !ok {
				continue
			}
			c, err := parseXYZTag(name, b)
			if err != nil {
				return nil, err
			}
			cols[i] = c
			have++
		}
		trcs := 0
		for i, name := range []string{"rTRC", "gTRC", "bTRC"} {
			b, ok := tagData(name)
			if !ok {
				continue
			}
			c, _, err := parseCurve(name, b)
			if err != nil {
				return nil, err
			}
			p.trc[i] = c
			trcs++
		}
		if have == 3 && trcs == 3 {
			p.hasMatrix = true
			for r := range 3 {
				for c := range 3 {
					p.toPCS[r][c] = cols[c][r]
				}
			}
		}
	case Gray:
		if b, ok := tagData("kTRC"); ok {
			c, _, err := parseCurve("kTRC", b)
			if err != nil {
				return nil, err
			}
			p.gray = c
		}
	case CMYK:
	default:
		return nil, unsupportedf("device colour space %q (want RGB, GRAY or CMYK)", p.space)
	}
	if !p.hasMatrix && p.gray == nil && p.a2b0 == nil && p.a2b1 == nil {
		return nil, unsupportedf("%s profile has neither A2B0/A2B1 nor the matrix/TRC tags", p.space)
	}
	return p, nil
}

// s15 decodes an s15Fixed16Number.
func s15(b []byte) float64 {
	return float64(int32(binary.BigEndian.Uint32(b))) / 65536
}

func checkType(tag string, b []byte, want ...string) (string, error) {
	if len(b) < 8 {
		return "", invalidf("tag %q of %d bytes is too short for its type", tag, len(b))
	}
	got := binary.BigEndian.Uint32(b)
	for _, w := range want {
		if got == sig(w) {
			return w, nil
		}
	}
	return "", invalidf("tag %q has type %q, want %q", tag, sigString(got), want)
}

func parseXYZTag(tag string, b []byte) (xyz, error) {
	if _, err := checkType(tag, b, "XYZ "); err != nil {
		return xyz{}, err
	}
	if len(b) < 20 {
		return xyz{}, invalidf("XYZ tag %q of %d bytes is shorter than 20", tag, len(b))
	}
	v := xyz{s15(b[8:]), s15(b[12:]), s15(b[16:])}
	for _, x := range v {
		if x < -5 || x > 5 {
			return xyz{}, invalidf("XYZ tag %q value %g is out of range", tag, x)
		}
	}
	return v, nil
}

func parseChad(b []byte) (mat3, error) {
	if _, err := checkType("chad", b, "sf32"); err != nil {
		return mat3{}, err
	}
	if len(b) < 8+9*4 {
		return mat3{}, invalidf("chad tag of %d bytes is shorter than 9 numbers", len(b))
	}
	var m mat3
	for i := range 9 {
		m[i/3][i%3] = s15(b[8+4*i:])
	}
	if _, ok := m.inverse(); !ok {
		return mat3{}, invalidf("chad matrix is singular")
	}
	return m, nil
}

// parseCurve reads a 'curv' or 'para' element at the start of b and returns
// it with the number of bytes it occupies (unpadded).
func parseCurve(tag string, b []byte) (*curve, int, error) {
	typ, err := checkType(tag, b, "curv", "para")
	if err != nil {
		return nil, 0, err
	}
	be := binary.BigEndian
	if typ == "curv" {
		if len(b) < 12 {
			return nil, 0, invalidf("curve %q of %d bytes is shorter than 12", tag, len(b))
		}
		n := be.Uint32(b[8:])
		if n > maxCurveEntries {
			return nil, 0, invalidf("curve %q has %d entries, more than the limit of %d", tag, n, maxCurveEntries)
		}
		if 12+2*uint64(n) > uint64(len(b)) {
			return nil, 0, invalidf("curve %q has %d entries but only %d bytes", tag, n, len(b))
		}
		switch n {
		case 0:
			return &curve{kind: curveIdentity}, 12, nil
		case 1:
			g := float64(be.Uint16(b[12:])) / 256
			if g <= 0 {
				return nil, 0, invalidf("curve %q has gamma %g", tag, g)
			}
			return &curve{kind: curveParam, fn: 0, p: [7]float64{g}}, 14, nil
		}
		t := make([]float64, n)
		for i := range t {
			t[i] = float64(be.Uint16(b[12+2*i:])) / 65535
		}
		return &curve{kind: curveTable, table: t}, 12 + 2*int(n), nil
	}
	if len(b) < 12 {
		return nil, 0, invalidf("parametric curve %q of %d bytes is shorter than 12", tag, len(b))
	}
	fn := int(be.Uint16(b[8:]))
	if fn >= len(paraCount) {
		return nil, 0, invalidf("parametric curve %q has function type %d (want 0 to 4)", tag, fn)
	}
	np := paraCount[fn]
	if len(b) < 12+4*np {
		return nil, 0, invalidf("parametric curve %q of type %d needs %d bytes, has %d", tag, fn, 12+4*np, len(b))
	}
	c := &curve{kind: curveParam, fn: fn}
	for i := range np {
		c.p[i] = s15(b[12+4*i:])
	}
	if c.p[0] <= 0 || c.p[0] > 64 || math.IsNaN(c.p[0]) {
		return nil, 0, invalidf("parametric curve %q has gamma %g", tag, c.p[0])
	}
	if fn > 0 && c.p[1] == 0 {
		return nil, 0, invalidf("parametric curve %q has a zero slope a", tag)
	}
	return c, 12 + 4*np, nil
}
