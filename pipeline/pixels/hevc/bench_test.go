package hevc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/hevc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// benchSizes are an iPhone grid's tile and a single-image HEIC.
var benchSizes = [][2]int{{512, 512}, {1280, 960}}

// BenchmarkDecode decodes a photo-like HEIC item and reports the most
// memory the instance mapped.
func BenchmarkDecode(b *testing.B) {
	if err := hevc.Compile(); err != nil {
		b.Fatal(err)
	}
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(b *testing.B) {
			config, data := item(b, encode(b, pixeltest.Photo(sz[0], sz[1], 1), "-q", "80"), false)
			b.SetBytes(int64(len(data)))
			var peak int64
			for b.Loop() {
				peak = max(peak, wasmrt.Peak(func() {
					if err := hevc.Decode(context.Background(), config, data, 0, 0, func(*wasmrt.Frame) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}
