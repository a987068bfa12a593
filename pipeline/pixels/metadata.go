package pixels

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
)

// Metadata says which of the source's EXIF, XMP and IPTC metadata a
// thumbnail carries.
type Metadata string

// The metadata policies. The zero value is MetadataNone.
const (
	// MetadataNone writes no metadata from the source: GPS positions,
	// camera serial numbers and the like never reach a thumbnail.
	MetadataNone Metadata = "none"
	// MetadataCopyright keeps only the creator and rights fields (EXIF
	// Artist and Copyright, XMP dc:creator and dc:rights, IPTC By-line and
	// Copyright Notice), merged and written in every form the thumbnail's
	// format has: JPEG gets APP1 EXIF, APP1 XMP and APP13 IPTC, PNG eXIf
	// and an iTXt XMP packet, WebP EXIF and XMP chunks; GIF none.
	MetadataCopyright Metadata = "copyright"
)

// ParseMetadata returns the policy s names ("none" or "copyright"; ""
// is none).
func ParseMetadata(s string) (Metadata, error) {
	switch Metadata(s) {
	case "", MetadataNone:
		return MetadataNone, nil
	case MetadataCopyright:
		return MetadataCopyright, nil
	}
	return "", fmt.Errorf("metadata policy %q: want %q or %q", s, MetadataNone, MetadataCopyright)
}

// CarriesMetadata reports whether thumbnails in format f can carry a
// colour profile and metadata: its codec has an Embed step.
func (f Format) CarriesMetadata() bool {
	c := lookup(f)
	return c != nil && c.Embed != nil
}

// readRights runs codec's metadata reader on r, which replays the file
// from its first byte, and records what it found in c: the rights, and
// why any block was ignored. A broken block never fails the header: the
// thumbnail is made without it.
func readRights(codec *Codec, r io.Reader, c *Config) {
	if codec.Metadata == nil {
		return
	}
	rights, err := codec.Metadata(r)
	c.Rights = rights
	if err != nil {
		c.MetadataIgnored = err.Error()
	}
}

// blocks gathers the rights of a file's XMP, EXIF and IPTC blocks, merged
// in that order of preference, and the errors of those that do not parse.
type blocks struct {
	xmp, exif, iptc metadata.Rights
	errs            []error
}

func (b *blocks) add(kind string, parse func([]byte) (metadata.Rights, error), data []byte, into *metadata.Rights) {
	r, err := parse(data)
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("%s ignored: %w", kind, err))
		return
	}
	*into = into.Merge(r)
}

func (b *blocks) skip(kind string, n int64) {
	b.errs = append(b.errs, fmt.Errorf("%s ignored: %w: %d bytes exceed %d", kind, metadata.ErrMalformed, n, metadata.MaxBlock))
}

func (b *blocks) result(err error) (metadata.Rights, error) {
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("metadata: %w", err))
	}
	return b.xmp.Merge(b.exif).Merge(b.iptc), errors.Join(b.errs...)
}

// jpegRights reads the APP1 EXIF and XMP and the APP13 IPTC segments that
// come before the first frame.
func jpegRights(r io.Reader) (metadata.Rights, error) {
	var b blocks
	var h [4]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil || h[0] != 0xFF || h[1] != 0xD8 {
		return b.result(nil)
	}
	for {
		if _, err := io.ReadFull(r, h[:2]); err != nil {
			return b.result(err)
		}
		for h[0] == 0xFF && h[1] == 0xFF { // fill bytes
			h[0] = 0xFF
			if _, err := io.ReadFull(r, h[1:2]); err != nil {
				return b.result(err)
			}
		}
		if h[0] != 0xFF {
			return b.result(fmt.Errorf("JPEG marker expected, found %#02x", h[0]))
		}
		m := h[1]
		if m == 0xDA || m == 0xD9 || m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			return b.result(nil) // scan, end or frame: metadata comes before
		}
		if m == 0x01 || m >= 0xD0 && m <= 0xD7 {
			continue // no length
		}
		if _, err := io.ReadFull(r, h[2:4]); err != nil {
			return b.result(err)
		}
		n := int(binary.BigEndian.Uint16(h[2:])) - 2
		if n < 0 {
			return b.result(fmt.Errorf("JPEG segment %#02x has length %d", m, n+2))
		}
		if m != 0xE1 && m != 0xED {
			if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
				return b.result(err)
			}
			continue
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(r, seg); err != nil {
			return b.result(err)
		}
		switch {
		case bytes.HasPrefix(seg, []byte(metadata.ExifHeader)):
			b.add("EXIF", metadata.FromEXIF, seg, &b.exif)
		case bytes.HasPrefix(seg, []byte(metadata.XMPHeader)):
			b.add("XMP", metadata.FromXMP, seg[len(metadata.XMPHeader):], &b.xmp)
		case bytes.HasPrefix(seg, []byte(metadata.PhotoshopHeader)):
			b.add("IPTC", metadata.FromIPTC, seg[len(metadata.PhotoshopHeader):], &b.iptc)
		}
	}
}

