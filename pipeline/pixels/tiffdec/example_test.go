package tiffdec_test

import (
	"bytes"
	"fmt"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/tiffdec"
)

// A 16-bit RGBA TIFF of 7071×7071 pixels in one deflated strip (800 MB
// of samples) decodes for a 200×200 box at 1/32 of its size, with a few
// megabytes.
func ExampleDecode() {
	data := pixeltest.DeepTIFF(7071, 7071)
	c, err := tiffdec.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		panic(err)
	}
	opts := tiffdec.Options{BoxWidth: 200, BoxHeight: 200, MaxPixels: 50_000_000}
	fmt.Printf("%dx%d, %d-bit %s, %s, about %.1f MiB\n", c.Width, c.Height, c.BitsPerSample,
		c.Photometric, c.Compression, float64(tiffdec.MemoryEstimate(c, opts))/(1<<20))
	img, _, err := tiffdec.Decode(bytes.NewReader(data), opts)
	if err != nil {
		panic(err)
	}
	fmt.Println(img.Bounds().Size())
	// Output:
	// 7071x7071, 16-bit RGB, Deflate, about 0.5 MiB
	// (221,221)
}
