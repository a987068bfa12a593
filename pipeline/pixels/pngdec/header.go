package pngdec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"

	"fmt"
	"io"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/exif"
)

const (
	pngSignature = "\x89PNG\r\n\x1a\n"
	// maxChunkLength is the largest chunk length PNG allows (2^31-1).
	maxChunkLength = 1<<31 - 1
	// MaxMetadata is the largest iCCP profile (after inflating) and eXIf
	// chunk the decoder reads; larger ones fail with ErrChunkTooLarge.
	MaxMetadata = 4 << 20
)

// readHeaders reads the signature and every chunk up to the header of the
// first IDAT chunk, whose data is then next in the input.
func (d *decoder) readHeaders() error {
	var sig [len(pngSignature)]byte
	if _, err := io.ReadFull(d.br, sig[:]); err != nil || string(sig[:]) != pngSignature {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		return FormatError("not a PNG file")
	}
	for first := true; ; first = false {
		length, typ, err := d.readChunkHeader()
		if err != nil {
			return err
		}
		if first != (typ == "IHDR") {
			return FormatError("IHDR is not the first chunk")
		}
		switch typ {
		case "IHDR":
			err = d.parseIHDR(length)
		case "PLTE":
			err = d.parsePLTE(length)
		case "tRNS":
			err = d.parseTRNS(length)
		case "iCCP":
			err = d.parseICCP(length)
		case "eXIf":
			err = d.parseEXIF(length)
		case "IDAT":
			if d.colorType == Paletted && len(d.palette) == 0 {
				return FormatError("missing PLTE before IDAT")
			}
			d.idatLeft = int64(length)
			return nil
		case "IEND":
			return FormatError("no image data")
		default:
			if typ[0]&0x20 == 0 {
				return UnsupportedError("unknown critical chunk " + fmt.Sprintf("%q", typ))
			}
			err = d.skipChunkData(int64(length))
		}
		if err != nil {
			return err
		}
		if err := d.endChunk(); err != nil {
			return err
		}
	}
}

func (d *decoder) parseIHDR(length uint32) error {
	if length != 13 {
		return FormatError("bad IHDR length")
	}
	p, err := d.readChunkData(13)
	if err != nil {
		return err
	}
	w, h := binary.BigEndian.Uint32(p[0:]), binary.BigEndian.Uint32(p[4:])
	if w == 0 || h == 0 || w > maxChunkLength || h > maxChunkLength {
		return FormatError(fmt.Sprintf("bad dimensions %dx%d", w, h))
	}
	d.width, d.height = int(w), int(h)
	d.depth, d.colorType = int(p[8]), ColorType(p[9])
	if p[10] != 0 {
		return UnsupportedError("compression method")
	}
	if p[11] != 0 {
		return UnsupportedError("filter method")
	}
	if p[12] > 1 {
		return FormatError("bad interlace method")
	}
	d.interlaced = p[12] == 1
	ok := false
	switch d.colorType {
	case Gray:
		ok = d.depth == 1 || d.depth == 2 || d.depth == 4 || d.depth == 8 || d.depth == 16
	case Paletted:
		ok = d.depth == 1 || d.depth == 2 || d.depth == 4 || d.depth == 8
	case RGB, GrayAlpha, RGBA:
		ok = d.depth == 8 || d.depth == 16
	}
	if !ok {
		return FormatError(fmt.Sprintf("bad bit depth %d for color type %d", d.depth, d.colorType))
	}
	d.ihdrSeen = true
	return nil
}

func (d *decoder) parsePLTE(length uint32) error {
	if length%3 != 0 || length == 0 || length > 768 {
		return FormatError("bad PLTE length")
	}
	switch d.colorType {
	case Paletted:
		if len(d.palette) > 0 {
			return FormatError("second PLTE chunk")
		}
		if int(length/3) > 1<<d.depth {
			return FormatError("PLTE longer than the bit depth allows")
		}
	case RGB, RGBA:
		// A suggested palette for true-colour images: ignored.
		return d.skipChunkData(int64(length))
	default:
		return FormatError("PLTE, color type mismatch")
	}
	p, err := d.readChunkData(int(length))
	if err != nil {
		return err
	}
	d.palette = make([]byte, 0, 256*4)
	for i := 0; i < len(p); i += 3 {
		d.palette = append(d.palette, p[i], p[i+1], p[i+2], 0xff)
	}
	return nil
}

func (d *decoder) parseTRNS(length uint32) error {
	if d.transparent {
		return FormatError("second tRNS chunk")
	}
	switch d.colorType {
	case Gray:
		if length != 2 {
			return FormatError("bad tRNS length")
		}
	case RGB:
		if length != 6 {
			return FormatError("bad tRNS length")
		}
	case Paletted:
		if len(d.palette) == 0 {
			return FormatError("tRNS before PLTE")
		}
		if length > 256 {
			return FormatError("bad tRNS length")
		}
	default:
		return FormatError("tRNS, color type mismatch")
	}
	p, err := d.readChunkData(int(length))
	if err != nil {
		return err
	}
	d.transparent = true
	if d.colorType != Paletted {
		copy(d.trns[:], p)
		return nil
	}
	// As in image/png, entries beyond PLTE that tRNS gives an alpha for
	// are black.
	for len(d.palette) < 4*len(p) {
		d.palette = append(d.palette, 0, 0, 0, 0xff)
	}
	for i, a := range p {
		d.palette[4*i+3] = a
	}
	return nil
}

// parseICCP inflates the first iCCP chunk's profile, up to MaxMetadata
// bytes.
func (d *decoder) parseICCP(length uint32) error {
	if d.icc != nil || length > MaxMetadata {
		if d.icc == nil {
			return fmt.Errorf("%w: iCCP of %d bytes", ErrChunkTooLarge, length)
		}
		return d.skipChunkData(int64(length))
	}
	p, err := d.readChunkData(int(length))
	if err != nil {
		return err
	}
	nul := bytes.IndexByte(p, 0)
	if nul < 1 || nul > 79 || nul+2 > len(p) || p[nul+1] != 0 {
		return FormatError("bad iCCP chunk")
	}
	zr, err := zlib.NewReader(bytes.NewReader(p[nul+2:]))
	if err != nil {
		return fmt.Errorf("pngdec: iCCP profile: %w", err)
	}
	profile, err := io.ReadAll(io.LimitReader(zr, MaxMetadata+1))
	if err != nil {
		return fmt.Errorf("pngdec: iCCP profile: %w", err)
	}
	if len(profile) > MaxMetadata {
		return fmt.Errorf("%w: iCCP profile inflates beyond %d bytes", ErrChunkTooLarge, MaxMetadata)
	}
	d.icc = profile
	return nil
}

// parseEXIF reads the orientation from the first eXIf chunk.
func (d *decoder) parseEXIF(length uint32) error {
	if d.exifSeen {
		return d.skipChunkData(int64(length))
	}
	if length > MaxMetadata {
		return fmt.Errorf("%w: eXIf of %d bytes", ErrChunkTooLarge, length)
	}
	p, err := d.readChunkData(int(length))
	if err != nil {
		return err
	}
	d.exifSeen = true
	if o := exif.Orientation(p); o >= 1 && o <= 8 {
		d.orientation = o
	}
	return nil
}
