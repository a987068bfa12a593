package icc

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"
)

// Intent is the rendering intent a Transform uses.
type Intent int

// The intents a Transform can use: perceptual where the profile has an
// A2B0 table, else the colorimetric matrix/TRC model or A2B1.
const (
	Perceptual Intent = iota
	RelativeColorimetric
)

// String returns the intent's name.
func (i Intent) String() string {
	if i == Perceptual {
		return "perceptual"
	}
	return "relative colorimetric"
}

// perceptualBlack is the black of the ICC v4 perceptual reference medium,
// in XYZ (D50).
var perceptualBlack = xyz{0.00336, 0.0034731, 0.00287}

// Transform converts colours of one profile's device space to sRGB. It is
// built once per profile with NewTransform, holds its precomputed tables,
// and is safe for concurrent use.
type Transform struct {
	space    ColorSpace
	intent   Intent
	identity bool

	// Exactly one of these models the device-to-PCS step.
	shaper bool // matrix/TRC (RGB) or kTRC (gray)
	trc    [3]*curve
	toPCS  mat3 // RGB: device linear RGB to XYZ (the colorants)
	toSRGB mat3 // device linear RGB (or Y in column 1 for gray) to linear sRGB
	lut    *lut
	lab    bool // the PCS is Lab (a gray kTRC then gives L*)

	// Black point compensation in XYZ: v' = scale*v + offset, per axis.
	bpc                bool
	bpcScale, bpcShift xyz

	once   sync.Once
	lin8   [3][256]float32 // shaper: 8-bit code to linear light
	lin16  [3][]float32    // shaper: 4096 intervals, for 16-bit input
	grid   *clut           // LUT: device grid to linear sRGB
	fast   *fastGrid       // grid, for 8-bit input
	gray8  [256]uint8      // gray: 8-bit code to sRGB (neutral)
	gray16 []uint16        // gray: 4096 intervals to sRGB, for 16-bit input
}

// Intent returns the rendering intent t uses.
func (t *Transform) Intent() Intent { return t.intent }

// IsIdentity reports whether the profile is sRGB (within tolerance), in
// which case Apply returns its input unchanged.
func (t *Transform) IsIdentity() bool { return t.identity }

// ColorSpace returns the device colour space t converts from.
func (t *Transform) ColorSpace() ColorSpace { return t.space }

// NewTransform builds the transform from p's device space to sRGB: its A2B0
// table with the perceptual intent where p has one, else p's matrix/TRC
// (or gray kTRC) model or its A2B1 table, relative colorimetric. As lcms
// does when converting to its (version 4) sRGB profile with the perceptual
// intent, the source's black point is mapped to sRGB's black (black point
// compensation). A profile that is sRGB gives an identity transform.
func NewTransform(p *Profile) (*Transform, error) {
	t := &Transform{space: p.space, intent: RelativeColorimetric}
	switch {
	case p.a2b0 != nil:
		t.lut, t.intent = p.a2b0, Perceptual
	case p.hasMatrix || p.gray != nil:
		t.shaper = true
	case p.a2b1 != nil:
		t.lut = p.a2b1
	default:
		return nil, unsupportedf("%s profile has no usable device-to-PCS tag", p.space)
	}
	t.lab = p.pcs == pcsLab
	if t.shaper {
		if p.space == Gray {
			t.trc = [3]*curve{p.gray, p.gray, p.gray}
			// Y to XYZ is D50*Y; put it in the middle column.
			col := xyzToSRGB.mulVec(d50)
			for r := range 3 {
				t.toSRGB[r][1] = col[r]
			}
		} else {
			t.trc = p.trc
			t.toPCS = p.toPCS
			t.toSRGB = xyzToSRGB.mul(p.toPCS)
			t.identity = p.isSRGB()
		}
	}
	if !t.identity {
		t.setBPC(p)
	}
	return t, nil
}

