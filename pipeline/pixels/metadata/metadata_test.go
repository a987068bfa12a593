package metadata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var ada = Rights{Creators: []string{"Ada Lovelace", "Charles <Babbage> & Co"}, Copyright: "© 2026 Ada Lovelace"}

// TestRoundTrip: what each writer writes, its reader reads back.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		write func(Rights) []byte
		read  func([]byte) (Rights, error)
		want  Rights
	}{
		// EXIF has one Artist string: the creators come back joined.
		{"EXIF", EXIF, FromEXIF, Rights{Creators: []string{"Ada Lovelace; Charles <Babbage> & Co"}, Copyright: ada.Copyright}},
		{"EXIF after its APP1 header", func(r Rights) []byte { return append([]byte(ExifHeader), EXIF(r)...) }, FromEXIF,
			Rights{Creators: []string{"Ada Lovelace; Charles <Babbage> & Co"}, Copyright: ada.Copyright}},
		{"XMP", XMP, FromXMP, ada},
		{"IPTC", IPTC, FromIPTC, ada},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.read(tc.write(ada))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			only := Rights{Copyright: "c"} // a short value, stored inline in EXIF
			if got, err := tc.read(tc.write(only)); err != nil || !reflect.DeepEqual(got, only) {
				t.Errorf("copyright only: got %+v, %v", got, err)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	for name, b := range map[string][]byte{"EXIF": EXIF(Rights{}), "XMP": XMP(Rights{}), "IPTC": IPTC(Rights{})} {
		if b != nil {
			t.Errorf("%s: empty rights give a block of %d bytes", name, len(b))
		}
	}
}

func TestMerge(t *testing.T) {
	xmp := Rights{Creators: []string{"x"}}
	exif := Rights{Creators: []string{"e"}, Copyright: "ec"}
	if got := xmp.Merge(exif); !reflect.DeepEqual(got, Rights{Creators: []string{"x"}, Copyright: "ec"}) {
		t.Errorf("got %+v", got)
	}
}

// tiff builds a little-endian TIFF structure with the given IFD0 entries
// (tag, type, count, value or offset) and extra bytes after the IFD.
func tiff(entries [][4]uint32, extra []byte) []byte {
	le := binary.LittleEndian
	b := []byte("II*\x00")
	b = le.AppendUint32(b, 8)
	b = le.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = le.AppendUint16(b, uint16(e[0]))
		b = le.AppendUint16(b, uint16(e[1]))
		b = le.AppendUint32(b, e[2])
		b = le.AppendUint32(b, e[3])
	}
	b = le.AppendUint32(b, 0)
	return append(b, extra...)
}

