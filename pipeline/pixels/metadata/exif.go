package metadata

import (
	"bytes"
	"encoding/binary"
)

// The IFD0 tags kept.
const (
	tagArtist    = 0x013B
	tagCopyright = 0x8298
	typeASCII    = 2
	typeUndef    = 7
	// maxEntries bounds IFD0's entry count: the EXIF tags defined for
	// IFD0 number a few dozen, so more means a broken or hostile file.
	maxEntries = 1024
)

// ExifHeader starts the EXIF data of a JPEG APP1 segment, and is allowed
// before the TIFF structure of a WebP EXIF chunk.
const ExifHeader = "Exif\x00\x00"

// FromEXIF reads Artist and Copyright from IFD0 of an EXIF TIFF structure
// ("II*\0" or "MM\0*" and what follows; a leading [ExifHeader] is
// skipped). Artist is taken as one creator: splitting it at ";" would break
// names like "Smith; Jones & Co".
func FromEXIF(t []byte) (Rights, error) {
	if len(t) >= len(ExifHeader) && string(t[:len(ExifHeader)]) == ExifHeader {
		t = t[len(ExifHeader):]
	}
	if len(t) > MaxBlock {
		return Rights{}, malformed("EXIF block of %d bytes exceeds %d", len(t), MaxBlock)
	}
	bo, ifd, n, err := ifd0(t)
	if err != nil {
		return Rights{}, err
	}
	if n > maxEntries {
		return Rights{}, malformed("EXIF IFD0 declares %d entries", n)
	}
	if 12*n > uint64(len(ifd)) {
		return Rights{}, malformed("EXIF IFD0 of %d entries truncated at %d bytes", n, len(t))
	}
	var r Rights
	for i := range n {
		e := ifd[12*i:][:12]
		tag, typ, count := bo.Uint16(e), bo.Uint16(e[2:]), uint64(bo.Uint32(e[4:]))
		if tag != tagArtist && tag != tagCopyright {
			continue
		}
		if typ != typeASCII && typ != typeUndef {
			return Rights{}, malformed("EXIF tag %#04x has type %d, want ASCII", tag, typ)
		}
		var v []byte
		if count <= 4 {
			v = e[8 : 8+count]
		} else {
			at := uint64(bo.Uint32(e[8:]))
			if at+count > uint64(len(t)) {
				return Rights{}, malformed("EXIF tag %#04x: %d bytes at offset %d outside the %d-byte block", tag, count, at, len(t))
			}
			v = t[at : at+count]
		}
		if tag == tagArtist {
			if s := clean(v); s != "" {
				r.Creators = []string{s}
			}
			continue
		}
		// Copyright may hold the photographer's notice, a NUL, then the
		// editor's: both are kept, joined as exiftool shows them.
		parts := strings0(v)
		r.Copyright = joinNonEmpty(parts, ", ")
	}
	return r, nil
}

// ifd0 reads a TIFF structure's header and returns its byte order, the
// bytes from IFD0's first entry on and IFD0's declared entry count, which
// those bytes may not hold.
func ifd0(t []byte) (bo binary.ByteOrder, ifd []byte, n uint64, err error) {
	if len(t) < 8 {
		return nil, nil, 0, malformed("EXIF block of %d bytes is shorter than a TIFF header", len(t))
	}
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return nil, nil, 0, malformed("EXIF byte order %q", t[:2])
	}
	if bo.Uint16(t[2:]) != 42 {
		return nil, nil, 0, malformed("EXIF TIFF magic %d, want 42", bo.Uint16(t[2:]))
	}
	off := uint64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > uint64(len(t)) {
		return nil, nil, 0, malformed("EXIF IFD0 at offset %d outside the %d-byte block", off, len(t))
	}
	return bo, t[off+2:], uint64(bo.Uint16(t[off:])), nil
}

// tagOrientation is IFD0's Orientation tag.
const tagOrientation = 0x0112

// Orientation returns the Orientation tag of IFD0 in an EXIF TIFF
// structure (a leading [ExifHeader] is skipped), or 0 when there is none
// or the structure is broken. It reads the entries the block holds even
// when IFD0 declares more: the orientation of a cut file is still right.
func Orientation(t []byte) int {
	t = bytes.TrimPrefix(t, []byte(ExifHeader))
	bo, ifd, n, err := ifd0(t)
	if err != nil {
		return 0
	}
	for e := ifd; n > 0 && len(e) >= 12; n, e = n-1, e[12:] {
		if bo.Uint16(e) != tagOrientation {
			continue
		}
		if bo.Uint32(e[4:]) != 1 {
			return 0
		}
		switch bo.Uint16(e[2:]) {
		case 3: // SHORT
			return int(bo.Uint16(e[8:]))
		case 4: // LONG, seen in some broken writers
			return int(bo.Uint32(e[8:]))
		}
		return 0
	}
	return 0
}

// strings0 splits a NUL-separated value into cleaned strings.
func strings0(v []byte) []string {
	var out []string
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != 0 {
			i++
		}
		out = append(out, clean(v[:i]))
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return out
}

func joinNonEmpty(parts []string, sep string) string {
	s := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if s != "" {
			s += sep
		}
		s += p
	}
	return s
}

// EXIF returns a big-endian TIFF structure whose IFD0 holds only Artist
// and Copyright (those r has), or nil when r has neither. Prefix it with
// [ExifHeader] for a JPEG APP1 segment; PNG's eXIf and WebP's EXIF chunks
// take it as it is. Text is written as UTF-8, as exiftool and most readers
// take ASCII fields.
func EXIF(r Rights) []byte {
	type entry struct {
		tag uint16
		v   []byte
	}
	var entries []entry
	if a := r.artist(); a != "" {
		entries = append(entries, entry{tagArtist, append([]byte(a), 0)})
	}
	if r.Copyright != "" {
		entries = append(entries, entry{tagCopyright, append([]byte(r.Copyright), 0)})
	}
	if len(entries) == 0 {
		return nil
	}
	bo := binary.BigEndian
	ifdEnd := 8 + 2 + 12*len(entries) + 4
	out := make([]byte, 0, ifdEnd+len(r.artist())+len(r.Copyright)+4)
	out = append(out, "MM\x00\x2a"...)
	out = bo.AppendUint32(out, 8)
	out = bo.AppendUint16(out, uint16(len(entries)))
	data := uint32(ifdEnd)
	var values []byte
	for _, e := range entries {
		out = bo.AppendUint16(out, e.tag)
		out = bo.AppendUint16(out, typeASCII)
		out = bo.AppendUint32(out, uint32(len(e.v)))
		if len(e.v) <= 4 {
			var inline [4]byte
			copy(inline[:], e.v)
			out = append(out, inline[:]...)
			continue
		}
		out = bo.AppendUint32(out, data+uint32(len(values)))
		values = append(values, e.v...)
		if len(values)%2 == 1 {
			values = append(values, 0) // values start on a word boundary
		}
	}
	out = bo.AppendUint32(out, 0) // no IFD1
	return append(out, values...)
}
