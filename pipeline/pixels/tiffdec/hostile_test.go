package tiffdec

import (
	"bytes"
	"compress/lzw"
	"errors"
	"image"
	"image/color"
	"io"
	"math"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestPaletteAndOldLZW decodes a 4-bit palette image and an 8-bit gray
// one whose strips are old-style LZW (bits least significant first, as
// libtiff still reads), against the pixels they were made of.
func TestPaletteAndOldLZW(t *testing.T) {
	const w, h = 29, 17
	idx := func(x, y int) int { return (x*3 + y*5) % 16 }
	cm := make([]uint16, 3*16)
	for i := range 16 {
		cm[i], cm[16+i], cm[32+i] = uint16(i*4000), uint16(65535-i*4000), uint16(i*i*250)
	}
	want := image.NewNRGBA(image.Rect(0, 0, w, h))
	gray := image.NewGray(image.Rect(0, 0, w, h))
	var pal, g []byte
	for y := 0; y < h; y++ {
		var b byte
		for x := 0; x < w; x++ {
			i := idx(x, y)
			want.SetNRGBA(x, y, color.NRGBA{to8(cm[i]), to8(cm[16+i]), to8(cm[32+i]), 255})
			gray.SetGray(x, y, color.Gray{Y: uint8(x*7 + y)})
			g = append(g, uint8(x*7+y))
			if x%2 == 0 {
				b = byte(i << 4)
			} else {
				pal = append(pal, b|byte(i))
			}
		}
		if w%2 == 1 {
			pal = append(pal, b)
		}
	}
	oldLZW := func(_ int, data []byte) []byte {
		var z bytes.Buffer
		zw := lzw.NewWriter(&z, lzw.LSB, 8)
		zw.Write(data)
		zw.Close()
		return z.Bytes()
	}
	for _, tc := range []struct {
		name string
		spec pixeltest.TIFFSpec
		want image.Image
	}{
		{"palette4", pixeltest.TIFFSpec{Width: w, Height: h, Bits: 4, Photometric: 3, ColorMap: cm,
			Block: func(int, int) []byte { return pal }}, want},
		{"gray8-old-lzw", pixeltest.TIFFSpec{Width: w, Height: h, Bits: 8, Photometric: 1, Compression: 5,
			Block: func(int, int) []byte { return g }, Raw: oldLZW}, gray},
	} {
		img, _ := decodeBoth(t, pixeltest.BuildTIFF(tc.spec), 1)
		if p := pixeltest.PSNR(img, tc.want); !math.IsInf(p, 1) {
			t.Errorf("%s: PSNR %.1f dB, want equal", tc.name, p)
		}
	}
	// Associated alpha, as x/image/tiff writes an *image.RGBA.
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint8(x * 255 / w)
			src.SetRGBA(x, y, color.RGBA{a / 2, a / 3, a, a})
		}
	}
	img, c := decodeBoth(t, pixeltest.TIFF(src), 1)
	if c.Alpha != Associated {
		t.Fatalf("alpha %v, want associated", c.Alpha)
	}
	if p := pixeltest.PSNR(img, src); p < 45 {
		t.Errorf("associated alpha: PSNR %.1f dB", p)
	}
}

