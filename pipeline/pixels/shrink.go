package pixels

import (
	"image"
	"image/color"
)

// shrinkFactor is the whole factor a w×h image decoded at full size may be
// averaged down by for opts' box and still leave the resampler at least
// twice the box to work from, as libvips' shrink-then-reduce does: the
// box average does most of the reduction cheaply, Lanczos the last step
// (a factor under 2), which keeps its sharpness. 1 means no shrinking
// (full size asked for, or an image under twice the box).
func shrinkFactor(w, h int, opts DecodeOptions) int {
	if opts.Width <= 0 || opts.Height <= 0 {
		return 1
	}
	return max(1, min(w/(2*opts.Width), h/(2*opts.Height)))
}

// shrink averages img down by a whole factor f into an *image.NRGBA, each
// output pixel the mean of an f×f block (fewer at the right and bottom
// edges), with colour weighted by alpha so transparent pixels lend no
// colour. Lossy WebP's 4:2:0 YCbCr (with or without alpha) and NRGBA are
// read directly; other images through their colour model. f of 1 returns
// img as it is.
func shrink(img image.Image, f int) image.Image {
	if f <= 1 {
		return img
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := (sw+f-1)/f, (sh+f-1)/f
	dst := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	// Sums of one output row: alpha-weighted colour and alpha.
	sums := make([]uint64, 4*dw)
	counts := make([]uint64, dw)
	pixel := pixelReader(img)
	for dy := 0; dy < dh; dy++ {
		clear(sums)
		clear(counts)
		for y := dy * f; y < min(sh, (dy+1)*f); y++ {
			for x := 0; x < sw; x++ {
				r, g, bl, a := pixel(b.Min.X+x, b.Min.Y+y)
				i := x / f
				sums[4*i] += uint64(r) * uint64(a)
				sums[4*i+1] += uint64(g) * uint64(a)
				sums[4*i+2] += uint64(bl) * uint64(a)
				sums[4*i+3] += uint64(a)
				counts[i]++
			}
		}
		row := dst.Pix[dy*dst.Stride:]
		for i := 0; i < dw; i++ {
			a := sums[4*i+3]
			if a == 0 {
				continue // transparent: zero
			}
			row[4*i] = uint8((sums[4*i] + a/2) / a)
			row[4*i+1] = uint8((sums[4*i+1] + a/2) / a)
			row[4*i+2] = uint8((sums[4*i+2] + a/2) / a)
			row[4*i+3] = uint8((a + counts[i]/2) / counts[i])
		}
	}
	return dst
}

// pixelReader returns a function that reads the straight (not
// premultiplied) 8-bit RGBA of img's pixel at (x, y).
func pixelReader(img image.Image) func(x, y int) (r, g, b, a uint8) {
	switch m := img.(type) {
	case *image.NRGBA:
		return func(x, y int) (uint8, uint8, uint8, uint8) {
			i := m.PixOffset(x, y)
			return m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3]
		}
	case *image.NYCbCrA:
		return func(x, y int) (uint8, uint8, uint8, uint8) {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			r, g, b := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			return r, g, b, m.A[m.AOffset(x, y)]
		}
	case *image.YCbCr:
		return func(x, y int) (uint8, uint8, uint8, uint8) {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			r, g, b := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			return r, g, b, 0xff
		}
	}
	return func(x, y int) (uint8, uint8, uint8, uint8) {
		c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
		return c.R, c.G, c.B, c.A
	}
}