// TestFromEXIF reads little-endian files, values inline and after the
// IFD, Latin-1 text and the photographer/editor Copyright pair.
func TestFromEXIF(t *testing.T) {
	after := uint32(8 + 2 + 12*2 + 4)
	data := tiff([][4]uint32{
		{tagArtist, typeASCII, 4, le32("Bo\x00\x00")},
		{tagCopyright, typeASCII, 14, after},
	}, []byte("J\xe9r\xf4me\x00Editor\x00"))
	got, err := FromEXIF(data)
	if err != nil {
		t.Fatal(err)
	}
	want := Rights{Creators: []string{"Bo"}, Copyright: "Jérôme, Editor"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func le32(s string) uint32 { return binary.LittleEndian.Uint32([]byte(s)) }

// TestHostile: broken or hostile blocks are errors wrapping ErrMalformed,
// never a panic or a large allocation.
func TestHostile(t *testing.T) {
	good := EXIF(ada)
	huge := uint32(1 << 31)
	tests := []struct {
		name string
		read func([]byte) (Rights, error)
		data []byte
	}{
		{"EXIF empty", FromEXIF, nil},
		{"EXIF bad byte order", FromEXIF, []byte("XX*\x00\x08\x00\x00\x00\x00\x00")},
		{"EXIF bad magic", FromEXIF, []byte("II+\x00\x08\x00\x00\x00\x00\x00")},
		{"EXIF truncated IFD", FromEXIF, good[:20]},
		{"EXIF IFD offset outside", FromEXIF, []byte("II*\x00\xff\xff\xff\x7f")},
		{"EXIF IFD offset below the header", FromEXIF, []byte("II*\x00\x02\x00\x00\x00\x00\x00")},
		{"EXIF entry count huge", FromEXIF, append([]byte("II*\x00\x08\x00\x00\x00\xff\xff"), make([]byte, 64)...)},
		{"EXIF value offset outside", FromEXIF, tiff([][4]uint32{{tagArtist, typeASCII, 100, 4000}}, nil)},
		{"EXIF value count huge", FromEXIF, tiff([][4]uint32{{tagCopyright, typeASCII, huge, 8}}, nil)},
		{"EXIF value offset wraps", FromEXIF, tiff([][4]uint32{{tagCopyright, typeASCII, 16, 0xfffffff8}}, nil)},
		{"EXIF wrong type", FromEXIF, tiff([][4]uint32{{tagArtist, 3, 1, 0}}, nil)},
		{"EXIF too large", FromEXIF, append(bytes.Clone(good), make([]byte, MaxBlock)...)},
		{"XMP not XML", FromXMP, []byte("<x:xmpmeta><rdf:RDF")},
		{"XMP custom entity", FromXMP, []byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`)},
		{"XMP too many tokens", FromXMP, []byte("<a>" + strings.Repeat("<b/>", maxTokens) + "</a>")},
		{"IPTC no 8BIM", FromIPTC, []byte("8BIX\x04\x04\x00\x00\x00\x00\x00\x00")},
		{"IPTC resource outside", FromIPTC, []byte("8BIM\x04\x04\x00\x00\x7f\xff\xff\xff")},
		{"IPTC name truncated", FromIPTC, []byte("8BIM\x04\x04\xff\x00")},
		{"IPTC dataset truncated", FromIPTC, []byte("8BIM\x04\x04\x00\x00\x00\x00\x00\x05\x1c\x02\x50\x00\x40")},
		{"IPTC extended length", FromIPTC, []byte("8BIM\x04\x04\x00\x00\x00\x00\x00\x05\x1c\x02\x50\x80\x04")},
		{"IPTC bad tag", FromIPTC, []byte("8BIM\x04\x04\x00\x00\x00\x00\x00\x05\x1d\x02\x50\x00\x00")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.read(tc.data)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("got %+v, %v; want an error wrapping ErrMalformed", r, err)
			}
		})
	}
}

// TestLimits: each field is cut at maxText bytes on a character boundary,
// and at most maxCreators creators are kept, so the blocks written fit in
// a JPEG segment whatever the source held.
func TestLimits(t *testing.T) {
	long := strings.Repeat("é&", maxText)
	var creators []string
	for range 3 * maxCreators {
		creators = append(creators, long)
	}
	r, err := FromXMP(XMP(Rights{Creators: creators, Copyright: long}))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Creators) != maxCreators {
		t.Errorf("%d creators kept, want %d", len(r.Creators), maxCreators)
	}
	for _, s := range append(r.Creators, r.Copyright) {
		if len(s) > maxText || !strings.HasPrefix(long, s) {
			t.Fatalf("field of %d bytes, not a prefix of the source's", len(s))
		}
	}
	for name, b := range map[string][]byte{"EXIF": EXIF(r), "XMP": XMP(r), "IPTC": IPTC(r)} {
		if len(b) > 65000 {
			t.Errorf("%s block of %d bytes does not fit a JPEG segment", name, len(b))
		}
	}
}

// FuzzReaders: no input makes a reader panic.
func FuzzReaders(f *testing.F) {
	f.Add(EXIF(ada))
	f.Add(XMP(ada))
	f.Add(IPTC(ada))
	f.Fuzz(func(t *testing.T, b []byte) {
		FromEXIF(b) //nolint:errcheck // only panics matter
		FromXMP(b)  //nolint:errcheck
		FromIPTC(b) //nolint:errcheck
	})
}

func TestOrientation(t *testing.T) {
	six := tiff([][4]uint32{{tagOrientation, 3, 1, 6}}, nil)
	long := tiff([][4]uint32{{tagOrientation, 4, 1, 8}}, nil)
	cut := tiff([][4]uint32{{tagArtist, typeASCII, 1, 0}, {tagOrientation, 3, 1, 3}}, nil)
	cut[8] = 9 // IFD0 declares 9 entries and holds 2
	for _, tc := range []struct {
		name string
		data []byte
		want int
	}{
		{"short", six, 6},
		{"after the APP1 header", append([]byte(ExifHeader), six...), 6},
		{"long", long, 8},
		{"IFD0 cut short", cut, 3},
		{"two values", tiff([][4]uint32{{tagOrientation, 3, 2, 6}}, nil), 0},
		{"none", EXIF(ada), 0},
		{"broken", []byte("II*\x00\xff\x00\x00\x00"), 0},
	} {
		if got := Orientation(tc.data); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
