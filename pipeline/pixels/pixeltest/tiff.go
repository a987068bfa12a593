package pixeltest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"sort"
)

// TIFFSpec describes the one image of a TIFF file [BuildTIFF] writes.
type TIFFSpec struct {
	Width, Height int
	// Bits is the bits of every sample (8 when 0); Samples the samples a
	// pixel (1 when 0), the last of them alpha when Alpha is set.
	Bits, Samples int
	// Photometric is tag 262: 0 WhiteIsZero, 1 BlackIsZero, 2 RGB, 3
	// Palette.
	Photometric int
	// Alpha is the ExtraSamples value of the last sample: 1 associated,
	// 2 unassociated; 0 writes no ExtraSamples tag.
	Alpha int
	// Compression is 1 (none) or 8 (Deflate: each block's bytes are
	// compressed with zlib).
	Compression int
	// Predictor is tag 317, omitted when 0; the block bytes are written as
	// given.
	Predictor int
	// TileWidth and TileHeight make a tiled image; otherwise RowsPerStrip
	// rows a strip (all when 0).
	TileWidth, TileHeight, RowsPerStrip int
	// Orientation is tag 274, omitted when 0.
	Orientation int
	// ColorMap is tag 320 for a palette image.
	ColorMap []uint16
	// Tags are more SHORT tags of one value each (284: 2 declares separate
	// planes), written as given.
	Tags map[uint16]uint16
	// BigEndian writes "MM" files.
	BigEndian bool
	// Block returns the stored bytes of strip or tile i, of size bytes
	// uncompressed; nil means zeros (deflated as [ZeroZlib], so a large
	// image costs little).
	Block func(i, size int) []byte
	// Raw, when set, returns the bytes written for block i in place of its
	// compressed data (a cut or corrupt block).
	Raw func(i int, data []byte) []byte
}

