package av1_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/av1"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// An AVIF's primary item holds the AV1 data; the picture's planes are
// read while the callback runs.
func ExampleDecode() {
	file := pixeltest.File("photo.avif")
	f, err := heif.Parse(bytes.NewReader(file))
	if err != nil {
		panic(err)
	}
	data, err := f.ItemData(file, f.Primary)
	if err != nil {
		panic(err)
	}
	err = av1.Decode(context.Background(), data, 50_000_000, 256<<20, func(p *wasmrt.Frame) error {
		fmt.Printf("%dx%d, %d bits, layout %d\n", p.Width, p.Height, p.BitDepth, p.Layout)
		return nil
	})
	fmt.Println(err)
	// Output:
	// 320x240, 8 bits, layout 3
	// <nil>
}
