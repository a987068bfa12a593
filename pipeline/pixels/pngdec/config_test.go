package pngdec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"image/png"
	"testing"
)

// exifTIFF returns a TIFF structure with one IFD0 entry: orientation o.
func exifTIFF(o int, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	t := []byte("II")
	if bigEndian {
		bo, t = binary.BigEndian, []byte("MM")
	}
	t = bo.AppendUint16(t, 42)
	t = bo.AppendUint32(t, 8)
	t = bo.AppendUint16(t, 1)
	t = bo.AppendUint16(t, 0x0112)
	t = bo.AppendUint16(t, 3)
	t = bo.AppendUint32(t, 1)
	t = bo.AppendUint16(t, uint16(o))
	t = bo.AppendUint16(t, 0)
	return bo.AppendUint32(t, 0)
}

// iccp returns iCCP chunk data carrying profile.
func iccp(profile []byte) string {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(profile)
	zw.Close()
	return "ICC Profile\x00\x00" + z.String()
}

func TestDecodeConfig(t *testing.T) {
	profile := bytes.Repeat([]byte("not really an ICC profile "), 100)
	gray := func(x, y, ch int) uint16 { return uint16(x+y) & 0xff }
	tests := []struct {
		name string
		p    rawPNG
		want Config
	}{
		{"gray16 adam7", rawPNG{w: 5, h: 3, depth: 16, ct: Gray, interlace: true, sample: gray},
			Config{Width: 5, Height: 3, BitDepth: 16, ColorType: Gray, Interlaced: true, Orientation: 1}},
		{"rgb tRNS", rawPNG{w: 5, h: 3, depth: 8, ct: RGB, trns: make([]byte, 6), sample: gray},
			Config{Width: 5, Height: 3, BitDepth: 8, ColorType: RGB, Transparency: true, Orientation: 1}},
		{"iCCP and eXIf II", rawPNG{w: 7, h: 2, depth: 8, ct: RGBA, sample: gray,
			before: [][2]string{{"iCCP", iccp(profile)}, {"tEXt", "Comment\x00hi"}, {"eXIf", string(exifTIFF(6, false))}}},
			Config{Width: 7, Height: 2, BitDepth: 8, ColorType: RGBA, ICCProfile: profile, Orientation: 6}},
		{"eXIf MM", rawPNG{w: 7, h: 2, depth: 8, ct: GrayAlpha, sample: gray,
			before: [][2]string{{"eXIf", string(exifTIFF(8, true))}}},
			Config{Width: 7, Height: 2, BitDepth: 8, ColorType: GrayAlpha, Orientation: 8}},
		{"eXIf orientation out of range", rawPNG{w: 7, h: 2, depth: 8, ct: GrayAlpha, sample: gray,
			before: [][2]string{{"eXIf", string(exifTIFF(9, true))}}},
			Config{Width: 7, Height: 2, BitDepth: 8, ColorType: GrayAlpha, Orientation: 1}},
		{"palette", rawPNG{w: 9, h: 9, depth: 2, ct: Paletted, plte: make([]byte, 12), sample: func(x, y, ch int) uint16 { return 3 }},
			Config{Width: 9, Height: 9, BitDepth: 2, ColorType: Paletted, Orientation: 1}},
	}
	for _, tt := range tests {
		data := tt.p.encode()
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !equalConfig(cfg, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, cfg, tt.want)
		}
		if _, err := png.Decode(bytes.NewReader(data)); err != nil {
			t.Errorf("%s: image/png refuses the file: %v", tt.name, err)
		}
		_, dcfg, err := Decode(bytes.NewReader(data), Options{})
		if err != nil || !equalConfig(dcfg, tt.want) {
			t.Errorf("%s: Decode: %+v, %v", tt.name, dcfg, err)
		}
	}
}

func equalConfig(a, b Config) bool {
	return bytes.Equal(a.ICCProfile, b.ICCProfile) && a.Width == b.Width && a.Height == b.Height &&
		a.BitDepth == b.BitDepth && a.ColorType == b.ColorType && a.Interlaced == b.Interlaced &&
		a.Transparency == b.Transparency && a.Orientation == b.Orientation
}

func TestICCPLimit(t *testing.T) {
	big := make([]byte, MaxMetadata+1)
	for _, tt := range []struct {
		name string
		data string
		want error
	}{
		{"inflates beyond the limit", iccp(big), ErrChunkTooLarge},
		{"no name", "\x00\x00" + iccp(nil)[13:], nil},
		{"bad zlib", "name\x00\x00garbage", zlib.ErrHeader},
	} {
		p := rawPNG{w: 2, h: 2, depth: 8, ct: Gray, sample: func(x, y, ch int) uint16 { return 0 },
			before: [][2]string{{"iCCP", tt.data}}}
		_, err := DecodeConfig(bytes.NewReader(p.encode()))
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestScaleFor(t *testing.T) {
	tests := []struct {
		srcW, srcH, boxW, boxH, want int
	}{
		{5640, 3172, 200, 200, 8},
		{7071, 7071, 200, 200, 32},
		{400, 400, 200, 200, 2},
		{399, 400, 200, 200, 1},
		{100, 100, 200, 200, 1},
		{1 << 20, 1 << 20, 1, 1, MaxScale},
		{6000, 4000, 0, 200, 16},
		{6000, 4000, 0, 0, 1},
		{0, 4000, 10, 10, 1},
	}
	for _, tt := range tests {
		if got := ScaleFor(tt.srcW, tt.srcH, tt.boxW, tt.boxH); got != tt.want {
			t.Errorf("ScaleFor(%d, %d, %d, %d) = %d, want %d", tt.srcW, tt.srcH, tt.boxW, tt.boxH, got, tt.want)
		}
	}
}

func TestOptions(t *testing.T) {
	data := rawPNG{w: 450, h: 300, depth: 8, ct: RGB, sample: func(x, y, ch int) uint16 { return uint16(x ^ y) }}.encode()
	for _, tt := range []struct {
		opts Options
		w, h int
		err  bool
	}{
		{Options{BoxWidth: 100, BoxHeight: 100}, 225, 150, false},
		{Options{BoxWidth: 100, BoxHeight: 100, Scale: 3}, 150, 100, false},
		{Options{}, 450, 300, false},
		{Options{Scale: -1}, 0, 0, true},
		{Options{Scale: MaxScale + 1}, 0, 0, true},
		{Options{MaxPixels: 450*300 - 1}, 0, 0, true},
	} {
		img, _, err := Decode(bytes.NewReader(data), tt.opts)
		if tt.err {
			if err == nil {
				t.Errorf("%+v: no error", tt.opts)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tt.opts, err)
		}
		if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
			t.Errorf("%+v: %v, want %dx%d", tt.opts, b, tt.w, tt.h)
		}
	}
}

// TestStopsAtImageData checks that DecodeConfig reads no further than the
// buffer that holds the first IDAT chunk's header.
func TestStopsAtImageData(t *testing.T) {
	data := rawPNG{w: 2000, h: 2000, depth: 8, ct: RGB, sample: func(x, y, ch int) uint16 { return uint16(hash(x, y, ch)) }}.encode()
	cr := &countingReader{r: bytes.NewReader(data)}
	if _, err := DecodeConfig(cr); err != nil {
		t.Fatal(err)
	}
	if cr.n > bufSize {
		t.Errorf("DecodeConfig read %d bytes", cr.n)
	}
}
