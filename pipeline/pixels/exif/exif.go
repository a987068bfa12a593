// Package exif reads what thumbnails need from an EXIF TIFF structure: the
// orientation. Every format that carries EXIF (JPEG APP1, PNG eXIf, WebP
// EXIF) hands it the TIFF structure, so one reader serves them all.
package exif

import "encoding/binary"

// Orientation returns the Orientation tag (0x0112) of IFD0 in a TIFF
// structure ("II" or "MM", 42, the offset of IFD0), or 0 when it has none
// or is malformed. Values are returned as stored: the caller checks the
// 1 to 8 range.
func Orientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := bo.Uint32(t[4:])
	if off < 8 || uint64(off)+2 > uint64(len(t)) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	for e := t[off+2:]; n > 0 && len(e) >= 12; n, e = n-1, e[12:] {
		if bo.Uint16(e) != 0x0112 {
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