// setBPC computes black point compensation as lcms's perceptual path does:
// the source black is the v4 perceptual reference black for a v4 A2B0
// table, else the device's darkest colour made neutral with L* at most 50;
// sRGB's black is 0.
func (t *Transform) setBPC(p *Profile) {
	var black xyz
	if t.lut != nil && t.intent == Perceptual && p.version>>24 >= 4 {
		black = perceptualBlack
	} else {
		dark := make([]float64, p.space.Channels())
		if p.space == CMYK {
			for i := range dark {
				dark[i] = 1
			}
		}
		v := t.deviceToPCS(dark)
		l, _, _ := xyzToLab(v, d50)
		black = labToXYZ(min(l, 50), 0, 0)
	}
	if black[0] <= 0 && black[1] <= 0 && black[2] <= 0 {
		return
	}
	t.bpc = true
	for i := range 3 {
		t.bpcScale[i] = d50[i] / (d50[i] - black[i])
		t.bpcShift[i] = -d50[i] * black[i] / (d50[i] - black[i])
	}
}

// deviceToPCS converts device values in [0, 1] to XYZ (D50), before black
// point compensation.
func (t *Transform) deviceToPCS(in []float64) xyz {
	if t.shaper {
		var lin xyz
		for i := range min(len(in), 3) {
			lin[i] = t.trc[i].eval(in[i])
		}
		if t.space == Gray {
			if t.lab {
				return labToXYZ(100*lin[0], 0, 0)
			}
			return xyz{d50[0] * lin[0], d50[1] * lin[0], d50[2] * lin[0]}
		}
		return t.toPCS.mulVec(lin)
	}
	var v [3]float64
	t.lut.eval(in, v[:])
	return t.lut.pcs(v[:], t.lab)
}

// convert is the exact, unoptimised transform of one colour: device values
// in [0, 1] to sRGB-encoded values in [0, 1].
func (t *Transform) convert(in []float64) [3]float64 {
	lin := t.linear(in)
	return [3]float64{srgbEncode(lin[0]), srgbEncode(lin[1]), srgbEncode(lin[2])}
}

// linear is convert before sRGB's encoding and clipping: linear sRGB.
func (t *Transform) linear(in []float64) xyz {
	var lin xyz
	if t.shaper && !t.bpc && !(t.space == Gray && t.lab) {
		var dev xyz
		for i := range 3 {
			dev[i] = t.trc[i].eval(in[min(i, len(in)-1)])
		}
		if t.space == Gray {
			dev = xyz{0, dev[0], 0}
		}
		lin = t.toSRGB.mulVec(dev)
	} else {
		v := t.deviceToPCS(in)
		if t.bpc {
			for i := range 3 {
				v[i] = t.bpcScale[i]*v[i] + t.bpcShift[i]
			}
		}
		lin = xyzToSRGB.mulVec(v)
	}
	return lin
}

// Convert converts one colour of the profile's device space, each channel
// in [0, 1], to sRGB (encoded, each channel in [0, 1], clipped to the
// gamut). It evaluates the profile exactly; Apply uses precomputed tables.
func (t *Transform) Convert(device []float64) ([3]float64, error) {
	if len(device) != t.space.Channels() {
		return [3]float64{}, fmt.Errorf("icc: %d values for a %s profile of %d channels", len(device), t.space, t.space.Channels())
	}
	if t.identity {
		return [3]float64{clamp01(device[0]), clamp01(device[1]), clamp01(device[2])}, nil
	}
	return t.convert(device), nil
}

// Grid sizes of the precomputed device-space tables of LUT profiles.
const (
	gridCMYK = 17
	gridRGB  = 33
	lin16N   = 4096
)

// prepare builds the tables Apply uses, once.
func (t *Transform) prepare() {
	t.once.Do(func() {
		if t.identity {
			return
		}
		if t.space == Gray {
			t.gray16 = make([]uint16, lin16N+1)
			for i := range t.gray16 {
				t.gray16[i] = uint16(math.Round(t.convert([]float64{float64(i) / lin16N})[1] * 65535))
			}
			for i := range t.gray8 {
				t.gray8[i] = to8(t.convert([]float64{float64(i) / 255})[1])
			}
			return
		}
		if t.shaper && !t.bpc {
			for c := range 3 {
				for i := range 256 {
					t.lin8[c][i] = float32(t.trc[c].eval(float64(i) / 255))
				}
				t.lin16[c] = make([]float32, lin16N+1)
				for i := range t.lin16[c] {
					t.lin16[c][i] = float32(t.trc[c].eval(float64(i) / lin16N))
				}
			}
			encodeTable()
			return
		}
		g := gridRGB
		if t.space == CMYK {
			g = gridCMYK
		}
		n := t.space.Channels()
		grid := make([]int, n)
		for i := range grid {
			grid[i] = g
		}
		values := 3
		for range n {
			values *= g
		}
		cl := newCLUT(grid, 3, values)
		in := make([]float64, n)
		idx := make([]int, n)
		for node := 0; node*3 < values; node++ {
			for d := range n {
				in[d] = float64(idx[d]) / float64(g-1)
			}
			c := t.linear(in)
			cl.samples[3*node], cl.samples[3*node+1], cl.samples[3*node+2] = float32(c[0]), float32(c[1]), float32(c[2])
			for d := n - 1; d >= 0; d-- {
				if idx[d]++; idx[d] < g {
					break
				}
				idx[d] = 0
			}
		}
		t.grid = cl
		t.fast = newFastGrid(cl)
		t.fast.enc = encodeTable()
	})
}

