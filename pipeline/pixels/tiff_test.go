package pixels_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestTIFFStream reads TIFFs whose IFD comes before and after the image
// data through ReadConfig on a plain stream, as the Thumbnailer does: the
// header and the decode at a box agree with those from bytes in memory.
func TestTIFFStream(t *testing.T) {
	photo := pixeltest.Photo(300, 200, 9)
	for name, data := range map[string][]byte{
		"IFD last (x/image/tiff)": pixeltest.TIFF(photo),
		"IFD first, tiles":        pixeltest.TiledTIFF(300, 200, 64),
	} {
		ifd := int(binary.LittleEndian.Uint32(data[4:]))
		c, stream, err := pixels.ReadConfig(struct{ io.Reader }{bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := pixels.DecodeConfig(data)
		if err != nil || c.Width != want.Width || c.Height != want.Height || c.Channels != want.Channels {
			t.Fatalf("%s: %+v from a stream, %+v (%v) from memory", name, c, want, err)
		}
		got, err := pixels.DecodeFrom(stream, c, 50, 50)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ref, err := pixels.Decode(data, want, 50, 50)
		if err != nil {
			t.Fatal(err)
		}
		if p := pixeltest.PSNR(got, ref); p < 100 {
			t.Errorf("%s (IFD at %d of %d bytes): PSNR %.1f dB between the streamed and in-memory decodes", name, ifd, len(data), p)
		}
	}
}
