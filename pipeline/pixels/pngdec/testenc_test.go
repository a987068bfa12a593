package pngdec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// rawPNG is a small PNG writer for tests. Unlike image/png it writes every
// colour type and bit depth, tRNS for gray and RGB, Adam7 interlacing,
// every filter type (chosen per row in turn) and image data split into
// IDAT chunks of any size.
type rawPNG struct {
	w, h, depth int
	ct          ColorType
	interlace   bool
	// sample returns channel ch of pixel (x, y), below 1<<depth.
	sample func(x, y, ch int) uint16
	plte   []byte // PLTE data (paletted)
	trns   []byte // tRNS data, if any
	// idatSize splits the zlib stream into IDAT chunks of this size; 0
	// means one chunk.
	idatSize int
	// before are extra chunks (type, data) written before IDAT.
	before [][2]string
	// raw, if set, is the uncompressed image data, used as it is.
	raw []byte
}

func (p rawPNG) encode() []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	raw := p.raw
	if raw == nil {
		raw = p.imageData()
	}
	zw.Write(raw)
	zw.Close()
	return p.encodeStream(z.Bytes())
}

// encodeStream writes the PNG with the given zlib stream as image data.
func (p rawPNG) encodeStream(data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(pngSignature)
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(p.w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(p.h))
	il := byte(0)
	if p.interlace {
		il = 1
	}
	ihdr = append(ihdr, byte(p.depth), byte(p.ct), 0, 0, il)
	writeChunk(&b, "IHDR", ihdr)
	for _, c := range p.before {
		writeChunk(&b, c[0], []byte(c[1]))
	}
	if p.plte != nil {
		writeChunk(&b, "PLTE", p.plte)
	}
	if p.trns != nil {
		writeChunk(&b, "tRNS", p.trns)
	}
	n := p.idatSize
	if n <= 0 {
		n = len(data)
	}
	for len(data) > 0 {
		k := min(n, len(data))
		writeChunk(&b, "IDAT", data[:k])
		data = data[k:]
	}
	writeChunk(&b, "IEND", nil)
	return b.Bytes()
}

// imageData returns the filtered, uncompressed image data.
func (p rawPNG) imageData() []byte {
	type pass struct{ x0, y0, dx, dy int }
	passes := []pass{{0, 0, 1, 1}}
	if p.interlace {
		passes = passes[:0]
		for _, a := range adam7 {
			passes = append(passes, pass{a.x0, a.y0, a.dx, a.dy})
		}
	}
	nch := p.ct.channels()
	bpp := max(1, p.depth*nch/8)
	var out []byte
	for pi, a := range passes {
		if p.w <= a.x0 || p.h <= a.y0 {
			continue
		}
		pw, ph := (p.w-a.x0+a.dx-1)/a.dx, (p.h-a.y0+a.dy-1)/a.dy
		rb := (pw*p.depth*nch + 7) / 8
		prev := make([]byte, rb)
		for py := 0; py < ph; py++ {
			row := make([]byte, rb)
			bit := 0
			for i := 0; i < pw; i++ {
				for ch := 0; ch < nch; ch++ {
					v := p.sample(a.x0+i*a.dx, a.y0+py*a.dy, ch)
					switch p.depth {
					case 16:
						row[bit/8], row[bit/8+1] = byte(v>>8), byte(v)
					case 8:
						row[bit/8] = byte(v)
					default:
						row[bit/8] |= byte(v) << (8 - p.depth - bit%8)
					}
					bit += p.depth
				}
			}
			ft := byte((py + pi) % 5)
			out = append(out, ft)
			out = append(out, filterRow(ft, row, prev, bpp)...)
			prev = row
		}
	}
	return out
}

func filterRow(ft byte, row, prev []byte, bpp int) []byte {
	out := make([]byte, len(row))
	for i := range row {
		var a, c int
		b := int(prev[i])
		if i >= bpp {
			a, c = int(row[i-bpp]), int(prev[i-bpp])
		}
		var pred int
		switch ft {
		case ftSub:
			pred = a
		case ftUp:
			pred = b
		case ftAverage:
			pred = (a + b) / 2
		case ftPaeth:
			p := a + b - c
			pa, pb, pc := abs(p-a), abs(p-b), abs(p-c)
			switch {
			case pa <= pb && pa <= pc:
				pred = a
			case pb <= pc:
				pred = b
			default:
				pred = c
			}
		}
		out[i] = row[i] - byte(pred)
	}
	return out
}

func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
	b.WriteString(typ)
	b.Write(data)
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
}

// encodeWith is encode with the uncompressed image data changed by f.
func (p rawPNG) encodeWith(f func(raw []byte)) []byte {
	raw := p.imageData()
	f(raw)
	q := p
	q.sample = nil
	q.raw = raw
	return q.encode()
}
