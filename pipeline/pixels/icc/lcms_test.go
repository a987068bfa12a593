package icc

import (
	"bytes"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// The reference for every conversion is lcms: its transicc tool (Debian's
// liblcms2-utils) converting the same device values to its built-in sRGB
// with the perceptual intent, in bounded (clipped) floating point. The
// profiles come from Debian's icc-profiles-free and libgs-common
// (Ghostscript's CMYK profiles), or are written by build_test.go. All are
// installed by scripts/install-test-packages.sh.

const (
	freeProfiles        = "/usr/share/color/icc"
	ghostscriptProfiles = "/usr/share/color/icc/ghostscript"
)

var transiccLine = regexp.MustCompile(`R=(-?[0-9.]+) G=(-?[0-9.]+) B=(-?[0-9.]+)`)

// lcmsToSRGB converts device values (each in [0, 1]) with transicc and
// returns sRGB in [0, 1]. The intent is perceptual unless args say
// otherwise.
func lcmsToSRGB(t *testing.T, profile []byte, space ColorSpace, in [][]float64, args ...string) [][3]float64 {
	t.Helper()
	tool := pixeltest.NeedTool(t, "transicc", "liblcms2-utils")
	path := filepath.Join(t.TempDir(), "in.icc")
	if err := os.WriteFile(path, profile, 0o644); err != nil {
		t.Fatal(err)
	}
	scale := 255.0
	if space == CMYK {
		scale = 100 // transicc reads CMYK as percentages
	}
	var stdin strings.Builder
	for _, v := range in {
		for i, x := range v {
			if i > 0 {
				stdin.WriteByte(' ')
			}
			stdin.WriteString(strconv.FormatFloat(x*scale, 'f', 6, 64))
		}
		stdin.WriteByte('\n')
	}
	if len(args) == 0 {
		args = []string{"-t0"}
	}
	cmd := exec.Command(tool, append(args, "-s", "-i", path, "-o", "*sRGB")...)
	cmd.Stdin = strings.NewReader(stdin.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("transicc: %v\n%s", err, stderr.String())
	}
	m := transiccLine.FindAllStringSubmatch(stdout.String(), -1)
	if len(m) != len(in) {
		t.Fatalf("transicc gave %d results for %d inputs:\n%s%s", len(m), len(in), stdout.String(), stderr.String())
	}
	out := make([][3]float64, len(m))
	for i, g := range m {
		for c := range 3 {
			v, err := strconv.ParseFloat(g[c+1], 64)
			if err != nil {
				t.Fatal(err)
			}
			out[i][c] = clamp01(v / 255)
		}
	}
	return out
}

// srgbToLab converts encoded sRGB in [0, 1] to CIE L*a*b* (D65).
func srgbToLab(c [3]float64) (l, a, b float64) {
	var lin xyz
	for i, v := range c {
		lin[i] = srgbCurve.eval(v)
	}
	d65 := mat3{{0.4124564, 0.3575761, 0.1804375}, {0.2126729, 0.7151522, 0.0721750}, {0.0193339, 0.1191920, 0.9503041}}
	return xyzToLab(d65.mulVec(lin), xyz{0.95047, 1, 1.08883})
}

// levels returns n evenly spread 8-bit codes from 0 to 255.
func levels(n int) []uint8 {
	l := make([]uint8, n)
	for i := range l {
		l[i] = uint8(math.Round(float64(i) * 255 / float64(n-1)))
	}
	return l
}

// samples returns every combination of the codes in each of n channels.
func samples(n int, codes []uint8) [][]uint8 {
	out := [][]uint8{nil}
	for range n {
		var next [][]uint8
		for _, s := range out {
			for _, c := range codes {
				next = append(next, append(append([]uint8(nil), s...), c))
			}
		}
		out = next
	}
	return out
}

// applySamples puts the samples in an image of the profile's model, runs
// Apply and returns each pixel's sRGB in [0, 1].
func applySamples(t *testing.T, tr *Transform, s [][]uint8) [][3]float64 {
	t.Helper()
	r := image.Rect(0, 0, len(s), 1)
	var img image.Image
	switch tr.ColorSpace() {
	case Gray:
		g := image.NewGray(r)
		for i, v := range s {
			g.Pix[i] = v[0]
		}
		img = g
	case CMYK:
		c := image.NewCMYK(r)
		for i, v := range s {
			copy(c.Pix[4*i:], v)
		}
		img = c
	default:
		n := image.NewNRGBA(r)
		for i, v := range s {
			copy(n.Pix[4*i:], v)
			n.Pix[4*i+3] = 0xff
		}
		img = n
	}
	out, err := tr.Apply(img)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][3]float64, len(s))
	for i := range s {
		c := color.NRGBA64Model.Convert(out.At(i, 0)).(color.NRGBA64)
		res[i] = [3]float64{float64(c.R) / 65535, float64(c.G) / 65535, float64(c.B) / 65535}
	}
	return res
}

