package pngdec_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pngdec"
)

// A 1600x1200 PNG decoded for a 200x200 thumbnail: the header picks 1/4
// (the largest power of two that still covers the box), and only the
// 400x300 result is ever allocated.
func ExampleDecode() {
	var file bytes.Buffer
	_ = png.Encode(&file, image.NewNRGBA(image.Rect(0, 0, 1600, 1200)))

	cfg, err := pngdec.DecodeConfig(bytes.NewReader(file.Bytes()))
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := pngdec.Options{BoxWidth: 200, BoxHeight: 200, MaxPixels: 50e6}
	fmt.Println(cfg.Width, cfg.Height, cfg.ColorType, cfg.BitDepth, pngdec.ScaleFor(cfg.Width, cfg.Height, 200, 200))
	fmt.Println("estimate under 1 MB:", pngdec.MemoryEstimate(cfg, opts) < 1<<20)

	img, _, err := pngdec.Decode(bytes.NewReader(file.Bytes()), opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%T %v\n", img, img.Bounds())
	// Output:
	// 1600 1200 RGBA 8 4
	// estimate under 1 MB: true
	// *image.NRGBA (0,0)-(400,300)
}
