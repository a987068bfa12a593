package pngdec

import "github.com/thumbpipe/thumbpipe/pipeline/pixels/reduce"

// to8 rounds a 16-bit sample to 8 bits.
func to8(hi, lo byte) byte {
	return byte((uint32(hi)<<8 | uint32(lo) + 128) / 257)
}

// outChannels is 1 when the output is *image.Gray, 4 for *image.NRGBA.
func (d *decoder) outChannels() int {
	if d.colorType == Gray && !d.transparent {
		return 1
	}
	return 4
}

// hasAlpha reports whether output pixels can be other than opaque.
func (d *decoder) hasAlpha() bool {
	return d.transparent || d.colorType == GrayAlpha || d.colorType == RGBA
}

// convert turns an unfiltered row of w pixels into 8-bit output pixels
// (gray, or R, G, B, A) in dst.
func (d *decoder) convert(dst, row []byte, w int) error {
	switch d.colorType {
	case Gray:
		return d.convertGray(dst, row, w)
	case Paletted:
		return d.convertPaletted(dst, row, w)
	case GrayAlpha:
		if d.depth == 16 {
			for x := 0; x < w; x++ {
				s, o := row[4*x:4*x+4], dst[4*x:4*x+4]
				v := to8(s[0], s[1])
				o[0], o[1], o[2], o[3] = v, v, v, to8(s[2], s[3])
			}
			return nil
		}
		for x := 0; x < w; x++ {
			s, o := row[2*x:2*x+2], dst[4*x:4*x+4]
			o[0], o[1], o[2], o[3] = s[0], s[0], s[0], s[1]
		}
	case RGB:
		if d.depth == 16 {
			tr := uint64(d.trns[0])<<40 | uint64(d.trns[1])<<32 | uint64(d.trns[2])<<24 |
				uint64(d.trns[3])<<16 | uint64(d.trns[4])<<8 | uint64(d.trns[5])
			for x := 0; x < w; x++ {
				s, o := row[6*x:6*x+6], dst[4*x:4*x+4]
				o[0], o[1], o[2], o[3] = to8(s[0], s[1]), to8(s[2], s[3]), to8(s[4], s[5]), 0xff
				if d.transparent && uint64(s[0])<<40|uint64(s[1])<<32|uint64(s[2])<<24|
					uint64(s[3])<<16|uint64(s[4])<<8|uint64(s[5]) == tr {
					o[3] = 0
				}
			}
			return nil
		}
		// As image/png does, an 8-bit transparent colour is matched on the
		// low bytes of the tRNS samples.
		tr, tg, tb := d.trns[1], d.trns[3], d.trns[5]
		for x := 0; x < w; x++ {
			s, o := row[3*x:3*x+3], dst[4*x:4*x+4]
			o[0], o[1], o[2], o[3] = s[0], s[1], s[2], 0xff
			if d.transparent && s[0] == tr && s[1] == tg && s[2] == tb {
				o[3] = 0
			}
		}
	case RGBA:
		if d.depth == 16 {
			for x := 0; x < w; x++ {
				s, o := row[8*x:8*x+8], dst[4*x:4*x+4]
				o[0], o[1], o[2], o[3] = to8(s[0], s[1]), to8(s[2], s[3]), to8(s[4], s[5]), to8(s[6], s[7])
			}
			return nil
		}
		copy(dst[:4*w], row)
	}
	return nil
}

func (d *decoder) convertGray(dst, row []byte, w int) error {
	c := d.outChannels()
	if d.depth == 16 {
		ty := uint16(d.trns[0])<<8 | uint16(d.trns[1])
		for x := 0; x < w; x++ {
			v := to8(row[2*x], row[2*x+1])
			if c == 1 {
				dst[x] = v
				continue
			}
			o := dst[4*x : 4*x+4]
			o[0], o[1], o[2], o[3] = v, v, v, 0xff
			if uint16(row[2*x])<<8|uint16(row[2*x+1]) == ty {
				o[3] = 0
			}
		}
		return nil
	}
	if c == 1 && d.depth == 8 {
		copy(dst[:w], row)
		return nil
	}
	mul := byte(255 / (1<<d.depth - 1))
	// As image/png does, the transparent gray is the low byte of the tRNS
	// sample, scaled like the samples.
	ty := d.trns[1] * mul
	for x := 0; x < w; x++ {
		v := reduce.Sample(row, x, d.depth) * mul
		if c == 1 {
			dst[x] = v
			continue
		}
		o := dst[4*x : 4*x+4]
		o[0], o[1], o[2], o[3] = v, v, v, 0xff
		if v == ty {
			o[3] = 0
		}
	}
	return nil
}

func (d *decoder) convertPaletted(dst, row []byte, w int) error {
	n := len(d.palette) / 4
	for x := 0; x < w; x++ {
		i := int(reduce.Sample(row, x, d.depth))
		if i >= n {
			return ErrPaletteIndex
		}
		copy(dst[4*x:4*x+4], d.palette[4*i:4*i+4])
	}
	return nil
}