func to8(v float64) uint8   { return uint8(clamp01(v)*255 + 0.5) }
func to16(v float64) uint16 { return uint16(clamp01(v)*65535 + 0.5) }

// enc maps linear light quantised to 16 bits to sRGB's 16-bit encoding.
// encodeTable builds it once; every transform shares it.
var (
	encOnce sync.Once
	enc     []uint16
)

func encodeTable() []uint16 {
	encOnce.Do(func() {
		enc = make([]uint16, 65536)
		for i := range enc {
			enc[i] = uint16(srgbEncode(float64(i)/65535)*65535 + 0.5)
		}
	})
	return enc
}

func linTo16(enc []uint16, v float32) uint16 {
	if !(v > 0) { // NaN too
		return enc[0]
	}
	if v >= 1 {
		return enc[65535]
	}
	return enc[int(v*65535+0.5)]
}

func (t *Transform) lin16At(c int, v uint16) float32 {
	tab := t.lin16[c]
	pos := uint32(v) * lin16N // fixed point: index = pos / 65535
	i := pos / 65535
	if i >= lin16N {
		return tab[lin16N]
	}
	f := float32(pos%65535) / 65535
	return tab[i] + f*(tab[i+1]-tab[i])
}

// rgb8 converts one 8-bit RGB colour.
func (t *Transform) rgb8(r, g, b uint8) (uint8, uint8, uint8) {
	if t.fast != nil {
		return t.fast.rgb(r, g, b)
	}
	lr, lg, lb := t.lin8[0][r], t.lin8[1][g], t.lin8[2][b]
	m := &t.toSRGB
	e := enc
	x := float32(m[0][0])*lr + float32(m[0][1])*lg + float32(m[0][2])*lb
	y := float32(m[1][0])*lr + float32(m[1][1])*lg + float32(m[1][2])*lb
	z := float32(m[2][0])*lr + float32(m[2][1])*lg + float32(m[2][2])*lb
	return uint8((uint32(linTo16(e, x))*255 + 32767) / 65535),
		uint8((uint32(linTo16(e, y))*255 + 32767) / 65535),
		uint8((uint32(linTo16(e, z))*255 + 32767) / 65535)
}

// rgb16 converts one 16-bit RGB colour, keeping 16-bit precision.
func (t *Transform) rgb16(r, g, b uint16) (uint16, uint16, uint16) {
	if t.grid != nil {
		c := t.convert([]float64{float64(r) / 65535, float64(g) / 65535, float64(b) / 65535})
		return to16(c[0]), to16(c[1]), to16(c[2])
	}
	lr, lg, lb := t.lin16At(0, r), t.lin16At(1, g), t.lin16At(2, b)
	m := &t.toSRGB
	x := float32(m[0][0])*lr + float32(m[0][1])*lg + float32(m[0][2])*lb
	y := float32(m[1][0])*lr + float32(m[1][1])*lg + float32(m[1][2])*lb
	z := float32(m[2][0])*lr + float32(m[2][1])*lg + float32(m[2][2])*lb
	return linTo16(enc, x), linTo16(enc, y), linTo16(enc, z)
}

