// Command bigjpeg writes a camera-like JPEG of the given size to a file. The
// emulator test runs it, built without the race detector, because encoding
// 24 megapixels under -race takes half a minute.
//
//	bigjpeg -w 6000 -h 4000 -o big.jpg
package main

import (
	"flag"
	"log"
	"os"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

func main() {
	w := flag.Int("w", 6000, "width")
	h := flag.Int("h", 4000, "height")
	q := flag.Int("q", 85, "JPEG quality")
	out := flag.String("o", "big.jpg", "output file")
	flag.Parse()
	if err := os.WriteFile(*out, pixeltest.JPEG(pixeltest.Photo(*w, *h, 24), *q), 0o644); err != nil {
		log.Fatal(err)
	}
}
