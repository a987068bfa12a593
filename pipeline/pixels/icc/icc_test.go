package icc

import (
	"errors"
	"flag"
	"image"
	"image/color"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

var update = flag.Bool("update", false, "rewrite testdata/DisplayP3.icc")

// TestDisplayP3Fixture keeps the committed Display P3 profile (used by the
// examples) equal to what matrixProfile writes from P3's published
// primaries and transfer function.
func TestDisplayP3Fixture(t *testing.T) {
	want := matrixProfile(displayP3)
	if *update {
		if err := os.WriteFile("testdata/DisplayP3.icc", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("testdata/DisplayP3.icc")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("testdata/DisplayP3.icc differs from matrixProfile(displayP3); run go test -run TestDisplayP3Fixture -update")
	}
}

func TestParametricCurves(t *testing.T) {
	g, a, b, c, d, e, f := 2.2, 0.9, 0.1, 0.05, 0.2, 0.01, 0.02
	for _, tc := range []struct {
		fn   int
		p    []float64
		want func(x float64) float64
	}{
		{0, []float64{g}, func(x float64) float64 { return math.Pow(x, g) }},
		{1, []float64{g, a, b}, func(x float64) float64 {
			if x >= -b/a {
				return math.Pow(a*x+b, g)
			}
			return 0
		}},
		{2, []float64{g, a, -b, c}, func(x float64) float64 {
			if x >= b/a {
				return math.Pow(a*x-b, g) + c
			}
			return c
		}},
		{3, []float64{g, a, b, c, d}, func(x float64) float64 {
			if x >= d {
				return math.Pow(a*x+b, g)
			}
			return c * x
		}},
		{4, []float64{g, a, b, c, d, e, f}, func(x float64) float64 {
			if x >= d {
				return math.Pow(a*x+b, g) + e
			}
			return c*x + f
		}},
	} {
		cv, n, err := parseCurve("test", paraTag(tc.fn, tc.p...))
		if err != nil {
			t.Fatalf("type %d: %v", tc.fn, err)
		}
		if n != 12+4*len(tc.p) {
			t.Errorf("type %d: size %d, want %d", tc.fn, n, 12+4*len(tc.p))
		}
		for i := 0; i <= 20; i++ {
			x := float64(i) / 20
			// The parameters went through s15Fixed16: allow its rounding.
			if got, want := cv.eval(x), tc.want(x); math.Abs(got-want) > 1e-4 {
				t.Errorf("type %d at %.2f: %.6f, want %.6f", tc.fn, x, got, want)
			}
		}
	}
}

func TestCurvTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		at   float64
		want float64
	}{
		{"identity", []byte("curv\x00\x00\x00\x00\x00\x00\x00\x00"), 0.3, 0.3},
		{"gamma", curvGamma(2.0), 0.5, 0.25},
		{"table", curvTable(3, func(x float64) float64 { return x * x }), 0.75, (0.25 + 1) / 2},
	} {
		c, _, err := parseCurve(tc.name, tc.data)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.eval(tc.at); math.Abs(got-tc.want) > 1e-4 {
			t.Errorf("%s(%v) = %v, want %v", tc.name, tc.at, got, tc.want)
		}
	}
}

// TestCLUTInterpolation: tetrahedral and multilinear interpolation both
// reproduce a linear function exactly, in 1 to 5 dimensions.
func TestCLUTInterpolation(t *testing.T) {
	for n := 1; n <= 5; n++ {
		grid := make([]int, n)
		for i := range grid {
			grid[i] = 3 + i
		}
		values, err := clutValues("test", grid, 3)
		if err != nil {
			t.Fatal(err)
		}
		c := newCLUT(grid, 3, values)
		lin := func(in []float64) [3]float64 {
			var o [3]float64
			for i, x := range in {
				o[0] += x / float64(n)
				o[1] += float64(i+1) * x / float64(n*n)
				o[2] += (1 - x) / float64(n)
			}
			return o
		}
		idx := make([]int, n)
		in := make([]float64, n)
		for node := 0; node*3 < values; node++ {
			for d := range n {
				in[d] = float64(idx[d]) / float64(grid[d]-1)
			}
			o := lin(in)
			for k := range 3 {
				c.samples[3*node+k] = float32(o[k])
			}
			for d := n - 1; d >= 0; d-- {
				if idx[d]++; idx[d] < grid[d] {
					break
				}
				idx[d] = 0
			}
		}
		for _, pt := range [][]float64{{0.13, 0.77, 0.5, 0.91, 0.02}, {1, 0, 1, 0, 1}, {0.5, 0.5, 0.5, 0.5, 0.5}} {
			var got [3]float64
			c.eval(pt[:n], got[:])
			want := lin(pt[:n])
			for k := range 3 {
				if math.Abs(got[k]-want[k]) > 1e-6 {
					t.Errorf("%d inputs at %v: output %d = %v, want %v", n, pt[:n], k, got[k], want[k])
				}
			}
		}
	}
}

