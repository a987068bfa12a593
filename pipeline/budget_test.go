package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestDecodeBudget processes small files that declare costly images, each
// under a 64 MiB decode budget (8 MiB for an eighth of the pixels under the
// race detector): the streamed ones make a thumbnail with the
// heap no more than the budget above its baseline, the others are refused
// with ErrTooExpensive before their pixels are allocated. It also checks
// which of them the default budget refuses.
func TestDecodeBudget(t *testing.T) {
	budget := int64(64 << 20)
	side := uint32(7071) // 50 million pixels, the default pixel limit
	// A JPEG so wide that its thumbnail is 200×1: decoded at 1/8.
	wideW, wideH := uint16(65535), uint16(399)
	if raceEnabled {
		// An eighth of the pixels, an eighth of the budget.
		budget, side = 8<<20, 2500
		wideW, wideH = 16383, 99
	}
	tests := []struct {
		name string
		data []byte
		// want is the outcome under the budget: nil for a thumbnail.
		want error
		// refusedByDefault is whether DefaultMaxDecodeMemory refuses it.
		refusedByDefault bool
	}{
		{"16-bit-rgba.png", pixeltest.DeepPNG(side, side, false), nil, false},
		{"16-bit-rgba-interlaced.png", pixeltest.DeepPNG(side, side, true), nil, false},
		// Decoded whole at 4 bytes a pixel, with up to 3 more for the
		// transforms the header cannot see: 350 MB at 7071², over the
		// default budget too (in the race run's eighth, within it).
		{"one-colour-lossless.webp", pixeltest.OneColourWebP(side, side, 0xff336699), pipeline.ErrTooExpensive, !raceEnabled},
		{"16-bit-rgba-deflate-one-strip.tif", pixeltest.DeepTIFF(side, side), nil, false},
		{"16-bit-rgba-deflate-tiles.tif", pixeltest.TiledTIFF(side, side, 256), nil, false},
		{fmt.Sprintf("progressive-cmyk-%dx%d.jpg", wideW, wideH), pixeltest.ProgressiveCMYK(wideW, wideH), nil, false},
	}
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	cfg := pipeline.DefaultConfig()
	cfg.MaxDecodeMemory = budget
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		key := "costly/" + tc.name
		if err := b.WriteAll(ctx, key, tc.data, nil); err != nil {
			t.Fatal(err)
		}
		t.Run(tc.name, func(t *testing.T) {
			var (
				res pipeline.Result
				err error
			)
			peak := peakHeap(t, func() { res, err = th.Process(ctx, b, key) })
			t.Logf("%d bytes: peak heap %.1f MiB above baseline; %v", len(tc.data), float64(peak)/(1<<20), err)
			if peak > uint64(budget) {
				t.Errorf("peak heap rose %.1f MiB above baseline; budget %d MiB", float64(peak)/(1<<20), budget>>20)
			}
			if tc.want == nil {
				if err != nil || res.Written() != 1 {
					t.Fatalf("want a thumbnail, got %+v, %v", res, err)
				}
			} else {
				if !errors.Is(err, tc.want) || pipeline.Retryable(err) {
					t.Fatalf("got %v; want a permanent %v", err, tc.want)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("the limit is %d", budget)) || !strings.Contains(err.Error(), "needs about") {
					t.Errorf("error %q does not give the estimate and the limit", err)
				}
				// Refused from the header: nothing near the image's size.
				if peak > 4<<20 {
					t.Errorf("refusing it took the heap %.1f MiB above baseline", float64(peak)/(1<<20))
				}
			}
			c, err := pixels.DecodeConfig(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			need := pixels.RenderMemory(c, []pixels.Output{{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.JPEG}})
			if refused := need > pipeline.DefaultMaxDecodeMemory; refused != tc.refusedByDefault {
				t.Errorf("needs %d bytes: refused by the default budget %v, want %v", need, refused, tc.refusedByDefault)
			}
		})
	}
}
