package pipeline_test

import (
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// FuzzKeyPolicy checks the key policy's promises for any key: a thumbnail's
// key is always under the output prefix and never selected as a source, and
// distinct sources of one format never share a thumbnail key.
func FuzzKeyPolicy(f *testing.F) {
	for _, k := range []string{"uploads/cat.jpg", "a/b.png", "thumbnails/200x200/x.jpg", "my photo+1.jpg",
		"ünï/猫.jpeg", "", "/", "a/../b.gif", "x.png.jpg", "\x00\x7f", "thumbnails", "thumbnails/"} {
		f.Add(k, "x"+k)
	}
	cfg := pipeline.DefaultConfig()
	cfg.Include = []string{"**/*.jpg", "**/*.png", "*"}
	cfg.Exclude = []string{"thumbnails/**"}
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	sizes := []pipeline.Size{{Width: 200, Height: 200, Mode: pixels.Fit}, {Width: 64, Height: 64, Mode: pixels.Fill}}
	f.Fuzz(func(t *testing.T, key, other string) {
		for _, s := range sizes {
			for _, out := range []pixels.Format{pixels.JPEG, pixels.PNG, pixels.GIF} {
				vk := cfg.VariantKey(key, s, out)
				if !cfg.IsOutput(vk) {
					t.Fatalf("thumbnail key %q of %q is outside the output prefix", vk, key)
				}
				if ok, _ := cfg.Selects(vk); ok {
					t.Fatalf("thumbnail key %q of %q would be processed as a source", vk, key)
				}
				if key != other && vk == cfg.VariantKey(other, s, out) && extOf(key) == extOf(other) {
					t.Fatalf("%q and %q share thumbnail key %q", key, other, vk)
				}
			}
		}
	})
}

func extOf(k string) string {
	for i := len(k) - 1; i >= 0 && k[i] != '/'; i-- {
		if k[i] == '.' {
			return k[i:]
		}
	}
	return ""
}
