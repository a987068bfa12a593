package pixels_test

import (
	"bytes"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// embedStep returns format f's Embed step from the codec table.
func embedStep(t *testing.T, f pixels.Format) func([]byte, pixels.Embedding) ([]byte, error) {
	t.Helper()
	for _, c := range pixels.Codecs() {
		if c.Format == f && c.Embed != nil {
			return c.Embed
		}
	}
	t.Fatalf("%s has no Embed step", f)
	return nil
}

// TestEmbedWebP adds a profile and rights to WebPs written by Debian's
// cwebp — simple lossy (VP8) and lossless (VP8L) files, lossless with
// alpha, and lossy with alpha (already extended: VP8X, ALPH, VP8) — and
// checks the result with libwebp's own tools: webpmux reads back the very
// profile bytes, dwebp decodes the same pixels as from the original, and
// exiftool reads the rights.
func TestEmbedWebP(t *testing.T) {
	cwebp := pixeltest.NeedTool(t, "cwebp", "webp")
	webpmux := pixeltest.NeedTool(t, "webpmux", "webp")
	dwebp := pixeltest.NeedTool(t, "dwebp", "webp")
	exiftool := pixeltest.NeedTool(t, "exiftool", "libimage-exiftool-perl")
	profile := pixeltest.NeedFile(t, displayP3, "")
	step := embedStep(t, pixels.WebP)
	dir := t.TempDir()

	opaque := pixeltest.Photo(37, 23, 1) // odd sizes: the canvas fields are size-1
	alpha := fading(opaque)
	tests := []struct {
		name  string
		img   image.Image
		args  []string
		first string // the chunk cwebp writes first
		alpha bool
	}{
		{"lossy", opaque, []string{"-q", "80"}, "VP8 ", false},
		{"lossless", opaque, []string{"-lossless"}, "VP8L", false},
		{"lossless alpha", alpha, []string{"-lossless", "-exact"}, "VP8L", true},
		{"lossy alpha", alpha, []string{"-q", "80"}, "VP8X", true},
	}
	rights := metadata.Rights{Creators: []string{"Ada Lovelace"}, Copyright: "© 2026 Ada"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(dir, tc.name+".png")
			webp := filepath.Join(dir, tc.name+".webp")
			if err := os.WriteFile(src, pixeltest.PNG(tc.img), 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, cwebp, append(tc.args, "-quiet", src, "-o", webp)...)
			data, err := os.ReadFile(webp)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(data[12:16]); got != tc.first {
				t.Fatalf("cwebp wrote %q first, the case wants %q", got, tc.first)
			}
			for _, e := range []pixels.Embedding{{ICC: profile}, {Rights: rights}, {ICC: profile, Rights: rights}} {
				out, err := step(data, e)
				if err != nil {
					t.Fatal(err)
				}
				embedded := filepath.Join(dir, tc.name+"-embedded.webp")
				if err := os.WriteFile(embedded, out, 0o644); err != nil {
					t.Fatal(err)
				}
				info := run(t, webpmux, "-info", embedded)
				if bytes.Contains(info, []byte("alpha")) != tc.alpha {
					t.Errorf("webpmux -info says %q; alpha %v", info, tc.alpha)
				}
				if e.ICC != nil {
					got := filepath.Join(dir, "got.icc")
					run(t, webpmux, "-get", "icc", embedded, "-o", got)
					if b, _ := os.ReadFile(got); !bytes.Equal(b, profile) {
						t.Errorf("webpmux reads a %d-byte profile, not the %d bytes embedded", len(b), len(profile))
					}
				} else if bytes.Contains(info, []byte("ICC")) {
					t.Errorf("webpmux -info finds a profile: %s", info)
				}
				if !bytes.Equal(run(t, dwebp, "-quiet", "-pam", embedded, "-o", "-"), run(t, dwebp, "-quiet", "-pam", webp, "-o", "-")) {
					t.Error("dwebp decodes other pixels once the chunks are added")
				}
				if !checkRights(t, exiftoolTags(t, exiftool, out, ".webp"), e.Rights) {
					continue
				}
				// The file is still one pixels reads, profile and rights
				// included.
				cfg, err := pixels.DecodeConfig(out)
				if err != nil || cfg.Width != 37 || cfg.Height != 23 || !bytes.Equal(cfg.ICC, e.ICC) || !reflect.DeepEqual(cfg.Rights, rights) {
					t.Errorf("DecodeConfig: %dx%d, %d-byte profile, rights %+v, %v", cfg.Width, cfg.Height, len(cfg.ICC), cfg.Rights, err)
				}
			}
		})
	}
}

