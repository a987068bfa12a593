package jpegdec

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
)

// app2 returns one APP2 ICC_PROFILE segment: part seq of count.
func app2(seq, count byte, data []byte) []byte {
	payload := append([]byte(iccMagic), seq, count)
	payload = append(payload, data...)
	n := len(payload) + 2
	return append([]byte{0xFF, mAPP2, byte(n >> 8), byte(n)}, payload...)
}

// withSegments inserts segments right after the SOI marker of jpg.
func withSegments(jpg []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

func TestICCProfileSegments(t *testing.T) {
	base := encodeStd(t, synth(32, 24), 90)
	a, b, c := []byte("first part "), []byte("second part "), []byte("third")
	whole := "first part second part third"
	big := make([]byte, 65000)
	var over [][]byte
	for i := range icc.MaxSize/len(big) + 1 {
		over = append(over, app2(byte(i+1), byte(icc.MaxSize/len(big)+1), big))
	}
	tests := []struct {
		name    string
		segs    [][]byte
		want    string
		ignored string // a substring of Config.ICCIgnored
	}{
		{"none", nil, "", ""},
		{"one segment", [][]byte{app2(1, 1, []byte(whole))}, whole, ""},
		{"in order", [][]byte{app2(1, 3, a), app2(2, 3, b), app2(3, 3, c)}, whole, ""},
		{"out of order", [][]byte{app2(3, 3, c), app2(1, 3, a), app2(2, 3, b)}, whole, ""},
		{"missing segment", [][]byte{app2(1, 3, a), app2(3, 3, c)}, "", "segment 2 of 3 missing"},
		{"repeated segment", [][]byte{app2(1, 2, a), app2(1, 2, b), app2(2, 2, c)}, "", "repeated"},
		{"sequence zero", [][]byte{app2(0, 1, a)}, "", "segment 0 of 1"},
		{"sequence past count", [][]byte{app2(3, 2, a)}, "", "segment 3 of 2"},
		{"counts disagree", [][]byte{app2(1, 2, a), app2(2, 3, b)}, "", "disagree"},
		{"empty", [][]byte{app2(1, 1, nil)}, "", "empty"},
		{"too large", over, "", "exceeds"},
		{"other APP2", [][]byte{{0xFF, mAPP2, 0, 7, 'F', 'P', 'X', 'R', 0}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := withSegments(base, tt.segs...)
			cfg, err := DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("DecodeConfig: %v", err)
			}
			if string(cfg.ICC) != tt.want {
				t.Errorf("ICC = %.40q, want %q", cfg.ICC, tt.want)
			}
			if tt.ignored == "" && cfg.ICCIgnored != "" || !strings.Contains(cfg.ICCIgnored, tt.ignored) {
				t.Errorf("ICCIgnored = %q, want it to say %q", cfg.ICCIgnored, tt.ignored)
			}
			// The image decodes whatever its profile segments say.
			img, dcfg, err := Decode(bytes.NewReader(data), Options{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if string(dcfg.ICC) != tt.want || dcfg.ICCIgnored != cfg.ICCIgnored {
				t.Errorf("Decode's Config has ICC %.40q (%q), DecodeConfig's %.40q (%q)", dcfg.ICC, dcfg.ICCIgnored, cfg.ICC, cfg.ICCIgnored)
			}
			if img.Bounds().Dx() != 32 {
				t.Errorf("decoded width %d, want 32", img.Bounds().Dx())
			}
		})
	}
}

// TestCMYKInk checks that Options.CMYK gives the ink amounts image/jpeg
// gives, and that the naive conversion of those inks is today's output.
func TestCMYKInk(t *testing.T) {
	for _, name := range []string{"cmyk.jpg", "ycck.jpg", "ycckprog.jpg"} {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			want, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			wantInk, ok := want.(*image.CMYK)
			if !ok {
				t.Fatalf("image/jpeg gave a %T", want)
			}
			got, _, err := Decode(bytes.NewReader(data), Options{CMYK: true})
			if err != nil {
				t.Fatal(err)
			}
			ink, ok := got.(*image.CMYK)
			if !ok {
				t.Fatalf("Decode with CMYK gave a %T, want *image.CMYK", got)
			}
			if ink.Bounds() != wantInk.Bounds() {
				t.Fatalf("bounds %v, want %v", ink.Bounds(), wantInk.Bounds())
			}
			worst := 0
			for i := range ink.Pix {
				worst = max(worst, absInt(int(ink.Pix[i])-int(wantInk.Pix[i])))
			}
			// The IDCTs differ by a code value or two, as for RGB.
			if worst > 3 {
				t.Errorf("ink differs from image/jpeg's by up to %d", worst)
			}
			rgb, _, err := Decode(bytes.NewReader(data), Options{})
			if err != nil {
				t.Fatal(err)
			}
			naive := rgb.(*image.NRGBA)
			b := ink.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					c := ink.CMYKAt(x, y)
					r, g, bb := color.CMYKToRGB(c.C, c.M, c.Y, c.K)
					if n := naive.NRGBAAt(x, y); n != (color.NRGBA{r, g, bb, 0xff}) {
						t.Fatalf("(%d,%d): naive %v, CMYKToRGB of the ink %v", x, y, n, [3]uint8{r, g, bb})
					}
				}
			}
		})
	}
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
