package pixels

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
)

// Embedding is what a [Codec]'s Embed step adds to an image its encoder
// wrote: a colour profile and the creator and rights fields. A zero
// Embedding adds nothing.
type Embedding struct {
	// ICC is the colour profile; nil for none.
	ICC []byte
	// Rights are written in every metadata form the format has.
	Rights metadata.Rights
}

// IsZero reports whether e adds nothing.
func (e Embedding) IsZero() bool { return len(e.ICC) == 0 && e.Rights.IsZero() }

// embed runs f's Embed step on data when e adds something.
func embed(f Format, data []byte, e Embedding) ([]byte, error) {
	c := lookup(f)
	if e.IsZero() || c == nil || c.Embed == nil {
		return data, nil
	}
	out, err := c.Embed(data, e)
	if err != nil {
		return nil, fmt.Errorf("embed profile and metadata in %s: %w", f, err)
	}
	return out, nil
}

// jpegSegmentData is the most data one JPEG marker segment holds: the
// 65535 bytes its length allows, less the length itself.
const jpegSegmentData = 65535 - 2

// iccSegmentData is the most profile bytes one APP2 segment holds, less
// the "ICC_PROFILE\0", sequence and count bytes.
const iccSegmentData = jpegSegmentData - 14

// embedJPEG inserts after the SOI marker, in the order readers expect
// them: APP1 EXIF, APP1 XMP, the profile's APP2 ICC_PROFILE segments and
// APP13 IPTC. The encoder writes no APP0, so EXIF comes first, as its
// standard asks.
func embedJPEG(data []byte, e Embedding) ([]byte, error) {
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, errors.New("not a JPEG")
	}
	count := (len(e.ICC) + iccSegmentData - 1) / iccSegmentData
	if count > 255 {
		return nil, fmt.Errorf("ICC profile of %d bytes needs more than 255 segments", len(e.ICC))
	}
	out := make([]byte, 0, len(data)+len(e.ICC)+18*count+4096)
	out = append(out, data[:2]...)
	segment := func(marker byte, parts ...[]byte) error {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		if n > jpegSegmentData {
			return fmt.Errorf("APP%d segment of %d bytes exceeds %d", marker-0xE0, n, jpegSegmentData)
		}
		out = append(out, 0xFF, marker)
		out = binary.BigEndian.AppendUint16(out, uint16(2+n))
		for _, p := range parts {
			out = append(out, p...)
		}
		return nil
	}
	var errs []error
	if exif := metadata.EXIF(e.Rights); exif != nil {
		errs = append(errs, segment(0xE1, []byte(metadata.ExifHeader), exif))
	}
	if xmp := metadata.XMP(e.Rights); xmp != nil {
		errs = append(errs, segment(0xE1, []byte(metadata.XMPHeader), xmp))
	}
	for i := range count {
		part := e.ICC[i*iccSegmentData : min(len(e.ICC), (i+1)*iccSegmentData)]
		errs = append(errs, segment(0xE2, []byte("ICC_PROFILE\x00"), []byte{byte(i + 1), byte(count)}, part))
	}
	if iptc := metadata.IPTC(e.Rights); iptc != nil {
		errs = append(errs, segment(0xED, []byte(metadata.PhotoshopHeader), iptc))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return append(out, data[2:]...), nil
}

