package pipeline_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestProcessColor: Process converts or keeps an embedded profile as
// Config.Color says, and a profile it cannot use is reported in the Result,
// not as a failure.
func TestProcessColor(t *testing.T) {
	adobe := pixeltest.NeedFile(t, "/usr/share/color/icc/compatibleWithAdobeRGB1998.icc", "icc-profiles-free")
	plain := pixeltest.JPEG(pixeltest.Photo(300, 200, 9), 90)
	tests := []struct {
		name     string
		src      []byte
		color    pixels.Color
		note     string // a substring of Result.ColorNote; "" for none
		embedded []byte // the profile the thumbnail carries
	}{
		{"untagged", plain, pixels.ColorSRGB, "", nil},
		{"Adobe RGB converted", pixeltest.WithICC(plain, adobe), pixels.ColorSRGB, "", nil},
		{"Adobe RGB kept", pixeltest.WithICC(plain, adobe), pixels.ColorKeep, "", adobe},
		{"refused profile", pixeltest.WithICC(plain, []byte(strings.Repeat("junk", 64))), pixels.ColorSRGB, "colour profile ignored", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := memblob.OpenBucket(nil)
			defer b.Close()
			if err := b.WriteAll(ctx, "photo.jpg", tc.src, nil); err != nil {
				t.Fatal(err)
			}
			cfg := pipeline.DefaultConfig()
			cfg.Color = tc.color
			res, c := processOne(t, b, cfg, "photo.jpg")
			if res.Written() != 1 {
				t.Fatalf("wrote %d thumbnails, want 1", res.Written())
			}
			if tc.note == "" && res.ColorNote != "" || !strings.Contains(res.ColorNote, tc.note) {
				t.Errorf("ColorNote %q, want it to say %q", res.ColorNote, tc.note)
			}
			if !bytes.Equal(c.ICC, tc.embedded) {
				t.Errorf("thumbnail carries a %d-byte profile, want %d bytes", len(c.ICC), len(tc.embedded))
			}
		})
	}
}