type deltaStats struct{ mean, max float64 }

func compare(got, want [][3]float64) (deltaStats, int) {
	var s deltaStats
	worst := 0
	for i := range got {
		l1, a1, b1 := srgbToLab(want[i])
		l2, a2, b2 := srgbToLab(got[i])
		d := pixeltest.DeltaE2000(l1, a1, b1, l2, a2, b2)
		s.mean += d
		if d > s.max {
			s.max, worst = d, i
		}
	}
	s.mean /= float64(len(got))
	return s, worst
}

func TestAgainstLCMS(t *testing.T) {
	for _, c := range []struct {
		name    string
		profile func(t *testing.T) []byte
		levels  int
		maxMean float64
		intent  Intent
		lcms    []string // transicc's intent flags, if not perceptual
	}{
		{"AdobeRGB", file(freeProfiles+"/compatibleWithAdobeRGB1998.icc", "icc-profiles-free"), 9, 1, RelativeColorimetric, nil},
		{"DisplayP3", built(matrixProfile(displayP3)), 9, 1, RelativeColorimetric, nil},
		{"Rec2020", built(matrixProfile(rec2020)), 9, 1, RelativeColorimetric, nil},
		{"ProPhoto", built(matrixProfile(proPhoto)), 9, 1, RelativeColorimetric, nil},
		{"Gray", file(freeProfiles+"/Gray.icc", "icc-profiles-free"), 256, 1, RelativeColorimetric, nil},
		{"GrayCIEL", file(freeProfiles+"/Gray-CIE_L.icc", "icc-profiles-free"), 256, 1, RelativeColorimetric, nil},
		{"GhostscriptGray", file(ghostscriptProfiles+"/sgray.icc", "libgs-common"), 256, 1, RelativeColorimetric, nil},
		{"GhostscriptCMYK", file(ghostscriptProfiles+"/default_cmyk.icc", "libgs-common"), 6, 2.5, Perceptual, nil},
		{"GhostscriptCMYKv4", file(ghostscriptProfiles+"/ps_cmyk.icc", "libgs-common"), 6, 2.5, Perceptual, nil},
		{"GhostscriptROMM", file(ghostscriptProfiles+"/rommrgb.icc", "libgs-common"), 9, 1, RelativeColorimetric, nil},
		{"GhostscriptA98", file(ghostscriptProfiles+"/a98.icc", "libgs-common"), 9, 1, RelativeColorimetric, nil},
		{"GhostscriptESRGB", file(ghostscriptProfiles+"/esrgb.icc", "libgs-common"), 9, 1, RelativeColorimetric, nil},
		{"GhostscriptSCRGB", file(ghostscriptProfiles+"/scrgb.icc", "libgs-common"), 9, 1, RelativeColorimetric, nil},
		{"SyntheticMABCMYK", built(mabCMYK(9)), 6, 2.5, Perceptual, nil},
		{"SyntheticMFT1RGB", built(mft1RGB()), 9, 1, Perceptual, nil},
		// Without A2B0 the colorimetric table; lcms with -b compensates the
		// black point as the package always does.
		{"SyntheticA2B1CMYK", built(a2b1Only(mabCMYK(9))), 6, 2.5, RelativeColorimetric, []string{"-t1", "-b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := c.profile(t)
			p, tr := mustTransform(t, data)
			if tr.Intent() != c.intent {
				t.Errorf("intent %v, want %v", tr.Intent(), c.intent)
			}
			s := samples(p.ColorSpace().Channels(), levels(c.levels))
			in := make([][]float64, len(s))
			for i, v := range s {
				in[i] = make([]float64, len(v))
				for j, x := range v {
					in[i][j] = float64(x) / 255
				}
			}
			want := lcmsToSRGB(t, data, p.ColorSpace(), in, c.lcms...)
			got := applySamples(t, tr, s)
			st, worst := compare(got, want)
			t.Logf("%s: %d samples, mean ΔE2000 %.3f, max %.3f (at %v: got %.4f, lcms %.4f)", c.name, len(s), st.mean, st.max, s[worst], got[worst], want[worst])
			if st.mean > c.maxMean {
				t.Errorf("mean ΔE2000 %.3f > %.1f", st.mean, c.maxMean)
			}
			// The exact (untabulated) path agrees as well.
			exact := make([][3]float64, len(in))
			for i, v := range in {
				var err error
				if exact[i], err = tr.Convert(v); err != nil {
					t.Fatal(err)
				}
			}
			ex, _ := compare(exact, want)
			t.Logf("%s: Convert (no tables, no 8-bit output): mean ΔE2000 %.4f, max %.4f", c.name, ex.mean, ex.max)
			// Without tables and 8-bit rounding the arithmetic is lcms's.
			if ex.mean > 0.05 || ex.max > 0.5 {
				t.Errorf("Convert: mean ΔE2000 %.4f, max %.4f; want under 0.05 and 0.5", ex.mean, ex.max)
			}
		})
	}
}

