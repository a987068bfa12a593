package jpegdec

import (
	"image"
)

// output reconstructs progressive coefficients if needed and converts the
// component planes to the final image at the reduced size.
func (d *decoder) output() (image.Image, error) {
	if d.progressive {
		if err := d.reconstruct(); err != nil {
			return nil, err
		}
	}
	w := (d.width + d.scale - 1) / d.scale
	h := (d.height + d.scale - 1) / d.scale
	if d.ncomp == 1 {
		c := &d.comp[0]
		img := &image.Gray{Pix: c.plane, Stride: c.stride, Rect: image.Rect(0, 0, w, h)}
		c.plane = nil // now owned by the caller
		return img, nil
	}
	if ratio, ok := d.ycbcrRatio(); ok {
		// The planes are the image: no conversion pass and no second
		// copy of the pixels (a third of the memory of NRGBA at 4:4:4).
		y, cb, cr := &d.comp[0], &d.comp[1], &d.comp[2]
		img := &image.YCbCr{Y: y.plane, Cb: cb.plane, Cr: cr.plane, YStride: y.stride, CStride: cb.stride,
			SubsampleRatio: ratio, Rect: image.Rect(0, 0, w, h)}
		y.plane, cb.plane, cr.plane = nil, nil, nil // now owned by the caller
		return img, nil
	}
	cs := d.colorSpace()
	ink := d.cmykInk && (cs == CMYK || cs == YCCK)
	var img image.Image
	var pix []byte
	var stride int
	if ink {
		c := image.NewCMYK(image.Rect(0, 0, w, h))
		img, pix, stride = c, c.Pix, c.Stride
	} else {
		c := image.NewNRGBA(image.Rect(0, 0, w, h))
		img, pix, stride = c, c.Pix, c.Stride
	}
	// Per component, the plane column for each output column, unless the
	// component needs no horizontal upsampling.
	var xmaps [4][]int32
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		if c.sx != 1 {
			m := make([]int32, w)
			for x := range m {
				m[x] = int32(x / c.sx)
			}
			xmaps[i] = m
		}
	}
	for y := 0; y < h; y++ {
		var rows [4][]byte
		for i := 0; i < d.ncomp; i++ {
			c := &d.comp[i]
			off := (y / c.sy) * c.stride
			rows[i] = c.plane[off : off+c.stride]
		}
		dst := pix[y*stride : y*stride+4*w]
		// Gather upsampled (replicated) rows where needed, then convert.
		var g [4][]byte
		for i := 0; i < d.ncomp; i++ {
			if d.comp[i].sx == 1 {
				g[i] = rows[i][:w]
				continue
			}
			g[i] = d.rowBuf(i, w)
			src, m := rows[i], xmaps[i]
			for x := range g[i] {
				g[i][x] = src[m[x]]
			}
		}
		switch cs {
		case YCbCr:
			ycbcrRow(dst, g[0], g[1], g[2])
		case RGB:
			rgbRow(dst, g[0], g[1], g[2])
		default:
			if ink {
				inkRow(dst, g[0], g[1], g[2], g[3], cs == YCCK)
				continue
			}
			cmykRow(dst, g[0], g[1], g[2], g[3], cs == YCCK)
		}
	}
	return img, nil
}

// ycbcrRatio reports whether the planes of a YCbCr image form an
// [image.YCbCr] as they are: full-resolution luma, and both chroma planes
// with one of the standard subsamplings and the same stride.
func (d *decoder) ycbcrRatio() (image.YCbCrSubsampleRatio, bool) {
	if d.ncomp != 3 || d.colorSpace() != YCbCr {
		return 0, false
	}
	y, cb, cr := &d.comp[0], &d.comp[1], &d.comp[2]
	if y.sx != 1 || y.sy != 1 || cb.sx != cr.sx || cb.sy != cr.sy || cb.stride != cr.stride {
		return 0, false
	}
	switch [2]int{cb.sx, cb.sy} {
	case [2]int{1, 1}:
		return image.YCbCrSubsampleRatio444, true
	case [2]int{2, 1}:
		return image.YCbCrSubsampleRatio422, true
	case [2]int{2, 2}:
		return image.YCbCrSubsampleRatio420, true
	case [2]int{1, 2}:
		return image.YCbCrSubsampleRatio440, true
	}
	return 0, false
}