func TestIsSRGB(t *testing.T) {
	for _, tc := range []struct {
		name string
		data func(*testing.T) []byte
		want bool
	}{
		{"icc-profiles-free sRGB", file(freeProfiles+"/sRGB.icc", "icc-profiles-free"), true},
		{"ghostscript sRGB", file(ghostscriptProfiles+"/srgb.icc", "libgs-common"), true},
		{"v4 para sRGB", built(matrixProfile(srgbPara)), true},
		{"sRGB as a 1024-entry table", built(matrixProfile(rgbSpace{srgbPara.prim, srgbPara.white, curvTable(1024, srgbCurve.eval)})), true},
		{"sRGB primaries, gamma 2.2", built(matrixProfile(rgbSpace{srgbPara.prim, srgbPara.white, curvGamma(2.2)})), false},
		{"Display P3", built(matrixProfile(displayP3)), false},
		{"Adobe RGB", file(freeProfiles+"/compatibleWithAdobeRGB1998.icc", "icc-profiles-free"), false},
		{"gray", file(freeProfiles+"/Gray.icc", "icc-profiles-free"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.data(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.IsSRGB(); got != tc.want {
				t.Errorf("IsSRGB = %v, want %v", got, tc.want)
			}
			tr, err := NewTransform(p)
			if err != nil {
				t.Fatal(err)
			}
			if tr.IsIdentity() != tc.want {
				t.Errorf("IsIdentity = %v, want %v", tr.IsIdentity(), tc.want)
			}
			if tc.want {
				img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
				if out, err := tr.Apply(img); err != nil || out != image.Image(img) {
					t.Errorf("Apply of an identity = %p, %v; want the input", out, err)
				}
			}
		})
	}
}

// TestChad: a v4 profile's chad tag gives back the white it adapted from.
func TestChad(t *testing.T) {
	p, err := Parse(matrixProfile(displayP3))
	if err != nil {
		t.Fatal(err)
	}
	w := p.SourceWhite()
	want := xyToXYZ(0.3127, 0.3290)
	for i := range 3 {
		if math.Abs(w[i]-want[i]) > 2e-4 {
			t.Errorf("SourceWhite = %v, want D65 %v", w, want)
		}
	}
	if major, minor := p.Version(); major != 4 || minor != 3 {
		t.Errorf("Version = %d.%d, want 4.3", major, minor)
	}
}

// TestBradford: adapting D65 to D50 gives Bruce Lindbloom's published
// Bradford matrix, from his white points.
func TestBradford(t *testing.T) {
	m := adaptation(xyz{0.95047, 1, 1.08883}, xyz{0.96422, 1, 0.82521})
	want := mat3{{1.0478112, 0.0228866, -0.0501270}, {0.0295424, 0.9904844, -0.0170491}, {-0.0092345, 0.0150436, 0.7521316}}
	for r := range 3 {
		for c := range 3 {
			if math.Abs(m[r][c]-want[r][c]) > 1e-6 {
				t.Fatalf("Bradford D65 to D50 = %v, want %v", m, want)
			}
		}
	}
}

func TestApplyKeepsAlphaAndBounds(t *testing.T) {
	_, tr := mustTransform(t, matrixProfile(displayP3))
	img := image.NewNRGBA(image.Rect(10, 20, 13, 21))
	img.SetNRGBA(10, 20, color.NRGBA{255, 0, 0, 128})
	img.SetNRGBA(11, 20, color.NRGBA{0, 255, 0, 0})
	img.SetNRGBA(12, 20, color.NRGBA{255, 255, 255, 255})
	out, err := tr.Apply(img)
	if err != nil {
		t.Fatal(err)
	}
	o := out.(*image.NRGBA)
	if o.Bounds() != img.Bounds() {
		t.Errorf("bounds %v, want %v", o.Bounds(), img.Bounds())
	}
	// P3's red is outside sRGB: clipped to full red; white stays white.
	for x, want := range []color.NRGBA{{255, 0, 0, 128}, {0, 255, 0, 0}, {255, 255, 255, 255}} {
		if got := o.NRGBAAt(10+x, 20); got != want {
			t.Errorf("pixel %d = %v, want %v", x, got, want)
		}
	}
	if img.NRGBAAt(12, 20) != (color.NRGBA{255, 255, 255, 255}) || img.NRGBAAt(11, 20).G != 255 {
		t.Error("Apply changed its input")
	}
	// In place gives the same pixels.
	if err := tr.ApplyNRGBA(img); err != nil {
		t.Fatal(err)
	}
	for x := range 3 {
		if img.NRGBAAt(10+x, 20) != o.NRGBAAt(10+x, 20) {
			t.Errorf("ApplyNRGBA pixel %d = %v, Apply gave %v", x, img.NRGBAAt(10+x, 20), o.NRGBAAt(10+x, 20))
		}
	}
	// A YCbCr image (a decoded JPEG) converts like its RGB.
	y := image.NewYCbCr(image.Rect(0, 0, 2, 2), image.YCbCrSubsampleRatio420)
	for i := range y.Y {
		y.Y[i] = 100
	}
	y.Cb[0], y.Cr[0] = 90, 170
	oy, err := tr.Apply(y)
	if err != nil {
		t.Fatal(err)
	}
	r, g, b := color.YCbCrToRGB(100, 90, 170)
	want := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	want.SetNRGBA(0, 0, color.NRGBA{r, g, b, 255})
	if err := tr.ApplyNRGBA(want); err != nil {
		t.Fatal(err)
	}
	if got := oy.(*image.NRGBA).NRGBAAt(1, 1); got != want.NRGBAAt(0, 0) {
		t.Errorf("YCbCr pixel = %v, want %v", got, want.NRGBAAt(0, 0))
	}
}

func TestApplyRefusesTheWrongModel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile []byte
		img     image.Image
	}{
		{"RGB profile, CMYK image", matrixProfile(displayP3), image.NewCMYK(image.Rect(0, 0, 1, 1))},
		{"RGB profile, gray image", matrixProfile(displayP3), image.NewGray(image.Rect(0, 0, 1, 1))},
		{"CMYK profile, RGB image", mabCMYK(2), image.NewNRGBA(image.Rect(0, 0, 1, 1))},
	} {
		_, tr := mustTransform(t, tc.profile)
		if _, err := tr.Apply(tc.img); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: error %v, want ErrUnsupported", tc.name, err)
		}
		if _, err := tr.Convert(make([]float64, 2)); err == nil {
			t.Errorf("%s: Convert of 2 values succeeded", tc.name)
		}
	}
}

