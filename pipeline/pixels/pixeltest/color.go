package pixeltest

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"testing"
)

// NeedTool returns the path of a reference tool (transicc, vips). Without
// it the test fails when CI is set, so CI never passes by skipping, and is
// skipped otherwise; the message names pkg, the Debian package to install.
func NeedTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Missing(t, fmt.Sprintf("%s not found", name), pkg)
	return ""
}

// NeedFile returns the bytes of an installed reference file (a profile),
// failing with CI set and skipping otherwise when it is missing.
func NeedFile(t testing.TB, path, pkg string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err == nil {
		return b
	}
	Missing(t, err.Error(), pkg)
	return nil
}

// Missing ends a test whose reference, what, is not installed: it fails
// when CI is set and is skipped otherwise.
func Missing(t testing.TB, what, pkg string) {
	t.Helper()
	msg := fmt.Sprintf("%s (Debian package %s; run scripts/install-test-packages.sh as root)", what, pkg)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s", msg)
	}
	t.Skipf("%s", msg)
}

// SRGBToLab converts encoded sRGB in [0, 1] to CIE L*a*b* (D65).
func SRGBToLab(c [3]float64) (l, a, b float64) {
	var lin [3]float64
	for i, v := range c {
		if v <= 0.04045 {
			lin[i] = v / 12.92
		} else {
			lin[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	x := 0.4124564*lin[0] + 0.3575761*lin[1] + 0.1804375*lin[2]
	y := 0.2126729*lin[0] + 0.7151522*lin[1] + 0.0721750*lin[2]
	z := 0.0193339*lin[0] + 0.1191920*lin[1] + 0.9503041*lin[2]
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(x/0.95047), f(y), f(z/1.08883)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

// DeltaE2000 is the CIEDE2000 difference of two CIE L*a*b* colours.
func DeltaE2000(l1, a1, b1, l2, a2, b2 float64) float64 {
	rad := math.Pi / 180
	c1, c2 := math.Hypot(a1, b1), math.Hypot(a2, b2)
	cm := (c1 + c2) / 2
	g := 0.5 * (1 - math.Sqrt(math.Pow(cm, 7)/(math.Pow(cm, 7)+math.Pow(25, 7))))
	a1p, a2p := (1+g)*a1, (1+g)*a2
	c1p, c2p := math.Hypot(a1p, b1), math.Hypot(a2p, b2)
	hp := func(a, b float64) float64 {
		if a == 0 && b == 0 {
			return 0
		}
		h := math.Atan2(b, a) / rad
		if h < 0 {
			h += 360
		}
		return h
	}
	h1, h2 := hp(a1p, b1), hp(a2p, b2)
	dl, dc := l2-l1, c2p-c1p
	var dh float64
	switch {
	case c1p*c2p == 0:
	case math.Abs(h2-h1) <= 180:
		dh = h2 - h1
	case h2-h1 > 180:
		dh = h2 - h1 - 360
	default:
		dh = h2 - h1 + 360
	}
	dH := 2 * math.Sqrt(c1p*c2p) * math.Sin(dh/2*rad)
	lm, cpm := (l1+l2)/2, (c1p+c2p)/2
	var hm float64
	switch {
	case c1p*c2p == 0:
		hm = h1 + h2
	case math.Abs(h1-h2) <= 180:
		hm = (h1 + h2) / 2
	case h1+h2 < 360:
		hm = (h1 + h2 + 360) / 2
	default:
		hm = (h1 + h2 - 360) / 2
	}
	tt := 1 - 0.17*math.Cos((hm-30)*rad) + 0.24*math.Cos(2*hm*rad) + 0.32*math.Cos((3*hm+6)*rad) - 0.20*math.Cos((4*hm-63)*rad)
	dTheta := 30 * math.Exp(-math.Pow((hm-275)/25, 2))
	rc := 2 * math.Sqrt(math.Pow(cpm, 7)/(math.Pow(cpm, 7)+math.Pow(25, 7)))
	sl := 1 + 0.015*math.Pow(lm-50, 2)/math.Sqrt(20+math.Pow(lm-50, 2))
	sc := 1 + 0.045*cpm
	sh := 1 + 0.015*cpm*tt
	rt := -math.Sin(2*dTheta*rad) * rc
	return math.Sqrt(math.Pow(dl/sl, 2) + math.Pow(dc/sc, 2) + math.Pow(dH/sh, 2) + rt*(dc/sc)*(dH/sh))
}

// MeanDeltaE returns the mean and largest CIEDE2000 difference between
// two images of the same size, over every pixel, read as sRGB (alpha is
// ignored). It panics if their sizes differ.
func MeanDeltaE(a, b image.Image) (mean, worst float64) {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Size() != bb.Size() {
		panic(fmt.Sprintf("pixeltest.MeanDeltaE: %v and %v differ in size", ab.Size(), bb.Size()))
	}
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			l1, a1, b1 := SRGBToLab(rgb01(a.At(ab.Min.X+x, ab.Min.Y+y)))
			l2, a2, b2 := SRGBToLab(rgb01(b.At(bb.Min.X+x, bb.Min.Y+y)))
			d := DeltaE2000(l1, a1, b1, l2, a2, b2)
			sum += d
			worst = max(worst, d)
		}
	}
	return sum / float64(ab.Dx()*ab.Dy()), worst
}

// rgb01 returns c's colour as non-premultiplied sRGB in [0, 1].
func rgb01(c color.Color) [3]float64 {
	n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
	return [3]float64{float64(n.R) / 65535, float64(n.G) / 65535, float64(n.B) / 65535}
}
