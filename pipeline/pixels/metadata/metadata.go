// Package metadata reads the creator and rights fields of an image's EXIF,
// XMP and IPTC metadata, and writes them back as minimal blocks of each
// kind: a TIFF structure with IFD0's Artist and Copyright, an XMP packet
// with dc:creator and dc:rights, and a Photoshop image resource with the
// IPTC By-line and Copyright Notice. Nothing else survives: no GPS, no
// camera serial number, no orientation.
//
// # Safety
//
// Every reader takes a block its caller has already bounded (at most
// [MaxBlock] bytes) and checks each offset and count against the block
// before it reads: a truncated directory, an offset outside the block or a
// count in the billions is an error, never a panic or a large allocation.
package metadata

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxBlock is the largest metadata block (an EXIF TIFF structure, an XMP
// packet, a Photoshop resource section) the readers take; container
// readers skip a larger one.
const MaxBlock = 1 << 20

// maxCreators bounds the creators kept from one block, and maxText one
// field's text, in bytes: together they keep every block written, even
// with each character escaped in XML, within one JPEG segment (64 KB).
const (
	maxCreators = 8
	maxText     = 1000
)

// ErrMalformed is wrapped by every error of a block that does not parse.
var ErrMalformed = errors.New("malformed metadata")

// Rights are the creator and rights fields of an image.
type Rights struct {
	// Creators are the image's creators, in order: XMP dc:creator's
	// entries, EXIF Artist or the IPTC By-lines.
	Creators []string
	// Copyright is the rights notice: XMP dc:rights (its default
	// language), EXIF Copyright or the IPTC Copyright Notice.
	Copyright string
}

// IsZero reports whether r has no field.
func (r Rights) IsZero() bool { return len(r.Creators) == 0 && r.Copyright == "" }

// Merge returns r with each field it lacks taken from o: a source's XMP,
// EXIF and IPTC blocks are merged in the order of preference.
func (r Rights) Merge(o Rights) Rights {
	if len(r.Creators) == 0 {
		r.Creators = o.Creators
	}
	if r.Copyright == "" {
		r.Copyright = o.Copyright
	}
	return r
}

// artist is the creators as one EXIF Artist string, separated by "; " as
// the Metadata Working Group's guidelines say.
func (r Rights) artist() string { return strings.Join(r.Creators, "; ") }

// clean turns a field's raw bytes into text: valid UTF-8 is kept, anything
// else is read as Latin-1 (the usual charset of old EXIF and IPTC
// writers); control characters become spaces, surrounding space and
// trailing NULs go, and the text is cut at maxText bytes.
func clean(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 && strings.Trim(string(b[i:]), "\x00 ") == "" {
		b = b[:i]
	}
	var s string
	if utf8.Valid(b) {
		s = string(b)
	} else {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		s = string(r)
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
