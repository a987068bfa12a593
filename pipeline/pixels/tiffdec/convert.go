package tiffdec

import (
	"bufio"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/reduce"
)

// convert turns the first n pixels of a stored row (after the predictor)
// into converted pixels: gray, or R, G, B, A with unassociated alpha, in
// px16 for 16-bit samples and in px8 otherwise.
func (d *decoder) convert(row []byte, n int, px8 []byte, px16 []uint16) error {
	c := d.cfg
	spp := c.SamplesPerPixel
	if c.Photometric == Palette {
		return d.convertPalette(row, n, px8)
	}
	gray := c.Photometric != RGB
	alpha := 3
	if gray {
		alpha = 1
	}
	hasAlpha := c.Alpha != NoAlpha
	if c.BitsPerSample == 16 {
		bo := d.bo
		for x := 0; x < n; x++ {
			s := row[2*spp*x:]
			if gray {
				v := bo.Uint16(s)
				if c.Photometric == WhiteIsZero {
					v = 0xffff - v
				}
				if !hasAlpha {
					px16[x] = v
					continue
				}
				o := px16[4*x : 4*x+4]
				a := bo.Uint16(s[2*alpha:])
				v = unpremultiply16(v, a, c.Alpha)
				o[0], o[1], o[2], o[3] = v, v, v, a
				continue
			}
			o := px16[4*x : 4*x+4]
			o[0], o[1], o[2], o[3] = bo.Uint16(s), bo.Uint16(s[2:]), bo.Uint16(s[4:]), 0xffff
			if hasAlpha {
				a := bo.Uint16(s[2*alpha:])
				o[3] = a
				o[0] = unpremultiply16(o[0], a, c.Alpha)
				o[1] = unpremultiply16(o[1], a, c.Alpha)
				o[2] = unpremultiply16(o[2], a, c.Alpha)
			}
		}
		return nil
	}
	if c.BitsPerSample < 8 {
		bits := c.BitsPerSample
		mul := byte(255 / (1<<bits - 1))
		for x := 0; x < n; x++ {
			v := reduce.Sample(row, x, bits) * mul
			if c.Photometric == WhiteIsZero {
				v = 255 - v
			}
			px8[x] = v
		}
		return nil
	}
	for x := 0; x < n; x++ {
		s := row[spp*x:]
		if gray {
			v := s[0]
			if c.Photometric == WhiteIsZero {
				v = 255 - v
			}
			if !hasAlpha {
				px8[x] = v
				continue
			}
			a := s[alpha]
			v = unpremultiply8(v, a, c.Alpha)
			o := px8[4*x : 4*x+4]
			o[0], o[1], o[2], o[3] = v, v, v, a
			continue
		}
		o := px8[4*x : 4*x+4]
		o[0], o[1], o[2], o[3] = s[0], s[1], s[2], 0xff
		if hasAlpha {
			a := s[alpha]
			o[3] = a
			o[0] = unpremultiply8(o[0], a, c.Alpha)
			o[1] = unpremultiply8(o[1], a, c.Alpha)
			o[2] = unpremultiply8(o[2], a, c.Alpha)
		}
	}
	return nil
}

// unpremultiply16 returns the unassociated value of v for alpha a.
func unpremultiply16(v, a uint16, kind Alpha) uint16 { return unpremultiply(v, a, kind, 0xffff) }

// unpremultiply8 returns the unassociated value of v for alpha a.
func unpremultiply8(v, a byte, kind Alpha) byte { return unpremultiply(v, a, kind, 0xff) }

// unpremultiply returns the unassociated value of v for alpha a, both of
// which are at most top.
func unpremultiply[T uint8 | uint16](v, a T, kind Alpha, top T) T {
	if kind != Associated || a == top {
		return v
	}
	if a == 0 {
		return 0
	}
	return T(min(uint32(top), (uint32(v)*uint32(top)+uint32(a)/2)/uint32(a)))
}

// convertPalette looks the indices of a row up in the colour map, which
// has an entry for every index.
func (d *decoder) convertPalette(row []byte, n int, px8 []byte) error {
	entries := len(d.colormap) / 3
	for x := 0; x < n; x++ {
		i := int(reduce.Sample(row, x, d.cfg.BitsPerSample))
		o := px8[4*x : 4*x+4]
		o[0] = to8(d.colormap[i])
		o[1] = to8(d.colormap[entries+i])
		o[2] = to8(d.colormap[2*entries+i])
		o[3] = 0xff
	}
	return nil
}

// packBits decodes PackBits: a header byte n, then n+1 literal bytes
// (n 0 to 127) or one byte repeated 1-n times (n -1 to -127); -128 is
// nothing.
type packBits struct {
	r *bufio.Reader
	// literal bytes still to copy, or run copies of b still to give.
	literal, run int
	b            byte
}

func (p *packBits) Read(out []byte) (int, error) {
	n := 0
	for n < len(out) {
		switch {
		case p.literal > 0:
			k := min(p.literal, len(out)-n)
			got, err := p.r.Read(out[n : n+k])
			n += got
			p.literal -= got
			if err != nil {
				return n, err
			}
		case p.run > 0:
			k := min(p.run, len(out)-n)
			for i := range k {
				out[n+i] = p.b
			}
			n += k
			p.run -= k
		default:
			h, err := p.r.ReadByte()
			if err != nil {
				return n, err
			}
			switch hdr := int8(h); {
			case hdr >= 0:
				p.literal = int(hdr) + 1
			case hdr != -128:
				b, err := p.r.ReadByte()
				if err != nil {
					return n, err
				}
				p.b, p.run = b, 1-int(hdr)
			}
		}
	}
	return n, nil
}