// Apply converts img, whose colours are in the profile's device space, to
// sRGB. It returns img itself when the transform is an identity, else a new
// image: an *image.NRGBA for 8-bit RGB and CMYK input (alpha kept), an
// *image.NRGBA64 for 16-bit RGB input, an *image.Gray or *image.Gray16 for
// gray input (a gray profile's colours are neutral in sRGB).
// *image.CMYK values are ink amounts (0 is no ink), as image/jpeg returns
// them after undoing Adobe's inversion, which is what a CMYK profile
// expects. An image whose colour model does not fit the profile (a CMYK
// profile on an RGB image) is an error wrapping ErrUnsupported.
func (t *Transform) Apply(img image.Image) (image.Image, error) {
	if t.identity {
		return img, nil
	}
	t.prepare()
	b := img.Bounds()
	switch t.space {
	case Gray:
		switch src := img.(type) {
		case *image.Gray:
			dst := image.NewGray(b)
			for y := b.Min.Y; y < b.Max.Y; y++ {
				s := src.Pix[src.PixOffset(b.Min.X, y):][:b.Dx()]
				d := dst.Pix[dst.PixOffset(b.Min.X, y):][:b.Dx()]
				for i, v := range s {
					d[i] = t.gray8[v]
				}
			}
			return dst, nil
		case *image.Gray16:
			dst := image.NewGray16(b)
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					dst.SetGray16(x, y, color.Gray16{t.gray16At(src.Gray16At(x, y).Y)})
				}
			}
			return dst, nil
		}
		return nil, unsupportedf("a gray profile cannot convert a %T", img)
	case CMYK:
		src, ok := img.(*image.CMYK)
		if !ok {
			return nil, unsupportedf("a CMYK profile cannot convert a %T", img)
		}
		dst := image.NewNRGBA(b)
		f := t.fast
		for y := b.Min.Y; y < b.Max.Y; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, y):][:4*b.Dx()]
			d := dst.Pix[dst.PixOffset(b.Min.X, y):][:4*b.Dx()]
			for i := 0; i < len(s); i += 4 {
				d[i], d[i+1], d[i+2] = f.cmyk(s[i], s[i+1], s[i+2], s[i+3])
				d[i+3] = 0xff
			}
		}
		return dst, nil
	}
	switch src := img.(type) {
	case *image.NRGBA:
		dst := image.NewNRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			copy(dst.Pix[dst.PixOffset(b.Min.X, y):][:4*b.Dx()], src.Pix[src.PixOffset(b.Min.X, y):][:4*b.Dx()])
		}
		t.applyNRGBA(dst)
		return dst, nil
	case *image.YCbCr:
		dst := image.NewNRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			d := dst.Pix[dst.PixOffset(b.Min.X, y):]
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci := src.YOffset(x, y), src.COffset(x, y)
				r, g, bb := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				i := 4 * (x - b.Min.X)
				d[i], d[i+1], d[i+2] = t.rgb8(r, g, bb)
				d[i+3] = 0xff
			}
		}
		return dst, nil
	case *image.NRGBA64, *image.RGBA64:
		dst := image.NewNRGBA64(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
				c.R, c.G, c.B = t.rgb16(c.R, c.G, c.B)
				dst.SetNRGBA64(x, y, c)
			}
		}
		return dst, nil
	case *image.Gray, *image.Gray16, *image.CMYK:
		return nil, unsupportedf("an RGB profile cannot convert a %T", img)
	}
	dst := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.SetNRGBA(x, y, color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA))
		}
	}
	t.applyNRGBA(dst)
	return dst, nil
}

// ApplyNRGBA converts img's colours from an RGB profile's space to sRGB in
// place, keeping alpha. It is an error wrapping ErrUnsupported for a gray or
// CMYK profile.
func (t *Transform) ApplyNRGBA(img *image.NRGBA) error {
	if t.space != RGB {
		return unsupportedf("a %s profile cannot convert an *image.NRGBA", t.space)
	}
	if t.identity {
		return nil
	}
	t.prepare()
	t.applyNRGBA(img)
	return nil
}

func (t *Transform) applyNRGBA(img *image.NRGBA) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		p := img.Pix[img.PixOffset(b.Min.X, y):][:4*b.Dx()]
		for i := 0; i < len(p); i += 4 {
			p[i], p[i+1], p[i+2] = t.rgb8(p[i], p[i+1], p[i+2])
		}
	}
}

func (t *Transform) gray16At(v uint16) uint16 {
	pos := uint32(v) * lin16N
	i := pos / 65535
	if i >= lin16N {
		return t.gray16[lin16N]
	}
	f := pos % 65535
	a, b := uint32(t.gray16[i]), uint32(t.gray16[i+1])
	return uint16((a*(65535-f) + b*f + 32767) / 65535)
}
