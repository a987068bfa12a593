package jpegdec

import (
	"bytes"
	"image/jpeg"
	"sync"
	"testing"
)

// Benchmark inputs are generated once per process: camera-like 4:2:0
// images at q90, baseline from image/jpeg and progressive from the test
// encoder.
var benchInputs = sync.OnceValue(func() []fixture {
	img12 := synth(4000, 3000)
	var b12, b24 bytes.Buffer
	_ = jpeg.Encode(&b12, img12, &jpeg.Options{Quality: 90})
	p12 := encodeTest(img12, 90, true)
	img12 = nil
	_ = jpeg.Encode(&b24, synth(6000, 4000), &jpeg.Options{Quality: 90})
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

func itoa(i int) string { return string(rune('0' + i)) }
