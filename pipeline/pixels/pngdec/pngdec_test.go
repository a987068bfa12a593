package pngdec

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// allFixtures returns inputs from image/png, the test encoder and libvips,
// of an odd size so partial boxes and empty Adam7 pass columns occur.
func allFixtures(t testing.TB) []fixture {
	t.Helper()
	fs := goFixtures(t, 67, 45)
	fs = append(fs, rawFixtures(67, 45)...)
	fs = append(fs, rawFixtures(3, 2)...)
	return append(fs, vipsFixtures(t, 67, 45)...)
}

func TestFullSizeMatchesImagePNG(t *testing.T) {
	for _, f := range allFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			ref, err := png.Decode(bytes.NewReader(f.data))
			if err != nil {
				t.Fatalf("image/png: %v", err)
			}
			got, cfg, err := Decode(bytes.NewReader(f.data), Options{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if cfg.Width != ref.Bounds().Dx() || cfg.Height != ref.Bounds().Dy() {
				t.Errorf("config %dx%d, want %v", cfg.Width, cfg.Height, ref.Bounds())
			}
			switch ref.(type) {
			case *image.Gray, *image.Gray16:
				if _, ok := got.(*image.Gray); !ok {
					t.Fatalf("got %T, want *image.Gray", got)
				}
			default:
				if _, ok := got.(*image.NRGBA); !ok {
					t.Fatalf("got %T, want *image.NRGBA", got)
				}
			}
			if d := firstDiff(asNRGBA(t, got), ref8(t, ref)); d != "" {
				t.Errorf("pixels differ from image/png %s", d)
			}
		})
	}
}