// TestHostile checks that broken and hostile files are refused with the
// error that names what is wrong, before anything large is allocated,
// from memory and from a stream.
func TestHostile(t *testing.T) {
	const w, h = 64, 40
	rgb16 := pixeltest.TIFFSpec{Width: w, Height: h, Bits: 16, Samples: 3, Photometric: 2, Compression: 8, RowsPerStrip: 8}
	good := pixeltest.BuildTIFF(rgb16)
	with := func(f func(s *pixeltest.TIFFSpec)) []byte {
		s := rgb16
		f(&s)
		return pixeltest.BuildTIFF(s)
	}
	entry := func(data []byte, tag uint16, val uint16) []byte {
		// Sets the first value of an inline SHORT entry of a little-endian file.
		out := bytes.Clone(data)
		n := int(out[8]) | int(out[9])<<8
		for i := 0; i < n; i++ {
			e := out[10+12*i:]
			if uint16(e[0])|uint16(e[1])<<8 == tag {
				e[8], e[9] = byte(val), byte(val>>8)
				return out
			}
		}
		panic("no such tag")
	}
	var unsupported UnsupportedError
	var format FormatError
	tests := []struct {
		name string
		data []byte
		// is, or as when is is nil, is what the error must be.
		is error
		as any
	}{
		{"empty", nil, ErrTruncated, nil},
		{"header only", good[:8], ErrTruncated, nil},
		{"cut in the IFD", good[:40], ErrTruncated, nil},
		{"cut in a strip", good[:len(good)-20], ErrTruncated, nil},
		{"strip cut short", with(func(s *pixeltest.TIFFSpec) {
			s.Raw = func(i int, d []byte) []byte { return d[:len(d)/2] }
		}), ErrShortBlock, nil},
		{"strip of garbage", with(func(s *pixeltest.TIFFSpec) {
			s.Raw = func(i int, d []byte) []byte { return append(d[:2:2], bytes.Repeat([]byte{0xff}, len(d))...) }
		}), nil, &format},
		{"inflate bomb", with(func(s *pixeltest.TIFFSpec) {
			s.Raw = func(i int, d []byte) []byte { return pixeltest.ZeroZlib(1 << 30) }
		}), ErrTooMuchData, nil},
		{"uncompressed strip short", with(func(s *pixeltest.TIFFSpec) {
			s.Compression = 1
			s.Raw = func(i int, d []byte) []byte { return d[:10] }
		}), ErrShortBlock, nil},
		{"jpeg compression", entry(good, 259, 7), nil, &unsupported},
		{"cmyk", entry(good, 262, 5), nil, &unsupported},
		{"ycbcr", entry(good, 262, 6), nil, &unsupported},
		{"separate planes", with(func(s *pixeltest.TIFFSpec) { s.Tags = map[uint16]uint16{284: 2} }), nil, &unsupported},
		{"fill order 2", with(func(s *pixeltest.TIFFSpec) { s.Tags = map[uint16]uint16{266: 2} }), nil, &unsupported},
		{"float samples", with(func(s *pixeltest.TIFFSpec) { s.Tags = map[uint16]uint16{339: 3} }), nil, &unsupported},
		{"float predictor", with(func(s *pixeltest.TIFFSpec) { s.Predictor = 3 }), nil, &unsupported},
		{"12-bit", with(func(s *pixeltest.TIFFSpec) { s.Bits = 12 }), nil, &unsupported},
		{"bigtiff", append([]byte("II+\x00\x08\x00\x00\x00"), make([]byte, 16)...), nil, &unsupported},
		{"not tiff", []byte("II*\x01garbage!"), nil, &format},
		{"ifd inside the header", []byte("II*\x00\x04\x00\x00\x00"), nil, &format},
		{"photometric 65535", entry(good, 262, 0xffff), nil, &unsupported},
		{"odd tiles", pixeltest.BuildTIFF(pixeltest.TIFFSpec{Width: 40, Height: 40, TileWidth: 20, TileHeight: 16}), nil, &format},
		{"huge tiles", pixeltest.BuildTIFF(pixeltest.TIFFSpec{Width: 4000, Height: 40, TileWidth: 2048, TileHeight: 16}), nil, &unsupported},
		{"too many pixels", pixeltest.TIFFBomb(60000, 60000), ErrTooLarge, nil},
		{"one strip byte for a large image", pixeltest.TIFFBomb(3000, 3000), ErrShortBlock, nil},
	}
	for _, tc := range tests {
		for _, streamed := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(tc.data)
			if streamed {
				r = stream{r}
			}
			var err error
			peak := pixeltest.PeakHeap(func() { _, _, err = Decode(r, Options{MaxPixels: 50_000_000, BoxWidth: 200, BoxHeight: 200}) })
			switch {
			case err == nil:
				t.Errorf("%s: decoded", tc.name)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Errorf("%s: %v, want %v", tc.name, err, tc.is)
			case tc.as != nil && !errors.As(err, tc.as):
				t.Errorf("%s: %v, want a %T", tc.name, err, tc.as)
			}
			if peak > 4<<20 {
				t.Errorf("%s: refusing it took %d KiB", tc.name, peak>>10)
			}
			t.Logf("%s (streamed %v): %v", tc.name, streamed, err)
		}
	}
	if errors.Is(ErrTruncated, io.ErrUnexpectedEOF) == false {
		t.Error("ErrTruncated does not wrap io.ErrUnexpectedEOF")
	}
}

// checkDecode decodes data from memory and from a stream: no panic, the
// same outcome, and a successful decode of the size its header declares.
func checkDecode(t *testing.T, data []byte) {
	opts := Options{MaxPixels: 1 << 20, BoxWidth: 16, BoxHeight: 16}
	c, cerr := DecodeConfig(bytes.NewReader(data))
	img, _, err := Decode(bytes.NewReader(data), opts)
	img2, _, err2 := Decode(stream{bytes.NewReader(data)}, opts)
	if (err == nil) != (err2 == nil) {
		t.Fatalf("from memory %v, streamed %v", err, err2)
	}
	img3, _, err3 := Decode(newHolder(data, len(data)/3), opts)
	if (err == nil) != (err3 == nil) {
		t.Fatalf("from memory %v, a third held %v", err, err3)
	}
	if err != nil {
		return
	}
	if cerr != nil {
		t.Fatalf("decoded, but DecodeConfig: %v", cerr)
	}
	s := opts.scale(c)
	if b := img.Bounds(); b.Dx() != (c.Width+s-1)/s || b.Dy() != (c.Height+s-1)/s {
		t.Fatalf("%v for %dx%d at scale %d", b, c.Width, c.Height, s)
	}
	if !equalPix(img, img2) || !equalPix(img, img3) {
		t.Fatal("the streamed or held decode differs")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []pixeltest.TIFFSpec{
		{Width: 9, Height: 7, Bits: 16, Samples: 4, Photometric: 2, Alpha: 2, Compression: 8, RowsPerStrip: 3},
		{Width: 9, Height: 7, Bits: 8, Samples: 2, Photometric: 0, Alpha: 1, TileWidth: 16, TileHeight: 16},
		{Width: 9, Height: 7, Bits: 1, Photometric: 1},
		{Width: 9, Height: 7, Bits: 2, Photometric: 3, ColorMap: make([]uint16, 12)},
		{Width: 9, Height: 7, Bits: 8, Samples: 3, Photometric: 2, Predictor: 2, BigEndian: true,
			Block: func(_, n int) []byte { return bytes.Repeat([]byte{7, 1}, n/2+1)[:n] }},
	} {
		f.Add(pixeltest.BuildTIFF(s))
	}
	f.Add(pixeltest.TIFFBomb(2000, 1000))
	f.Add(pixeltest.TiledTIFF(40, 33, 16))
	f.Add(pixeltest.TIFF(pixeltest.Photo(9, 7, 1)))
	f.Add([]byte("II*\x00"))
	f.Fuzz(checkDecode)
}
