package metadata

import (
	"encoding/binary"
	"testing"
)

// tiffEntry returns a TIFF structure with one IFD0 entry of the given tag, type,
// count and value.
func tiffEntry(bo binary.AppendByteOrder, order string, tag, typ uint16, count, value uint32) []byte {
	t := []byte(order)
	t = bo.AppendUint16(t, 42)
	t = bo.AppendUint32(t, 8)
	t = bo.AppendUint16(t, 1)
	t = bo.AppendUint16(t, tag)
	t = bo.AppendUint16(t, typ)
	t = bo.AppendUint32(t, count)
	if typ == 3 {
		t = bo.AppendUint16(t, uint16(value))
		t = bo.AppendUint16(t, 0)
	} else {
		t = bo.AppendUint32(t, value)
	}
	return bo.AppendUint32(t, 0)
}

func TestOrientationLayouts(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"little-endian SHORT", tiffEntry(le, "II", 0x0112, 3, 1, 6), 6},
		{"big-endian SHORT", tiffEntry(be, "MM", 0x0112, 3, 1, 8), 8},
		{"LONG, as some writers put it", tiffEntry(le, "II", 0x0112, 4, 1, 3), 3},
		{"another tag only", tiffEntry(le, "II", 0x010f, 3, 1, 6), 0},
		{"two values", tiffEntry(le, "II", 0x0112, 3, 2, 6), 0},
		{"a RATIONAL", tiffEntry(le, "II", 0x0112, 5, 1, 6), 0},
		{"bad byte order", append([]byte("XX"), tiffEntry(le, "II", 0x0112, 3, 1, 6)[2:]...), 0},
		{"not 42", append([]byte("II\x2b\x00"), tiffEntry(le, "II", 0x0112, 3, 1, 6)[4:]...), 0},
		{"IFD0 outside", append([]byte("II\x2a\x00\xff\xff\x00\x00"), tiffEntry(le, "II", 0x0112, 3, 1, 6)[8:]...), 0},
		{"entries cut off", tiffEntry(le, "II", 0x0112, 3, 1, 6)[:14], 0},
		{"empty", nil, 0},
	}
	for _, tc := range tests {
		if got := Orientation(tc.data); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
