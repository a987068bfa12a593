package pngdec

import (
	"bytes"
	"image/png"
	"strconv"
	"sync"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// benchPNG is an 18 MP photo-like RGB PNG (5640x3172) written by
// image/png, made once per process.
var benchPNG = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, pixeltest.Photo(5640, 3172, 1)); err != nil {
		panic(err)
	}
	return b.Bytes()
})

func BenchmarkDecode(b *testing.B) {
	data := benchPNG()
	b.Run("image-png", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	s := ScaleFor(5640, 3172, 200, 200)
	for _, scale := range []int{1, s} {
		b.Run("pngdec-1:"+strconv.Itoa(scale), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := Decode(bytes.NewReader(data), Options{Scale: scale}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
