package pixeltest

import (
	"image"
	"image/color"
	"math"
	"testing"
)

func TestDeltaE2000(t *testing.T) {
	// Pairs and differences from Sharma, Wu and Dalal's CIEDE2000 test data.
	for _, c := range []struct{ l1, a1, b1, l2, a2, b2, want float64 }{
		{50, 2.6772, -79.7751, 50, 0, -82.7485, 2.0425},
		{50, -1.3802, -84.2814, 50, 0, -82.7485, 1.0000},
		{50, 2.5, 0, 73, 25, -18, 27.1492},
		{60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644},
		{22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373},
	} {
		if got := DeltaE2000(c.l1, c.a1, c.b1, c.l2, c.a2, c.b2); math.Abs(got-c.want) > 1e-4 {
			t.Errorf("DeltaE2000(%v) = %.4f, want %.4f", c, got, c.want)
		}
	}
}

func TestSRGBToLab(t *testing.T) {
	for _, c := range []struct {
		rgb     [3]float64
		l, a, b float64
	}{
		{[3]float64{1, 1, 1}, 100, 0, 0},
		{[3]float64{0, 0, 0}, 0, 0, 0},
		{[3]float64{1, 0, 0}, 53.24, 80.09, 67.20}, // sRGB red, D65
	} {
		l, a, b := SRGBToLab(c.rgb)
		if math.Abs(l-c.l) > 0.02 || math.Abs(a-c.a) > 0.02 || math.Abs(b-c.b) > 0.02 {
			t.Errorf("SRGBToLab(%v) = %.2f %.2f %.2f, want %.2f %.2f %.2f", c.rgb, l, a, b, c.l, c.a, c.b)
		}
	}
}

func TestMeanDeltaE(t *testing.T) {
	a := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	b := image.NewRGBA(image.Rect(5, 5, 7, 6))
	a.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 255})
	b.SetRGBA(5, 5, color.RGBA{200, 100, 50, 255})
	a.SetNRGBA(1, 0, color.NRGBA{0, 0, 0, 255})
	b.SetRGBA(6, 5, color.RGBA{255, 255, 255, 255})
	mean, worst := MeanDeltaE(a, b)
	if math.Abs(worst-100) > 0.01 || math.Abs(mean-50) > 0.005 {
		t.Errorf("MeanDeltaE = %.4f (worst %.4f), want 50 (worst 100): identical and black/white pixels", mean, worst)
	}
}