// pngRights reads the eXIf chunk and the iTXt chunk of XMP that come
// before the image data (where exiftool writes them; an XMP packet after
// IDAT is not read, since that would mean reading the whole file first).
func pngRights(r io.Reader) (metadata.Rights, error) {
	var b blocks
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil || string(h[:]) != "\x89PNG\r\n\x1a\n" {
		return b.result(nil)
	}
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return b.result(err)
		}
		n, typ := int64(binary.BigEndian.Uint32(h[:4])), string(h[4:])
		if typ == "IDAT" || typ == "IEND" {
			return b.result(nil)
		}
		if typ != "eXIf" && typ != "iTXt" || n > metadata.MaxBlock {
			if typ == "eXIf" {
				b.skip("EXIF", n)
			}
			if _, err := io.CopyN(io.Discard, r, n+4); err != nil {
				return b.result(err)
			}
			continue
		}
		data := make([]byte, n+4) // and the CRC
		if _, err := io.ReadFull(r, data); err != nil {
			return b.result(err)
		}
		data = data[:n]
		if typ == "eXIf" {
			b.add("EXIF", metadata.FromEXIF, data, &b.exif)
			continue
		}
		if !bytes.HasPrefix(data, []byte(metadata.XMPKeyword+"\x00")) {
			continue
		}
		b.add("XMP", pngXMP, data[len(metadata.XMPKeyword)+1:], &b.xmp)
	}
}

// pngXMP reads an XMP packet from an iTXt chunk's data after its keyword:
// the compression flag and method, the language tag, the translated
// keyword, then the text, inflated within metadata.MaxBlock when
// compressed.
func pngXMP(d []byte) (metadata.Rights, error) {
	if len(d) < 2 {
		return metadata.Rights{}, fmt.Errorf("%w: iTXt chunk truncated", metadata.ErrMalformed)
	}
	compressed := d[0] == 1
	rest := d[2:]
	for range 2 { // language tag, translated keyword
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return metadata.Rights{}, fmt.Errorf("%w: iTXt chunk truncated", metadata.ErrMalformed)
		}
		rest = rest[i+1:]
	}
	if compressed {
		zr, err := zlib.NewReader(bytes.NewReader(rest))
		if err != nil {
			return metadata.Rights{}, fmt.Errorf("%w: iTXt: %v", metadata.ErrMalformed, err)
		}
		text, err := io.ReadAll(io.LimitReader(zr, metadata.MaxBlock+1))
		if err != nil {
			return metadata.Rights{}, fmt.Errorf("%w: iTXt: %v", metadata.ErrMalformed, err)
		}
		rest = text
	}
	return metadata.FromXMP(rest)
}

// The VP8X flags of a WebP.
const (
	webpFlagAnimation = 0x02
	webpFlagXMP       = 0x04
	webpFlagEXIF      = 0x08
	webpFlagAlpha     = 0x10
	webpFlagICC       = 0x20
)

// webpRights reads the EXIF and XMP chunks of an extended WebP whose VP8X
// flags say it has them. The format puts them after the image data, so
// reading them reads the whole file; a file whose flags say nothing is
// read no further than its header.
func webpRights(r io.Reader) (metadata.Rights, error) {
	var b blocks
	var h [30]byte // RIFF header, VP8X chunk header and data
	if _, err := io.ReadFull(r, h[:]); err != nil || string(h[12:16]) != "VP8X" {
		return b.result(nil)
	}
	want := h[20] & (webpFlagEXIF | webpFlagXMP)
	if want == 0 {
		return b.result(nil)
	}
	if n := int64(binary.LittleEndian.Uint32(h[16:20])); n > 10 {
		if _, err := io.CopyN(io.Discard, r, n-10+n&1); err != nil {
			return b.result(err)
		}
	}
	for want != 0 {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil // the flags promised more than the file holds
			}
			return b.result(err)
		}
		n := int64(binary.LittleEndian.Uint32(ch[4:]))
		typ := string(ch[:4])
		if typ != "EXIF" && typ != "XMP " || n > metadata.MaxBlock {
			if typ == "EXIF" || typ == "XMP " {
				b.skip(typ, n)
			}
			if _, err := io.CopyN(io.Discard, r, n+n&1); err != nil {
				return b.result(err)
			}
			continue
		}
		data := make([]byte, n+n&1)
		if _, err := io.ReadFull(r, data); err != nil {
			return b.result(err)
		}
		data = data[:n]
		if typ == "EXIF" {
			want &^= webpFlagEXIF
			b.add("EXIF", metadata.FromEXIF, data, &b.exif)
		} else {
			want &^= webpFlagXMP
			b.add("XMP", metadata.FromXMP, data, &b.xmp)
		}
	}
	return b.result(nil)
}
