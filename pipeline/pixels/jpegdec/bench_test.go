package jpegdec

import (
	"bytes"
	"image"
	"image/jpeg"
	"io"
	"sync"
	"testing"

	"github.com/disintegration/imaging"
)

// Benchmark inputs are generated once per process: camera-like 4:2:0
// images at q90, baseline from image/jpeg and progressive from the test
// encoder. The noise is strong enough to give camera-like file sizes
// (about 5.5 MB at 12 MP), so entropy decoding gets its
// realistic share of the time.
const benchNoise = 24

var benchInputs = sync.OnceValue(func() []fixture {
	img12 := synthNoise(4000, 3000, benchNoise)
	var b12, b24 bytes.Buffer
	_ = jpeg.Encode(&b12, img12, &jpeg.Options{Quality: 90})
	p12 := encodeTest(img12, 90, true)
	img12 = nil
	_ = jpeg.Encode(&b24, synthNoise(6000, 4000, benchNoise), &jpeg.Options{Quality: 90})
	return []fixture{
		{name: "12MP-baseline", data: b12.Bytes()},
		{name: "24MP-baseline", data: b24.Bytes()},
		{name: "12MP-progressive", data: p12},
	}
})

func BenchmarkDecode(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name+"/image-jpeg", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				if _, err := jpeg.Decode(bytes.NewReader(in.data)); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, s := range []int{1, 2, 8} {
			b.Run(in.name+"/jpegdec-1:"+itoa(s), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(in.data)))
				for b.Loop() {
					if _, _, err := Decode(bytes.NewReader(in.data), Options{Scale: s}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkThumbnail measures a whole 200x200 thumbnail: decode, Lanczos
// fill to the box with imaging, and JPEG encode.
func BenchmarkThumbnail(b *testing.B) {
	thumb := func(b *testing.B, img image.Image) {
		t := imaging.Fill(img, 200, 200, imaging.Center, imaging.Lanczos)
		if err := jpeg.Encode(io.Discard, t, &jpeg.Options{Quality: 85}); err != nil {
			b.Fatal(err)
		}
	}
	for _, in := range benchInputs() {
		b.Run(in.name+"/image-jpeg+imaging", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				img, err := jpeg.Decode(bytes.NewReader(in.data))
				if err != nil {
					b.Fatal(err)
				}
				thumb(b, img)
			}
		})
		b.Run(in.name+"/jpegdec+imaging", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cfg, err := DecodeConfig(bytes.NewReader(in.data))
				if err != nil {
					b.Fatal(err)
				}
				s := ScaleFor(cfg.Width, cfg.Height, 200, 200)
				img, _, err := Decode(bytes.NewReader(in.data), Options{Scale: s, MaxPixels: 100e6})
				if err != nil {
					b.Fatal(err)
				}
				thumb(b, img)
			}
		})
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
