package tiffdec

import (
	"bufio"
	"compress/lzw"
	"compress/zlib"
	"fmt"
	"image"
	"io"

	xlzw "golang.org/x/image/tiff/lzw"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/reduce"
)

// Decode decodes the first image of the TIFF file r holds, reduced by
// opts' scale, strip by strip or tile by tile. The result is an
// *image.Gray for gray images without alpha and an *image.NRGBA for all
// others, 8 bits a sample (16-bit samples are summed at full precision
// and rounded once reduced). The returned Config describes the full-size
// image; its orientation is reported, not applied.
//
// When r is an [io.ReaderAt] it is read at the offsets the file gives;
// otherwise it is read forward once, holding only the bytes between the
// lowest offset still needed and the one being read.
//
// Decode returns an error, and never a partial image, for truncated or
// corrupt data.
func Decode(r io.Reader, opts Options) (image.Image, Config, error) {
	d := newDecoder(r)
	if err := d.readHeader(); err != nil {
		return nil, Config{}, err
	}
	if err := d.config(); err != nil {
		return nil, Config{}, err
	}
	c := d.cfg
	if opts.MaxPixels > 0 && c.Pixels() > opts.MaxPixels {
		return nil, c, fmt.Errorf("%w: %dx%d is over %d pixels", ErrTooLarge, c.Width, c.Height, opts.MaxPixels)
	}
	s := opts.scale(c)
	if s < 1 || s > reduce.MaxScale {
		return nil, c, fmt.Errorf("tiffdec: invalid scale %d (want 1 to %d)", s, reduce.MaxScale)
	}
	if err := d.layout(); err != nil {
		return nil, c, err
	}
	img, err := d.decode(s)
	if err != nil {
		return nil, c, err
	}
	return img, c, nil
}

// block is one strip or tile: where its rows lie in the image.
type block struct {
	i              int // index in the offsets
	x0, y0         int // its top-left pixel
	w, rows        int // pixels a stored row, and stored rows
	cols, usedRows int // columns and rows inside the image
}

// decode reads every block in order into the output.
func (d *decoder) decode(s int) (image.Image, error) {
	c := d.cfg
	w, h := c.Width, c.Height
	ow, oh := reduce.CeilDiv(w, s), reduce.CeilDiv(h, s)
	ch := c.Channels()
	deep := c.BitsPerSample == 16
	r := image.Rect(0, 0, ow, oh)
	var img image.Image
	var pix []byte
	var stride int
	if ch == 1 {
		g := image.NewGray(r)
		img, pix, stride = g, g.Pix, g.Stride
	} else {
		n := image.NewNRGBA(r)
		img, pix, stride = n, n.Pix, n.Stride
	}
	// blockAt returns the k-th block in the order they are read: rows of
	// tiles, or strips, from the top.
	nblocks := len(d.offsets)
	bandRows := 1
	var blockAt func(k int) block
	if c.TileWidth > 0 {
		across := reduce.CeilDiv(w, c.TileWidth)
		blockAt = func(k int) block {
			x0, y0 := k%across*c.TileWidth, k/across*c.TileHeight
			return block{i: k, x0: x0, y0: y0, w: c.TileWidth, rows: c.TileHeight,
				cols: min(c.TileWidth, w-x0), usedRows: min(c.TileHeight, h-y0)}
		}
		bandRows = reduce.CeilDiv(c.TileHeight, s) + 1
	} else {
		blockAt = func(k int) block {
			y0 := k * c.RowsPerStrip
			return block{i: k, y0: y0, w: w, rows: c.RowsPerStrip, cols: w, usedRows: min(c.RowsPerStrip, h-y0)}
		}
	}
	// keep[k] is the lowest offset blocks k and after read.
	keep := make([]int64, nblocks+1)
	keep[nblocks] = 1<<63 - 1
	for k := nblocks - 1; k >= 0; k-- {
		keep[k] = min(keep[k+1], d.offsets[k])
	}
	d.src.release(keep[0])
	bw := blockAt(0).w
	raw := make([]byte, c.rowBytes(bw))
	var px8 []byte
	var px16 []uint16
	if deep {
		px16 = make([]uint16, bw*ch)
	} else {
		px8 = make([]byte, bw*ch)
	}
	var acc *reduce.Accumulator
	if s > 1 {
		acc = reduce.New(ow, min(bandRows, oh), ch, c.Alpha != NoAlpha, deep)
		bandRows = min(bandRows, oh)
	}
	next := 0 // the next output row to emit
	done := func(yEnd int) {
		for ; next < oh && (min(next*s+s, h) <= yEnd); next++ {
			acc.EmitRow(pix[next*stride:], next%bandRows, w, s, min(next*s+s, h)-next*s)
		}
	}
	for k := range nblocks {
		b := blockAt(k)
		if err := d.readBlock(b, keep[k+1], raw, func(y int, row []byte) error {
			if err := d.convert(row, b.cols, px8, px16); err != nil {
				return err
			}
			if s == 1 {
				store(pix[y*stride+b.x0*ch:], px8, px16, b.cols*ch)
				return nil
			}
			if deep {
				acc.Add16((y/s)%bandRows, px16, b.x0, b.cols, s)
			} else {
				acc.Add8((y/s)%bandRows, px8, b.x0, b.cols, s)
			}
			if c.TileWidth == 0 {
				done(y + 1)
			}
			return nil
		}); err != nil {
			what := "strip"
			if c.TileWidth > 0 {
				what = "tile"
			}
			return nil, fmt.Errorf("%w (%s %d of %d)", err, what, b.i+1, nblocks)
		}
		if s > 1 && c.TileWidth > 0 && b.x0+b.w >= w {
			done(b.y0 + b.usedRows)
		}
	}
	return img, nil
}