// rowBuf returns a scratch row for component i, carved from the spare
// capacity of the decoder's segment buffer area.
func (d *decoder) rowBuf(i, w int) []byte {
	need := 4 * w
	if cap(d.rows) < need {
		d.rows = make([]byte, need)
	}
	return d.rows[i*w : (i+1)*w]
}

// ycbcrRow converts one row exactly like color.YCbCrToRGB.
func ycbcrRow(dst, ys, cbs, crs []byte) {
	n := len(ys)
	cbs, crs = cbs[:n], crs[:n]
	dst = dst[:4*n]
	for i := 0; i < n; i++ {
		yy1 := int32(ys[i]) * 0x10101
		cb1 := int32(cbs[i]) - 128
		cr1 := int32(crs[i]) - 128

		r := yy1 + 91881*cr1
		if uint32(r)&0xff000000 == 0 {
			r >>= 16
		} else {
			r = ^(r >> 31)
		}
		g := yy1 - 22554*cb1 - 46802*cr1
		if uint32(g)&0xff000000 == 0 {
			g >>= 16
		} else {
			g = ^(g >> 31)
		}
		b := yy1 + 116130*cb1
		if uint32(b)&0xff000000 == 0 {
			b >>= 16
		} else {
			b = ^(b >> 31)
		}
		p := dst[4*i : 4*i+4 : 4*i+4]
		p[0] = uint8(r)
		p[1] = uint8(g)
		p[2] = uint8(b)
		p[3] = 0xFF
	}
}

func rgbRow(dst, rs, gs, bs []byte) {
	n := len(rs)
	gs, bs = gs[:n], bs[:n]
	dst = dst[:4*n]
	for i := 0; i < n; i++ {
		p := dst[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = rs[i], gs[i], bs[i], 0xFF
	}
}

// cmykRow converts Adobe CMYK or YCCK to RGB with the same semantics as
// image/jpeg followed by color.CMYKToRGB: Adobe stores inverted CMYK, and
// YCCK's YCbCr part converts to the (inverted) CMY directly.
func cmykRow(dst, c0, c1, c2, c3 []byte, ycck bool) {
	n := len(c0)
	c1, c2, c3 = c1[:n], c2[:n], c3[:n]
	dst = dst[:4*n]
	for i := 0; i < n; i++ {
		var c, m, y uint32
		if ycck {
			// image/jpeg stores R, G, B in the C, M, Y slots.
			var tmp [4]byte
			ycbcrRow(tmp[:], c0[i:i+1], c1[i:i+1], c2[i:i+1])
			c, m, y = uint32(tmp[0]), uint32(tmp[1]), uint32(tmp[2])
		} else {
			c, m, y = 255-uint32(c0[i]), 255-uint32(c1[i]), 255-uint32(c2[i])
		}
		k := 255 - uint32(c3[i])
		// color.CMYKToRGB.
		w := 0xffff - k*0x101
		p := dst[4*i : 4*i+4 : 4*i+4]
		p[0] = uint8(((0xffff - c*0x101) * w / 0xffff) >> 8)
		p[1] = uint8(((0xffff - m*0x101) * w / 0xffff) >> 8)
		p[2] = uint8(((0xffff - y*0x101) * w / 0xffff) >> 8)
		p[3] = 0xFF
	}
}

// inkRow turns one row of Adobe CMYK or YCCK into ink amounts (0 is no
// ink), as image/jpeg returns them: Adobe stores each channel inverted, and
// YCCK's YCbCr part converts straight to C, M and Y.
func inkRow(dst, c0, c1, c2, c3 []byte, ycck bool) {
	n := len(c0)
	c1, c2, c3 = c1[:n], c2[:n], c3[:n]
	dst = dst[:4*n]
	for i := 0; i < n; i++ {
		p := dst[4*i : 4*i+4 : 4*i+4]
		if ycck {
			ycbcrRow(p, c0[i:i+1], c1[i:i+1], c2[i:i+1])
		} else {
			p[0], p[1], p[2] = 255-c0[i], 255-c1[i], 255-c2[i]
		}
		p[3] = 255 - c3[i]
	}
}