// BuildTIFF writes a TIFF file of spec: the header, the IFD and its
// arrays, then the strips or tiles in order.
func BuildTIFF(spec TIFFSpec) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	head := "II*\x00"
	if spec.BigEndian {
		bo, head = binary.BigEndian, "MM\x00*"
	}
	bits, spp := max(spec.Bits, 8), max(spec.Samples, 1)
	if spec.Bits > 0 {
		bits = spec.Bits
	}
	comp := max(spec.Compression, 1)
	rowBytes := func(w int) int { return (w*spp*bits + 7) / 8 }
	var sizes []int
	tiled := spec.TileWidth > 0
	if tiled {
		across := (spec.Width + spec.TileWidth - 1) / spec.TileWidth
		down := (spec.Height + spec.TileHeight - 1) / spec.TileHeight
		for range across * down {
			sizes = append(sizes, rowBytes(spec.TileWidth)*spec.TileHeight)
		}
	} else {
		rps := spec.RowsPerStrip
		if rps <= 0 {
			rps = spec.Height
		}
		for y := 0; y < spec.Height; y += rps {
			sizes = append(sizes, rowBytes(spec.Width)*min(rps, spec.Height-y))
		}
	}
	blocks := make([][]byte, len(sizes))
	zeros := map[int][]byte{} // deflated zeros by size: blocks mostly share one
	for i, n := range sizes {
		var data []byte
		if spec.Block != nil {
			data = spec.Block(i, n)
		}
		switch {
		case data == nil && comp == 8:
			if zeros[n] == nil {
				zeros[n] = ZeroZlib(int64(n))
			}
			data = zeros[n]
		case data == nil:
			data = make([]byte, n)
		case comp == 8:
			var z bytes.Buffer
			zw := zlib.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			data = z.Bytes()
		}
		if spec.Raw != nil {
			data = spec.Raw(i, data)
		}
		blocks[i] = data
	}

	type entry struct {
		tag, typ uint16
		vals     []uint32
	}
	short, long := uint16(3), uint16(4)
	ints := func(n int, v uint32) []uint32 {
		s := make([]uint32, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	es := []entry{
		{256, long, []uint32{uint32(spec.Width)}},
		{257, long, []uint32{uint32(spec.Height)}},
		{258, short, ints(spp, uint32(bits))},
		{259, short, []uint32{uint32(comp)}},
		{262, short, []uint32{uint32(spec.Photometric)}},
		{277, short, []uint32{uint32(spp)}},
	}
	if spec.Orientation > 0 {
		es = append(es, entry{274, short, []uint32{uint32(spec.Orientation)}})
	}
	if spec.Predictor > 0 {
		es = append(es, entry{317, short, []uint32{uint32(spec.Predictor)}})
	}
	if spec.Alpha > 0 {
		es = append(es, entry{338, short, []uint32{uint32(spec.Alpha)}})
	}
	if spec.ColorMap != nil {
		cm := make([]uint32, len(spec.ColorMap))
		for i, v := range spec.ColorMap {
			cm[i] = uint32(v)
		}
		es = append(es, entry{320, short, cm})
	}
	for tag, v := range spec.Tags {
		es = append(es, entry{tag, short, []uint32{uint32(v)}})
	}
	counts := make([]uint32, len(blocks))
	for i, b := range blocks {
		counts[i] = uint32(len(b))
	}
	offTag, cntTag := uint16(273), uint16(279)
	if tiled {
		offTag, cntTag = 324, 325
		es = append(es, entry{322, long, []uint32{uint32(spec.TileWidth)}}, entry{323, long, []uint32{uint32(spec.TileHeight)}})
	} else if spec.RowsPerStrip > 0 {
		es = append(es, entry{278, long, []uint32{uint32(spec.RowsPerStrip)}})
	}
	offsets := entry{offTag, long, make([]uint32, len(blocks))}
	es = append(es, offsets, entry{cntTag, long, counts})
	sort.Slice(es, func(a, b int) bool { return es[a].tag < es[b].tag })

	// The IFD at 8, its arrays after it, then the blocks.
	size := func(e entry) int {
		if e.typ == short {
			return 2 * len(e.vals)
		}
		return 4 * len(e.vals)
	}
	next := 8 + 2 + 12*len(es) + 4
	arrays := map[uint16]int{}
	for _, e := range es {
		if size(e) > 4 {
			arrays[e.tag] = next
			next += size(e) + size(e)%2
		}
	}
	for i, b := range blocks {
		offsets.vals[i] = uint32(next)
		next += len(b)
	}
	out := []byte(head)
	out = bo.AppendUint32(out, 8)
	out = bo.AppendUint16(out, uint16(len(es)))
	put := func(b []byte, e entry) []byte {
		for _, v := range e.vals {
			if e.typ == short {
				b = bo.AppendUint16(b, uint16(v))
			} else {
				b = bo.AppendUint32(b, v)
			}
		}
		return b
	}
	for _, e := range es {
		out = bo.AppendUint16(out, e.tag)
		out = bo.AppendUint16(out, e.typ)
		out = bo.AppendUint32(out, uint32(len(e.vals)))
		if off, ok := arrays[e.tag]; ok {
			out = bo.AppendUint32(out, uint32(off))
			continue
		}
		v := put(nil, e)
		out = append(out, v...)
		out = append(out, make([]byte, 4-len(v))...)
	}
	out = bo.AppendUint32(out, 0)
	for _, e := range es {
		if _, ok := arrays[e.tag]; ok {
			out = put(out, e)
			if size(e)%2 == 1 {
				out = append(out, 0)
			}
		}
	}
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out
}

// DeepTIFF returns a w×h 16-bit RGBA TIFF (unassociated alpha), all
// transparent black, in one deflate-compressed strip.
func DeepTIFF(w, h uint32) []byte {
	return BuildTIFF(TIFFSpec{Width: int(w), Height: int(h), Bits: 16, Samples: 4, Photometric: 2, Alpha: 2, Compression: 8})
}

// TiledTIFF returns a w×h 16-bit RGBA TIFF (unassociated alpha), all
// transparent black, in deflate-compressed tiles of side×side pixels.
func TiledTIFF(w, h uint32, side int) []byte {
	return BuildTIFF(TIFFSpec{Width: int(w), Height: int(h), Bits: 16, Samples: 4, Photometric: 2, Alpha: 2,
		Compression: 8, TileWidth: side, TileHeight: side})
}

// GrayAlphaTIFF returns a w×h 16-bit gray and alpha TIFF (unassociated),
// all transparent black, in deflate-compressed strips of 64 rows.
func GrayAlphaTIFF(w, h uint32) []byte {
	return BuildTIFF(TIFFSpec{Width: int(w), Height: int(h), Bits: 16, Samples: 2, Photometric: 1, Alpha: 2,
		Compression: 8, RowsPerStrip: 64})
}

// OrientedTIFF returns a TIFF (8-bit RGB, deflated, in strips of 16 rows)
// of [Upright](w, h) stored as a camera tagging it with orientation o
// (tag 274) would store it.
func OrientedTIFF(w, h, o int) []byte {
	s := Stored(Upright(w, h), o)
	b := s.Rect.Size()
	var pix []byte
	for y := 0; y < b.Y; y++ {
		for x := 0; x < b.X; x++ {
			c := s.NRGBAAt(x, y)
			pix = append(pix, c.R, c.G, c.B)
		}
	}
	const rows = 16
	return BuildTIFF(TIFFSpec{Width: b.X, Height: b.Y, Samples: 3, Photometric: 2, Compression: 8,
		RowsPerStrip: rows, Orientation: o, Block: func(i, _ int) []byte {
			return pix[3*b.X*i*rows : 3*b.X*min((i+1)*rows, b.Y)]
		}})
}
