package pixels

import (
	"fmt"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
)

// nclxPrimaries are the colour primaries (red, green, blue) and white of
// the ITU-T H.273 ColourPrimaries code points a photo may carry.
var nclxPrimaries = map[uint16]struct {
	name  string
	rgb   [3][2]float64
	white [2]float64
}{
	1:  {"BT.709", [3][2]float64{{0.640, 0.330}, {0.300, 0.600}, {0.150, 0.060}}, d65},
	5:  {"BT.601 625", [3][2]float64{{0.640, 0.330}, {0.290, 0.600}, {0.150, 0.060}}, d65},
	6:  {"BT.601 525", [3][2]float64{{0.630, 0.340}, {0.310, 0.595}, {0.155, 0.070}}, d65},
	9:  {"BT.2020", [3][2]float64{{0.708, 0.292}, {0.170, 0.797}, {0.131, 0.046}}, d65},
	11: {"DCI-P3", [3][2]float64{{0.680, 0.320}, {0.265, 0.690}, {0.150, 0.060}}, [2]float64{0.314, 0.351}},
	12: {"Display P3", [3][2]float64{{0.680, 0.320}, {0.265, 0.690}, {0.150, 0.060}}, d65},
}

var d65 = [2]float64{0.3127, 0.3290}

// Transfer functions as ICC parametric curves (decoding to linear light).
var (
	srgbCurve = icc.Parametric{G: 2.4, A: 1 / 1.055, B: 0.055 / 1.055, C: 1 / 12.92, D: 0.04045}
	// The inverse of the BT.709 (and BT.601, BT.2020) camera curve.
	bt709Curve = icc.Parametric{G: 1 / 0.45, A: 1 / 1.099, B: 0.099 / 1.099, C: 1 / 4.5, D: 0.081}
)

// nclxTransfers are the H.273 TransferCharacteristics code points of
// standard dynamic range this package turns into a curve.
var nclxTransfers = map[uint16]struct {
	name  string
	curve icc.Parametric
}{
	1:  {"BT.709", bt709Curve},
	4:  {"gamma 2.2", icc.Parametric{G: 2.2, A: 1}},
	5:  {"gamma 2.8", icc.Parametric{G: 2.8, A: 1}},
	6:  {"BT.601", bt709Curve},
	8:  {"linear", icc.Parametric{G: 1, A: 1}},
	13: {"sRGB", srgbCurve},
	14: {"BT.2020", bt709Curve},
	15: {"BT.2020", bt709Curve},
}

// nclxProfile returns the ICC profile of the colours n describes, for a
// converter to sRGB: nil when they are sRGB's already (BT.709 primaries
// with the sRGB transfer, or unspecified code points), or when they
// cannot be converted, in which case note says why. High dynamic range
// transfers (PQ, HLG) are not tone-mapped: such an image is left as it
// is, with a note.
func nclxProfile(n *heif.NCLX) (profile []byte, note string) {
	p, t := n.Primaries, n.Transfer
	if p == 2 {
		p = 1 // unspecified: sRGB's
	}
	if t == 2 {
		t = 13
	}
	if p == 1 && t == 13 {
		return nil, ""
	}
	prim, ok := nclxPrimaries[p]
	if !ok {
		return nil, fmt.Sprintf("nclx colour primaries %d are not converted", n.Primaries)
	}
	switch t {
	case 16:
		return nil, fmt.Sprintf("nclx %s with the PQ (HDR) transfer is not tone-mapped", prim.name)
	case 18:
		return nil, fmt.Sprintf("nclx %s with the HLG (HDR) transfer is not tone-mapped", prim.name)
	}
	trc, ok := nclxTransfers[t]
	if !ok {
		return nil, fmt.Sprintf("nclx transfer characteristics %d are not converted", n.Transfer)
	}
	return icc.RGBProfile(prim.rgb, prim.white, trc.curve), ""
}
