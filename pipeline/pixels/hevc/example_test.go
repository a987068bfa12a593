package hevc_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"log"
	"os"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/hevc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// The primary image of a HEIC file, decoded from its hvcC property and
// its data, its planes read in place.
func Example() {
	dir, err := os.MkdirTemp("", "hevc")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file, err := pixeltest.EncodeHEIF(dir, []image.Image{pixeltest.Photo(320, 240, 1)}, "-q", "70")
	if err != nil {
		fmt.Println("heif-enc is missing") // libheif-examples
		return
	}

	f, err := heif.Parse(bytes.NewReader(file))
	if err != nil {
		log.Fatal(err)
	}
	data, err := f.ItemData(file, f.Primary)
	if err != nil {
		log.Fatal(err)
	}
	err = hevc.Decode(context.Background(), f.Primary.Property("hvcC"), data, 50<<20, 256<<20, func(fr *wasmrt.Frame) error {
		sx, sy := fr.ChromaShift()
		fmt.Printf("%dx%d, %d bits, chroma %dx%d\n", fr.Width, fr.Height, fr.BitDepth, fr.Width>>sx, fr.Height>>sy)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: 320x240, 8 bits, chroma 160x120
}
