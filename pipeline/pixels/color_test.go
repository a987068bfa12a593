package pixels_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// Profiles the colour tests read: Debian's icc-profiles-free, installed by
// scripts/install-test-packages.sh, and the package's own Display P3.
const (
	freeProfiles = "/usr/share/color/icc"
	gsProfiles   = "/usr/share/color/icc/ghostscript"
	displayP3    = "icc/testdata/DisplayP3.icc"
)

// render makes one output of data and returns its bytes and colour note.
func render(t *testing.T, data []byte, o pixels.Output) ([]byte, string) {
	t.Helper()
	r := renderOne(t, data, o)
	return r.Data, r.ColorNote
}

// renderOne makes one output of data, its Data copied.
func renderOne(t *testing.T, data []byte, o pixels.Output) pixels.Rendered {
	t.Helper()
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatalf("DecodeConfig: %v", err)
	}
	var out pixels.Rendered
	err = pixels.Render(bytes.NewReader(data), cfg, []pixels.Output{o}, func(r pixels.Rendered) error {
		out = r
		out.Data = bytes.Clone(r.Data)
		return nil
	})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return out
}

// unconverted makes o the way Render made it before profiles were read:
// decode, resize, orient, encode.
func unconverted(t *testing.T, data []byte, o pixels.Output) []byte {
	t.Helper()
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	// Render decodes a JPEG for the size its thumbnails need, any other
	// format for the box.
	w, h := o.Width, o.Height
	if cfg.Format == pixels.JPEG {
		w, h = pixels.NeededSize(cfg, []pixels.Output{o})
	}
	img, err := pixels.Decode(data, cfg, w, h)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	thumb := pixels.Orient(pixels.Resize(img, o.Width, o.Height, o.Mode), cfg.Orientation)
	if err := pixels.Encode(&buf, thumb, o.Format, o.Encode.Quality); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeImage(t *testing.T, data []byte) image.Image {
	t.Helper()
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := pixels.Decode(data, cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var jpegOut = pixels.Output{Width: 40, Height: 40, Mode: pixels.Fit, Format: pixels.JPEG, Encode: pixels.EncodeOptions{Quality: 85}}

// TestColorUnchanged: an image without a profile, or with an sRGB one,
// gives exactly the bytes it gave before profiles were read.
func TestColorUnchanged(t *testing.T) {
	photo := pixeltest.Photo(120, 90, 3)
	plain := pixeltest.JPEG(photo, 90)
	tests := []struct {
		name string
		data []byte
	}{
		{"jpeg", plain},
		{"png", pixeltest.PNG(photo)},
		{"oriented jpeg", pixeltest.OrientedJPEG(120, 90, 6)},
		{"jpeg with icc-profiles-free sRGB", pixeltest.WithICC(plain, pixeltest.NeedFile(t, freeProfiles+"/sRGB.icc", "icc-profiles-free"))},
		{"jpeg with Ghostscript sRGB", pixeltest.WithICC(plain, pixeltest.NeedFile(t, gsProfiles+"/srgb.icc", "libgs-common"))},
		{"CMYK jpeg", pixeltest.File("cmyk.jpg")},
	}
	for _, tt := range tests {
		for _, f := range []pixels.Format{pixels.JPEG, pixels.PNG} {
			for _, policy := range []pixels.Color{pixels.ColorSRGB, pixels.ColorKeep} {
				o := jpegOut
				o.Format, o.Color = f, policy
				got, note := render(t, tt.data, o)
				if want := unconverted(t, tt.data, o); !bytes.Equal(got, want) {
					t.Errorf("%s to %s, %s: the bytes changed", tt.name, f, policy)
				}
				if note != "" {
					t.Errorf("%s to %s, %s: note %q", tt.name, f, policy, note)
				}
			}
		}
	}
}

// TestColorIgnored: a profile the icc package refuses, one that does not
// fit the image, or broken ICC_PROFILE segments give the untagged bytes and
// a note saying why, not a failure.
func TestColorIgnored(t *testing.T) {
	plain := pixeltest.JPEG(pixeltest.Photo(120, 90, 4), 90)
	gray := pixeltest.NeedFile(t, freeProfiles+"/Gray.icc", "icc-profiles-free")
	adobe := pixeltest.NeedFile(t, freeProfiles+"/compatibleWithAdobeRGB1998.icc", "icc-profiles-free")
	truncated := adobe[:300]
	press := pixeltest.NeedFile(t, gsProfiles+"/default_cmyk.icc", "libgs-common")
	cmyk := pixeltest.File("cmyk.jpg")
	// Two segments, of which only the first is left.
	split := pixeltest.WithICC(plain, bytes.Repeat([]byte("x"), 70000))
	firstOnly := append(split[:2+4+65533:2+4+65533], plain[2:]...)
	tests := []struct {
		name, data, note string
		untagged         []byte // the image without its profile; plain when nil
	}{
		{"garbage", string(pixeltest.WithICC(plain, bytes.Repeat([]byte("not a profile "), 20))), "colour profile ignored", nil},
		{"truncated", string(pixeltest.WithICC(plain, truncated)), "colour profile ignored", nil},
		{"gray profile on a colour image", string(pixeltest.WithICC(plain, gray)), "does not fit", nil},
		{"segment missing", string(firstOnly), "colour profile ignored: ICC_PROFILE segment 2 of 2 missing", nil},
		{"RGB profile on a CMYK image", string(pixeltest.WithICC(cmyk, adobe)), "does not fit", cmyk},
		{"CMYK profile on a colour image", string(pixeltest.WithICC(plain, press)), "does not fit", plain},
	}
	for _, tt := range tests {
		untagged := tt.untagged
		if untagged == nil {
			untagged = plain
		}
		got, note := render(t, []byte(tt.data), jpegOut)
		if want := unconverted(t, untagged, jpegOut); !bytes.Equal(got, want) {
			t.Errorf("%s: the thumbnail is not the untagged one", tt.name)
		}
		if !strings.Contains(note, tt.note) {
			t.Errorf("%s: note %q, want it to say %q", tt.name, note, tt.note)
		}
	}
}

// TestColorKeep: with ColorKeep, an RGB profile's pixel values are kept
// and the thumbnail carries the profile's bytes.
func TestColorKeep(t *testing.T) {
	adobe := pixeltest.NeedFile(t, freeProfiles+"/compatibleWithAdobeRGB1998.icc", "icc-profiles-free")
	plain := pixeltest.JPEG(pixeltest.Photo(120, 90, 5), 90)
	tagged := pixeltest.WithICC(plain, adobe)
	for _, f := range []pixels.Format{pixels.JPEG, pixels.PNG} {
		o := jpegOut
		o.Format, o.Color = f, pixels.ColorKeep
		got, note := render(t, tagged, o)
		if note != "" {
			t.Errorf("%s: note %q", f, note)
		}
		var profile []byte
		if f == pixels.JPEG {
			cfg, err := pixels.DecodeConfig(got)
			if err != nil {
				t.Fatal(err)
			}
			profile = cfg.ICC
		} else {
			profile = pngICCP(t, got)
		}
		if !bytes.Equal(profile, adobe) {
			t.Errorf("%s: the thumbnail carries %d profile bytes, not the source's %d", f, len(profile), len(adobe))
		}
		want := decodeImage(t, unconverted(t, plain, o))
		if mean, _ := pixeltest.MeanDeltaE(decodeImage(t, got), want); mean != 0 {
			t.Errorf("%s: kept pixels differ from the untagged thumbnail's by ΔE %.3f", f, mean)
		}
		// The default converts instead: other pixels, no profile.
		o.Color = pixels.ColorSRGB
		conv, _ := render(t, tagged, o)
		if f == pixels.JPEG {
			if cfg, _ := pixels.DecodeConfig(conv); cfg.ICC != nil {
				t.Errorf("%s: srgb thumbnail carries a profile", f)
			}
		} else if pngICCP(t, conv) != nil {
			t.Errorf("%s: srgb thumbnail carries a profile", f)
		}
		if mean, _ := pixeltest.MeanDeltaE(decodeImage(t, conv), want); mean < 0.5 {
			t.Errorf("%s: the Adobe RGB source was not converted (ΔE %.3f from untagged)", f, mean)
		}
	}
}

// pngICCP returns the profile of a PNG's iCCP chunk, or nil.
func pngICCP(t *testing.T, data []byte) []byte {
	t.Helper()
	for p := data[8:]; len(p) >= 12; {
		n := binary.BigEndian.Uint32(p)
		typ, body := string(p[4:8]), p[8:8+n]
		if typ == "iCCP" {
			i := bytes.IndexByte(body, 0)
			if i < 0 || body[i+1] != 0 {
				t.Fatalf("iCCP chunk without name or with compression method %d", body[i+1])
			}
			zr, err := zlib.NewReader(bytes.NewReader(body[i+2:]))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		p = p[12+n:]
	}
	return nil
}

// extendedWebP wraps a simple (VP8 or VP8L) WebP of w×h pixels in the
// extended format, with an ICCP chunk holding profile when flag is set (a
// chunk of another kind otherwise, to test a flag without its chunk).
func extendedWebP(simple, profile []byte, w, h int, flag bool) []byte {
	chunk := func(fourcc string, data []byte) []byte {
		c := binary.LittleEndian.AppendUint32([]byte(fourcc), uint32(len(data)))
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	vp8x := []byte{0, 0, 0, 0}
	if flag {
		vp8x[0] = 0x20
	}
	vp8x = append(vp8x, byte(w-1), byte((w-1)>>8), byte((w-1)>>16), byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	body := append([]byte("WEBP"), chunk("VP8X", vp8x)...)
	if profile != nil {
		body = append(body, chunk("ICCP", profile)...)
	}
	body = append(body, simple[12:]...)
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

func TestWebPProfile(t *testing.T) {
	simple := pixeltest.File("lossy.webp")
	cfg, err := pixels.DecodeConfig(simple)
	if err != nil {
		t.Fatal(err)
	}
	p3 := pixeltest.NeedFile(t, displayP3, "")
	tests := []struct {
		name    string
		data    []byte
		want    []byte
		ignored string
	}{
		{"simple", simple, nil, ""},
		{"extended without profile", extendedWebP(simple, nil, cfg.Width, cfg.Height, false), nil, ""},
		{"extended with profile", extendedWebP(simple, p3, cfg.Width, cfg.Height, true), p3, ""},
		{"odd-sized profile", extendedWebP(simple, p3[:len(p3)-1], cfg.Width, cfg.Height, true), p3[:len(p3)-1], ""},
		{"flag without chunk", extendedWebP(simple, nil, cfg.Width, cfg.Height, true), nil, "follows VP8X"},
	}
	for _, tt := range tests {
		c, err := pixels.DecodeConfig(tt.data)
		if err != nil {
			t.Fatalf("%s: DecodeConfig: %v", tt.name, err)
		}
		if !bytes.Equal(c.ICC, tt.want) || c.Width != cfg.Width || c.Height != cfg.Height {
			t.Errorf("%s: %dx%d with a %d-byte profile, want %dx%d with %d bytes", tt.name, c.Width, c.Height, len(c.ICC), cfg.Width, cfg.Height, len(tt.want))
		}
		if tt.ignored == "" && c.ICCIgnored != "" || !strings.Contains(c.ICCIgnored, tt.ignored) {
			t.Errorf("%s: ICCIgnored %q, want it to say %q", tt.name, c.ICCIgnored, tt.ignored)
		}
	}
	// The tagged WebP is converted: its thumbnail is not the untagged one.
	untagged, _ := render(t, simple, jpegOut)
	tagged, note := render(t, extendedWebP(simple, p3, cfg.Width, cfg.Height, true), jpegOut)
	if note != "" {
		t.Errorf("note %q", note)
	}
	if mean, _ := pixeltest.MeanDeltaE(decodeImage(t, tagged), decodeImage(t, untagged)); mean < 0.5 {
		t.Errorf("the Display P3 WebP was not converted (ΔE %.3f from untagged)", mean)
	}
}

// ExampleRender_keep keeps a Display P3 photo's pixel values and profile in
// its thumbnail, instead of converting it to sRGB.
func ExampleRender_keep() {
	p3, err := os.ReadFile(displayP3)
	if err != nil {
		fmt.Println(err)
		return
	}
	data := pixeltest.WithICC(pixeltest.JPEG(pixeltest.Photo(640, 480, 1), 90), p3)
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	policy, err := pixels.ParseColor("keep")
	if err != nil {
		fmt.Println(err)
		return
	}
	outs := []pixels.Output{{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.JPEG,
		Encode: pixels.EncodeOptions{Quality: 85}, Color: policy}}
	err = pixels.Render(bytes.NewReader(data), cfg, outs, func(r pixels.Rendered) error {
		thumb, err := pixels.DecodeConfig(r.Data)
		fmt.Printf("%dx%d, profile kept: %t, %v\n", r.Width, r.Height, bytes.Equal(thumb.ICC, p3), err)
		return nil
	})
	fmt.Println(err)
	// Output:
	// 200x150, profile kept: true, <nil>
	// <nil>
}
