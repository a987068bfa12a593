package pipeline_test

import (
	"context"
	"os"
	"reflect"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
)

// TestProcessMetadata: Process writes the source's rights only when
// Config.Metadata asks, and switching the policy remakes exactly the
// thumbnails whose bytes it changes: JPEG and PNG ones, not GIF ones.
func TestProcessMetadata(t *testing.T) {
	src, err := os.ReadFile("../testdata/images/rights.jpg")
	if err != nil {
		t.Fatal(err)
	}
	want := metadata.Rights{Creators: []string{"Ada Lovelace", "Charles Babbage"}, Copyright: "© 2026 Ada Lovelace, all rights reserved"}
	for _, tc := range []struct {
		format  string
		carries bool
	}{{"jpeg", true}, {"png", true}, {"gif", false}} {
		t.Run(tc.format, func(t *testing.T) {
			ctx := context.Background()
			b := memblob.OpenBucket(nil)
			defer b.Close()
			if err := b.WriteAll(ctx, "photo.jpg", src, nil); err != nil {
				t.Fatal(err)
			}
			process := func(m pixels.Metadata) (pipeline.Result, metadata.Rights) {
				t.Helper()
				cfg := pipeline.DefaultConfig()
				cfg.Format, cfg.Metadata = tc.format, m
				res, c := processOne(t, b, cfg, "photo.jpg")
				return res, c.Rights
			}
			res, rights := process(pixels.MetadataNone)
			if res.Written() != 1 || !rights.IsZero() {
				t.Errorf("default: wrote %d, rights %+v; want 1 and none", res.Written(), rights)
			}
			res, rights = process(pixels.MetadataCopyright)
			if tc.carries {
				if res.Written() != 1 || !reflect.DeepEqual(rights, want) {
					t.Errorf("copyright: wrote %d, rights %+v; want 1 and %+v", res.Written(), rights, want)
				}
			} else if res.Written() != 0 || !rights.IsZero() {
				t.Errorf("copyright: wrote %d GIF thumbnails (rights %+v); the policy changes no GIF byte", res.Written(), rights)
			}
			if res.MetadataNote != "" {
				t.Errorf("MetadataNote %q for a sound file", res.MetadataNote)
			}
			if res, _ := process(""); res.Written() != btoi(tc.carries) {
				t.Errorf("back to the default: wrote %d, want %d", res.Written(), btoi(tc.carries))
			}
		})
	}
}

// processOne processes key in b with cfg and returns the result and the
// header of its first variant's thumbnail.
func processOne(t *testing.T, b *blob.Bucket, cfg pipeline.Config, key string) (pipeline.Result, pixels.Config) {
	t.Helper()
	ctx := context.Background()
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := th.Process(ctx, b, key)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	thumb, err := b.ReadAll(ctx, res.Variants[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pixels.DecodeConfig(thumb)
	if err != nil {
		t.Fatal(err)
	}
	return res, c
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestHashMetadata: the default policy ("" or none) leaves every hash as
// it was before there was a policy; copyright changes those of the formats
// that carry metadata only.
func TestHashMetadata(t *testing.T) {
	s := pipeline.Size{Width: 200, Height: 200, Mode: pixels.Fit}
	base := pipeline.DefaultConfig()
	for _, f := range []pixels.Format{pixels.JPEG, pixels.PNG, pixels.GIF, pixels.WebP, pixels.AVIF} {
		none, empty, copyright := base, base, base
		empty.Metadata, copyright.Metadata = "", pixels.MetadataCopyright
		if none.Hash(s, f) != empty.Hash(s, f) {
			t.Errorf("%s: \"\" and none hash differently", f)
		}
		if changed := copyright.Hash(s, f) != none.Hash(s, f); changed != f.CarriesMetadata() {
			t.Errorf("%s: copyright changes the hash: %v, want %v", f, changed, f.CarriesMetadata())
		}
	}
	bad := base
	bad.Metadata = "all"
	if bad.Validate() == nil {
		t.Error("Validate takes metadata policy \"all\"")
	}
}