// embedPNG inserts after the IHDR chunk an iCCP chunk with the profile,
// an eXIf chunk and an iTXt chunk with the XMP packet; PNG has no IPTC
// chunk, and the XMP packet carries the same fields.
func embedPNG(data []byte, e Embedding) ([]byte, error) {
	// Signature (8), then IHDR: length (4), type (4), 13 bytes, CRC (4).
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	if len(data) < ihdrEnd || string(data[12:16]) != "IHDR" {
		return nil, errors.New("not a PNG")
	}
	out := make([]byte, 0, len(data)+len(e.ICC)+4096)
	out = append(out, data[:ihdrEnd]...)
	chunk := func(body []byte) { // body starts with the chunk type
		out = binary.BigEndian.AppendUint32(out, uint32(len(body)-4))
		out = append(out, body...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	}
	if len(e.ICC) > 0 {
		var b bytes.Buffer
		b.WriteString("iCCP")
		b.WriteString("ICC profile\x00\x00") // name, then compression method 0 (zlib)
		zw, err := zlib.NewWriterLevel(&b, zlib.BestSpeed)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(e.ICC); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		chunk(b.Bytes())
	}
	if exif := metadata.EXIF(e.Rights); exif != nil {
		chunk(append([]byte("eXIf"), exif...))
	}
	if xmp := metadata.XMP(e.Rights); xmp != nil {
		// Keyword, then uncompressed, no language tag, no translated
		// keyword.
		chunk(append([]byte("iTXt"+metadata.XMPKeyword+"\x00\x00\x00\x00\x00"), xmp...))
	}
	return append(out, data[ihdrEnd:]...), nil
}

// embedWebP rewrites a WebP as the extended format, whatever encoder
// wrote it: a simple lossy (VP8) or lossless (VP8L) file gets a VP8X
// chunk with its canvas size and alpha flag taken from the bitstream
// header; an extended one keeps its VP8X flags and chunks. The profile
// goes in an ICCP chunk right after VP8X, the rights in EXIF and XMP
// chunks at the end, as the container specification orders them; the
// VP8X flags and the RIFF size are set to match. Chunks of the kinds
// added that data already has are replaced.
func embedWebP(data []byte, e Embedding) ([]byte, error) {
	chunks, err := webpChunks(data)
	if err != nil {
		return nil, err
	}
	var vp8x []byte
	var body [][]byte // the chunks kept, in order, with headers and padding
	for _, c := range chunks {
		switch c.typ {
		case "VP8X":
			if len(c.data) < 10 {
				return nil, fmt.Errorf("VP8X chunk of %d bytes, want 10", len(c.data))
			}
			vp8x = append([]byte(nil), c.data[:10]...)
		case "ICCP", "EXIF", "XMP ":
			if c.typ == "ICCP" && len(e.ICC) == 0 || c.typ != "ICCP" && e.Rights.IsZero() {
				body = append(body, c.raw)
			}
		default:
			body = append(body, c.raw)
		}
	}
	if vp8x == nil {
		w, h, alpha, err := webpCanvas(chunks[0])
		if err != nil {
			return nil, err
		}
		vp8x = make([]byte, 10)
		if alpha {
			vp8x[0] |= webpFlagAlpha
		}
		putUint24(vp8x[4:], uint32(w-1))
		putUint24(vp8x[7:], uint32(h-1))
	}
	var pre, post [][]byte
	if len(e.ICC) > 0 {
		vp8x[0] |= webpFlagICC
		pre = append(pre, riffChunk("ICCP", e.ICC))
	}
	if exif := metadata.EXIF(e.Rights); exif != nil {
		vp8x[0] |= webpFlagEXIF
		post = append(post, riffChunk("EXIF", exif))
	}
	if xmp := metadata.XMP(e.Rights); xmp != nil {
		vp8x[0] |= webpFlagXMP
		post = append(post, riffChunk("XMP ", xmp))
	}
	all := append(append(append([][]byte{riffChunk("VP8X", vp8x)}, pre...), body...), post...)
	size := 4 // "WEBP"
	for _, c := range all {
		size += len(c)
	}
	if uint64(size) > 0xFFFFFFFE {
		return nil, fmt.Errorf("WebP of %d bytes is too large for RIFF", size)
	}
	out := make([]byte, 0, 8+size)
	out = append(out, "RIFF"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(size))
	out = append(out, "WEBP"...)
	for _, c := range all {
		out = append(out, c...)
	}
	return out, nil
}

// riffChunk returns a RIFF chunk: type, little-endian size, data and a
// pad byte to an even length.
func riffChunk(typ string, data []byte) []byte {
	c := make([]byte, 0, 8+len(data)+1)
	c = append(c, typ...)
	c = binary.LittleEndian.AppendUint32(c, uint32(len(data)))
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func putUint24(b []byte, v uint32) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }

// webpChunk is one chunk of a WebP: its type, its data and its raw bytes
// (header, data and padding).
type webpChunk struct {
	typ       string
	data, raw []byte
}

// webpChunks splits a WebP into its chunks, checking each lies within the
// RIFF size.
func webpChunks(data []byte) ([]webpChunk, error) {
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return nil, errors.New("not a WebP")
	}
	end := 8 + uint64(binary.LittleEndian.Uint32(data[4:]))
	if end > uint64(len(data)) {
		return nil, fmt.Errorf("RIFF size %d exceeds the %d bytes written", end-8, len(data))
	}
	var chunks []webpChunk
	for p := uint64(12); p < end; {
		if p+8 > end {
			return nil, errors.New("chunk header truncated")
		}
		n := uint64(binary.LittleEndian.Uint32(data[p+4:]))
		next := p + 8 + n + n&1
		if p+8+n > end {
			return nil, fmt.Errorf("chunk %q of %d bytes runs past the RIFF end", data[p:p+4], n)
		}
		chunks = append(chunks, webpChunk{typ: string(data[p : p+4]), data: data[p+8 : p+8+n], raw: data[p:min(next, end)]})
		p = next
	}
	if len(chunks) == 0 {
		return nil, errors.New("no chunks")
	}
	return chunks, nil
}

// webpCanvas reads the canvas size and whether there is alpha from a
// simple WebP's only image chunk: a VP8 key frame's header (frame tag,
// start code, 14-bit width and height) or a VP8L header (signature, 14-bit
// width-1 and height-1, the alpha hint).
func webpCanvas(c webpChunk) (w, h int, alpha bool, err error) {
	switch c.typ {
	case "VP8 ":
		d := c.data
		if len(d) < 10 || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a {
			return 0, 0, false, errors.New("VP8 chunk without a key frame header")
		}
		return int(binary.LittleEndian.Uint16(d[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(d[8:]) & 0x3fff), false, nil
	case "VP8L":
		d := c.data
		if len(d) < 5 || d[0] != 0x2f {
			return 0, 0, false, errors.New("VP8L chunk without its signature")
		}
		bits := binary.LittleEndian.Uint32(d[1:])
		return int(bits&0x3fff) + 1, int(bits>>14&0x3fff) + 1, bits>>28&1 == 1, nil
	}
	return 0, 0, false, fmt.Errorf("simple WebP starts with a %q chunk", c.typ)
}
