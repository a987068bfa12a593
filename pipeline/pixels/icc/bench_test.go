package icc

import (
	"image"
	"testing"
)

// thumbnail returns a 200x200 image of the colour model of space with
// varied pixels: the size of a typical thumbnail.
func thumbnail(space ColorSpace) image.Image {
	r := image.Rect(0, 0, 200, 200)
	switch space {
	case CMYK:
		img := image.NewCMYK(r)
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7 % 251)
		}
		return img
	case Gray:
		img := image.NewGray(r)
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7 % 251)
		}
		return img
	}
	img := image.NewNRGBA(r)
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7 % 251)
	}
	return img
}

func BenchmarkApply(b *testing.B) {
	for _, c := range []struct {
		name    string
		profile []byte
	}{
		{"DisplayP3", matrixProfile(displayP3)},
		{"CMYK-mAB", mabCMYK(17)},
		{"RGB-mft1", mft1RGB()},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, tr := mustTransform(b, c.profile)
			img := thumbnail(p.ColorSpace())
			if _, err := tr.Apply(img); err != nil { // tables built once, outside the loop
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.Apply(img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNewTransform(b *testing.B) {
	for _, c := range []struct {
		name    string
		profile []byte
	}{
		{"DisplayP3", matrixProfile(displayP3)},
		{"CMYK-mAB", mabCMYK(17)},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				_, tr := mustTransform(b, c.profile)
				tr.prepare()
			}
		})
	}
}