// store writes n converted samples into an 8-bit output row.
func store(dst, px8 []byte, px16 []uint16, n int) {
	if px16 == nil {
		copy(dst[:n], px8)
		return
	}
	for i, v := range px16[:n] {
		dst[i] = to8(v)
	}
}

// to8 rounds a 16-bit sample to 8 bits.
func to8(v uint16) byte { return byte((uint32(v) + 128) / 257) }

// readBlock decompresses block b, whose data starts at the lowest offset
// of those still to read when keep is, and hands each of its rows inside
// the image to row, with its image row.
func (d *decoder) readBlock(b block, keep int64, raw []byte, row func(y int, data []byte) error) error {
	off, cnt := d.offsets[b.i], d.counts[b.i]
	if off < 0 || cnt < 0 || off > 1<<32 || cnt > 1<<32 {
		return FormatError(fmt.Sprintf("data at offset %d of %d bytes", off, cnt))
	}
	seg := &segment{src: d.src, off: off, end: off + cnt, keep: min(keep, off+cnt)}
	c := d.cfg
	var rd io.Reader
	switch c.Compression {
	case None:
		if cnt < c.rowBytes(b.w)*int64(b.usedRows) {
			return fmt.Errorf("%w: %d bytes for %d rows of %d", ErrShortBlock, cnt, b.usedRows, c.rowBytes(b.w))
		}
		rd = seg
	case LZW:
		var head [2]byte
		if _, err := d.src.ReadAt(head[:], off); err != nil {
			return readErr(err)
		}
		if head[0] == 0 && head[1]&1 == 1 {
			// Old-style LZW: bits least significant first, no early change.
			if d.oldLZW == nil {
				d.oldLZW = lzw.NewReader(d.buffered(seg), lzw.LSB, 8).(*lzw.Reader)
			} else {
				d.oldLZW.Reset(d.buffered(seg), lzw.LSB, 8)
			}
			rd = d.oldLZW
		} else {
			rd = xlzw.NewReader(d.buffered(seg), xlzw.MSB, 8)
		}
	case Deflate, DeflateOld:
		var err error
		if d.zr == nil {
			d.zr, err = zlib.NewReader(d.buffered(seg))
		} else {
			err = d.zr.(zlib.Resetter).Reset(d.buffered(seg), nil)
		}
		if err != nil {
			return d.dataErr(seg, err)
		}
		rd = d.zr
	case PackBits:
		rd = &packBits{r: d.buffered(seg)}
	}
	rb := int(c.rowBytes(b.w))
	for r := 0; r < b.usedRows; r++ {
		if _, err := io.ReadFull(rd, raw[:rb]); err != nil {
			return d.dataErr(seg, err)
		}
		if c.Predictor == 2 {
			d.undoPredictor(raw[:rb], b.w)
		}
		if err := row(b.y0+r, raw[:rb]); err != nil {
			return err
		}
	}
	if c.Compression == None {
		return nil
	}
	// Data past the rows: a strip or tile padded to its full height is
	// read and dropped; more than that is refused at its first byte.
	allowed := int64(b.rows-b.usedRows)*int64(rb) + 1
	n, _ := io.CopyN(io.Discard, rd, allowed)
	if n == allowed {
		return ErrTooMuchData
	}
	return nil
}

// buffered returns the decoder's buffered reader, reset to read seg.
func (d *decoder) buffered(seg *segment) *bufio.Reader {
	if d.br == nil {
		d.br = bufio.NewReaderSize(seg, 4096)
	} else {
		d.br.Reset(seg)
	}
	return d.br
}

// dataErr is the error for err from a block's decompressor: the file's
// end as ErrTruncated, the data's end as ErrShortBlock, the
// decompressor's own as corrupt data.
func (d *decoder) dataErr(seg *segment, err error) error {
	switch {
	case seg.truncated:
		return ErrTruncated
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return ErrShortBlock
	case err == errReleased:
		return err
	}
	return fmt.Errorf("%w: %v", FormatError("corrupt compressed data"), err)
}

// undoPredictor reverses horizontal differencing on a row of w pixels.
func (d *decoder) undoPredictor(row []byte, w int) {
	spp := d.cfg.SamplesPerPixel
	if d.cfg.BitsPerSample == 8 {
		for i := spp; i < w*spp; i++ {
			row[i] += row[i-spp]
		}
		return
	}
	for i := spp; i < w*spp; i++ {
		v := d.bo.Uint16(row[2*i:]) + d.bo.Uint16(row[2*(i-spp):])
		d.bo.PutUint16(row[2*i:], v)
	}
}