// TestAgainstLCMS16 checks that 16-bit input keeps its precision: Display
// P3 at 16-bit codes between the 8-bit ones, against lcms.
func TestAgainstLCMS16(t *testing.T) {
	data := matrixProfile(displayP3)
	_, tr := mustTransform(t, data)
	codes := []uint16{0, 77, 1000, 4097, 12345, 30000, 45678, 60001, 65535}
	img := image.NewNRGBA64(image.Rect(0, 0, len(codes)*len(codes)*len(codes), 1))
	var in [][]float64
	i := 0
	for _, r := range codes {
		for _, g := range codes {
			for _, b := range codes {
				img.SetNRGBA64(i, 0, color.NRGBA64{r, g, b, 0xffff})
				in = append(in, []float64{float64(r) / 65535, float64(g) / 65535, float64(b) / 65535})
				i++
			}
		}
	}
	want := lcmsToSRGB(t, data, RGB, in)
	out, err := tr.Apply(img)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := out.(*image.NRGBA64)
	if !ok {
		t.Fatalf("Apply of *image.NRGBA64 gave %T", out)
	}
	got := make([][3]float64, len(in))
	var maxDiff float64
	for i := range in {
		c := o.NRGBA64At(i, 0)
		got[i] = [3]float64{float64(c.R) / 65535, float64(c.G) / 65535, float64(c.B) / 65535}
		for k := range 3 {
			maxDiff = max(maxDiff, math.Abs(got[i][k]-want[i][k]))
		}
	}
	st, _ := compare(got, want)
	t.Logf("16-bit Display P3: %d samples, mean ΔE2000 %.4f, max %.4f, max channel difference %.5f", len(in), st.mean, st.max, maxDiff)
	if st.mean > 0.1 || maxDiff > 4.0/65535*16 {
		t.Errorf("16-bit: mean ΔE2000 %.4f, max channel difference %.6f: precision lost", st.mean, maxDiff)
	}
}

func file(path, pkg string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte { return pixeltest.NeedFile(t, path, pkg) }
}

func built(b []byte) func(t *testing.T) []byte {
	return func(*testing.T) []byte { return b }
}