// TestGray16 checks 16-bit gray against the exact conversion.
func TestGray16(t *testing.T) {
	_, tr := mustTransform(t, pixeltest.NeedFile(t, freeProfiles+"/Gray-CIE_L.icc", "icc-profiles-free"))
	img := image.NewGray16(image.Rect(0, 0, 256, 1))
	for i := range 256 {
		img.SetGray16(i, 0, color.Gray16{uint16(i * 257)})
	}
	out, err := tr.Apply(img)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 256 {
		want, _ := tr.Convert([]float64{float64(i) / 255})
		got := float64(out.(*image.Gray16).Gray16At(i, 0).Y) / 65535
		if math.Abs(got-want[1]) > 2.0/65535*16 {
			t.Errorf("gray %d: %.5f, want %.5f", i, got, want[1])
		}
	}
}

// endRecorder records how a test helper ended the test instead of ending it.
type endRecorder struct {
	testing.TB
	fatal, skip string
}

func (r *endRecorder) Helper() {}
func (r *endRecorder) Fatalf(format string, args ...any) {
	r.fatal = args[0].(string)
	runtime.Goexit()
}
func (r *endRecorder) Skipf(format string, args ...any) {
	r.skip = args[0].(string)
	runtime.Goexit()
}

// TestMissingReference: a missing reference tool or profile fails the test
// with CI set and skips it otherwise, naming the package to install.
func TestMissingReference(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		for name, call := range map[string]func(testing.TB){
			"tool": func(tb testing.TB) { pixeltest.NeedTool(tb, "transicc", "liblcms2-utils") },
			"file": func(tb testing.TB) { pixeltest.NeedFile(tb, "/nonexistent/profile.icc", "icc-profiles-free") },
		} {
			rec := &endRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				call(rec)
			}()
			<-done
			msg, other := rec.skip, rec.fatal
			if ci != "" {
				msg, other = rec.fatal, rec.skip
			}
			if msg == "" || other != "" || !strings.Contains(msg, "install-test-packages.sh") {
				t.Errorf("%s with CI=%q: fatal %q, skip %q", name, ci, rec.fatal, rec.skip)
			}
		}
	}
}