// TestEmbedAVIF adds a profile and rights to AVIFs written by Debian's
// avifenc, opaque and with alpha, and checks the result with libavif's
// own tool and exiftool: avifdec decodes the same pixels as from the
// original and hands back the very profile bytes; exiftool reads the
// rights from the Exif and XMP items.
func TestEmbedAVIF(t *testing.T) {
	avifdec := pixeltest.NeedTool(t, "avifdec", "libavif-bin")
	exiftool := pixeltest.NeedTool(t, "exiftool", "libimage-exiftool-perl")
	profile := pixeltest.NeedFile(t, displayP3, "")
	step := embedStep(t, pixels.AVIF)
	dir := t.TempDir()
	opaque := pixeltest.Photo(37, 23, 1)
	alpha := fading(opaque)
	rights := metadata.Rights{Creators: []string{"Ada Lovelace"}, Copyright: "© 2026 Ada"}
	for _, tc := range []struct {
		name string
		img  image.Image
	}{{"opaque", opaque}, {"alpha", alpha}} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := pixeltest.EncodeAVIF(t.TempDir(), tc.img, "--min", "10", "--max", "20")
			if err != nil {
				t.Fatal(err)
			}
			orig := filepath.Join(dir, tc.name+".avif")
			if err := os.WriteFile(orig, data, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, avifdec, orig, filepath.Join(dir, tc.name+"-orig.png"))
			want := readPNG(t, filepath.Join(dir, tc.name+"-orig.png"))
			for _, e := range []pixels.Embedding{{ICC: profile}, {Rights: rights}, {ICC: profile, Rights: rights}} {
				out, err := step(data, e)
				if err != nil {
					t.Fatal(err)
				}
				embedded := filepath.Join(dir, tc.name+"-embedded.avif")
				if err := os.WriteFile(embedded, out, 0o644); err != nil {
					t.Fatal(err)
				}
				gotPNG := filepath.Join(dir, tc.name+"-embedded.png")
				run(t, avifdec, "--ignore-icc", embedded, gotPNG)
				if p := pixeltest.PSNR(readPNG(t, gotPNG), want); !math.IsInf(p, 1) {
					t.Error("avifdec decodes other pixels once the profile and items are added")
				}
				info := string(run(t, avifdec, "--info", embedded))
				if hasICC := !strings.Contains(info, "ICC Profile    : Absent"); hasICC != (e.ICC != nil) {
					t.Errorf("avifdec --info says %q; profile %v", info, e.ICC != nil)
				}
				if strings.Contains(info, "Alpha          : Absent") == (tc.img == image.Image(alpha)) {
					t.Errorf("avifdec --info says %q; alpha %v", info, tc.img == image.Image(alpha))
				}
				cfg, err := pixels.DecodeConfig(out)
				if err != nil || cfg.Width != 37 || cfg.Height != 23 || !bytes.Equal(cfg.ICC, e.ICC) {
					t.Errorf("DecodeConfig: %dx%d, %d-byte profile, %v", cfg.Width, cfg.Height, len(cfg.ICC), err)
				}
				checkRights(t, exiftoolTags(t, exiftool, out, ".avif"), e.Rights)
			}
		})
	}
}

// fading is opaque with an alpha that fades from transparent at the left
// edge to opaque at the right.
func fading(opaque *image.RGBA) *image.NRGBA {
	b := opaque.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := opaque.RGBAAt(x, y)
			out.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, uint8((x - b.Min.X) * 255 / (b.Dx() - 1))})
		}
	}
	return out
}

// checkRights checks the tags exiftool read from a thumbnail embedded
// with rights (Ada Lovelace's, as the embed tests write them, or none)
// and reports whether there were any.
func checkRights(t *testing.T, tags map[string]any, rights metadata.Rights) bool {
	t.Helper()
	if rights.IsZero() {
		if tags["IFD0:Artist"] != nil || tags["XMP-dc:Rights"] != nil {
			t.Errorf("rights written though none were asked: %v", tags)
		}
		return false
	}
	for k, want := range map[string]any{"IFD0:Artist": "Ada Lovelace", "IFD0:Copyright": "© 2026 Ada",
		"XMP-dc:Creator": []any{"Ada Lovelace"}, "XMP-dc:Rights": "© 2026 Ada"} {
		if !jsonEqual(tags[k], want) {
			t.Errorf("exiftool reads %s = %v, want %v", k, tags[k], want)
		}
	}
	return true
}

// TestEmbedRefuses: an Embed step given bytes not of its format says so
// rather than writing a broken file.
func TestEmbedRefuses(t *testing.T) {
	e := pixels.Embedding{ICC: []byte("profile")}
	for _, f := range []pixels.Format{pixels.JPEG, pixels.PNG, pixels.WebP} {
		for _, data := range [][]byte{nil, []byte("GIF89a........"), []byte("RIFF\xff\xff\xff\x00WEBPVP8 ")} {
			if out, err := embedStep(t, f)(data, e); err == nil {
				t.Errorf("%s embeds into %q: %q", f, data, out)
			}
		}
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out
}

// TestKeepEveryFormat: with ColorKeep, every writable format that carries
// a profile carries the source's very bytes (WebP's as soon as it is
// written), and the others none.
func TestKeepEveryFormat(t *testing.T) {
	profile := pixeltest.NeedFile(t, displayP3, "")
	src := pixeltest.WithICC(pixeltest.JPEG(pixeltest.Photo(60, 40, 3), 90), profile)
	for _, c := range pixels.Codecs() {
		if c.Encode == nil {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			out, _ := render(t, src, pixels.Output{Width: 30, Height: 30, Mode: pixels.Fit, Format: c.Format,
				Encode: pixels.EncodeOptions{Quality: 90}, Color: pixels.ColorKeep})
			cfg, err := pixels.DecodeConfig(out)
			if err != nil {
				t.Fatal(err)
			}
			want := profile
			if !c.Format.CarriesMetadata() {
				want = nil
			}
			if !bytes.Equal(cfg.ICC, want) {
				t.Errorf("%s thumbnail carries a %d-byte profile, want %d bytes", c.Name, len(cfg.ICC), len(want))
			}
		})
	}
}
