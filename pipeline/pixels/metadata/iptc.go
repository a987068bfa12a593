package metadata

import (
	"encoding/binary"
)

// PhotoshopHeader starts the image resources of a JPEG APP13 segment.
const PhotoshopHeader = "Photoshop 3.0\x00"

// The IPTC IIM datasets read and written, and the image resource that
// holds them.
const (
	resourceIPTC      = 0x0404
	iimTag            = 0x1C
	recordEnvelope    = 1
	recordApplication = 2
	dsCodedCharset    = 90  // 1:90
	dsRecordVersion   = 0   // 2:00
	dsByline          = 80  // 2:80, repeatable
	dsCopyright       = 116 // 2:116
	utf8Charset       = "\x1b%G"
)

// FromIPTC reads the By-lines and the Copyright Notice from Photoshop
// image resources (an APP13 segment's data after [PhotoshopHeader]): the
// IPTC-NAA resource's IIM datasets. Text is UTF-8 when the envelope says
// so (1:90) or when it is valid UTF-8, Latin-1 otherwise.
func FromIPTC(res []byte) (Rights, error) {
	if len(res) > MaxBlock {
		return Rights{}, malformed("Photoshop resources of %d bytes exceed %d", len(res), MaxBlock)
	}
	for len(res) > 0 {
		if len(res) < 4+2+2 || string(res[:4]) != "8BIM" {
			return Rights{}, malformed("Photoshop resource does not start with 8BIM")
		}
		id := binary.BigEndian.Uint16(res[4:])
		name := int(res[6]) + 1 // a Pascal string, padded to even length
		name += name & 1
		if 6+name+4 > len(res) {
			return Rights{}, malformed("Photoshop resource %#04x truncated", id)
		}
		size := uint64(binary.BigEndian.Uint32(res[6+name:]))
		start := uint64(6 + name + 4)
		if start+size > uint64(len(res)) {
			return Rights{}, malformed("Photoshop resource %#04x of %d bytes outside the %d-byte block", id, size, len(res))
		}
		if id == resourceIPTC {
			return fromIIM(res[start : start+size])
		}
		res = res[min(uint64(len(res)), start+size+size&1):]
	}
	return Rights{}, nil
}

// fromIIM reads the IIM datasets of an IPTC-NAA resource.
func fromIIM(b []byte) (Rights, error) {
	var r Rights
	for len(b) > 0 {
		if b[0] != iimTag {
			if b[0] == 0 {
				break // padding
			}
			return Rights{}, malformed("IPTC dataset starts with %#02x, want 0x1C", b[0])
		}
		if len(b) < 5 {
			return Rights{}, malformed("IPTC dataset header truncated")
		}
		rec, ds, n := b[1], b[2], int(binary.BigEndian.Uint16(b[3:]))
		if n&0x8000 != 0 {
			return Rights{}, malformed("IPTC dataset %d:%d has an extended length", rec, ds)
		}
		if 5+n > len(b) {
			return Rights{}, malformed("IPTC dataset %d:%d of %d bytes truncated", rec, ds, n)
		}
		v := b[5 : 5+n]
		b = b[5+n:]
		if rec != recordApplication {
			continue
		}
		switch ds {
		case dsByline:
			if s := clean(v); s != "" && len(r.Creators) < maxCreators {
				r.Creators = append(r.Creators, s)
			}
		case dsCopyright:
			r.Copyright = clean(v)
		}
	}
	return r, nil
}

// IPTC returns Photoshop image resources (to follow [PhotoshopHeader] in
// a JPEG APP13 segment) holding one IPTC-NAA resource with the UTF-8
// charset, the record version, a By-line per creator and the Copyright
// Notice; nil when r has neither field. Values longer than the IIM's
// 32- and 128-byte limits are written whole: readers take them, and a cut
// notice would say less than its source.
func IPTC(r Rights) []byte {
	if r.IsZero() {
		return nil
	}
	var iim []byte
	put := func(rec, ds byte, v []byte) {
		if len(v) > 0x7fff {
			v = v[:0x7fff]
		}
		iim = append(iim, iimTag, rec, ds)
		iim = binary.BigEndian.AppendUint16(iim, uint16(len(v)))
		iim = append(iim, v...)
	}
	put(recordEnvelope, dsCodedCharset, []byte(utf8Charset))
	put(recordApplication, dsRecordVersion, []byte{0, 4})
	for _, c := range r.Creators {
		put(recordApplication, dsByline, []byte(c))
	}
	if r.Copyright != "" {
		put(recordApplication, dsCopyright, []byte(r.Copyright))
	}
	out := make([]byte, 0, 12+len(iim)+1)
	out = append(out, "8BIM"...)
	out = binary.BigEndian.AppendUint16(out, resourceIPTC)
	out = append(out, 0, 0) // empty name, padded
	out = binary.BigEndian.AppendUint32(out, uint32(len(iim)))
	out = append(out, iim...)
	if len(iim)%2 == 1 {
		out = append(out, 0)
	}
	return out
}
