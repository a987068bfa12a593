package heif_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

func parse(t *testing.T, data []byte) *heif.File {
	t.Helper()
	f, err := heif.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file                string
		codec               string
		w, h, orientation   int
		depth, thumbs, grid int
		alpha               bool
	}{
		{"photo.heic", heif.TypeHEVC, 320, 240, 1, 8, 0, 0, false},
		{"photo.avif", heif.TypeAV1, 320, 240, 1, 8, 0, 0, false},
		{"alpha.heic", heif.TypeHEVC, 96, 64, 1, 8, 0, 0, true},
		{"alpha.avif", heif.TypeAV1, 96, 64, 1, 8, 0, 0, true},
		{"grid.heic", heif.TypeHEVC, 640, 480, 6, 8, 1, 6, false},
		{"p3.avif", heif.TypeAV1, 64, 48, 1, 8, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := pixeltest.File(tt.file)
			f := parse(t, data)
			p := f.Primary
			if f.Codec() != tt.codec || p.Width != tt.w || p.Height != tt.h || p.Orientation != tt.orientation {
				t.Errorf("%s %dx%d orientation %d, want %s %dx%d orientation %d", f.Codec(), p.Width, p.Height, p.Orientation, tt.codec, tt.w, tt.h, tt.orientation)
			}
			if (p.Alpha != nil) != tt.alpha || len(p.Thumbnails) != tt.thumbs || len(p.Tiles) != tt.grid {
				t.Errorf("alpha %v, %d thumbnails, %d tiles; want %v, %d, %d", p.Alpha != nil, len(p.Thumbnails), len(p.Tiles), tt.alpha, tt.thumbs, tt.grid)
			}
			if tt.grid > 0 {
				g, err := f.ReadGrid(data, p)
				if err != nil || g.Columns != 3 || g.Rows != 2 {
					t.Errorf("grid %+v (%v), want 3x2", g, err)
				}
			}
			// Every coded image extracts into a file that parses back to
			// the same item, upright.
			for _, it := range append(append([]*heif.Item{p}, p.Tiles...), p.Thumbnails...) {
				if it.Type == heif.TypeGrid {
					continue
				}
				images, err := f.Images(data, it, it.Alpha, p)
				if err != nil {
					t.Fatal(err)
				}
				one, err := heif.Build(f.Brands, 1, images)
				if err != nil {
					t.Fatal(err)
				}
				g := parse(t, one)
				if g.Primary.Width != it.Width || g.Primary.Height != it.Height || g.Primary.Orientation != 1 || (g.Primary.Alpha != nil) != (it.Alpha != nil) {
					t.Errorf("item %d extracted as %+v", it.ID, *g.Primary)
				}
			}
		})
	}
	if n := parse(t, pixeltest.File("p3.avif")).Primary.NCLX; n == nil || n.Primaries != 12 || n.Transfer != 13 || n.Matrix != 6 {
		t.Errorf("p3.avif nclx %+v, want 12/13/6", n)
	}
}

// TestOrientation writes the irot and imir properties of each EXIF
// orientation and reads them back.
func TestOrientation(t *testing.T) {
	for o := 1; o <= 8; o++ {
		data, err := pixeltest.ReorientHEIF(pixeltest.File("photo.heic"), o)
		if err != nil {
			t.Fatal(err)
		}
		if got := parse(t, data).Primary.Orientation; got != o {
			t.Errorf("orientation %d read back as %d", o, got)
		}
	}
}

// patch returns a copy of data with the 4-byte big-endian word after the
// first occurrence of typ (a box's type) plus skip bytes set to v, or
// the 2-byte one when two is set.
func patch(data []byte, typ string, skip int, v uint32, two bool) []byte {
	out := bytes.Clone(data)
	at := bytes.Index(out, []byte(typ)) + 4 + skip
	if two {
		binary.BigEndian.PutUint16(out[at:], uint16(v))
	} else {
		binary.BigEndian.PutUint32(out[at:], v)
	}
	return out
}

// TestHostile feeds files that break the format's rules or its limits:
// each is refused with a named error before any pixel is decoded.
func TestHostile(t *testing.T) {
	photo := pixeltest.File("photo.heic")
	grid := pixeltest.File("grid.heic")
	metaEnd := bytes.Index(photo, []byte("mdat")) - 4
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, heif.ErrCorrupt},
		{"ftyp only", photo[:24], heif.ErrCorrupt},
		{"cut in meta", photo[:metaEnd-10], heif.ErrCorrupt},
		{"data outside the file (cut)", photo[:len(photo)-100], heif.ErrCorrupt},
		{"grid cut in the tiles", grid[:len(grid)/2], heif.ErrCorrupt},
		{"not a HEIF brand", video(t), heif.ErrUnsupported},
		{"meta larger than the file", patch(photo, "ftyp", 20, uint32(len(photo)), false), heif.ErrCorrupt},
		{"65535 items declared", patch(photo, "iinf", 4, 0xffff, true), heif.ErrUnsupported},
		{"more extents than iloc holds", patch(photo, "iloc", 4+2+2+2+2+2+2, 1<<30, false), heif.ErrCorrupt},
		{"property index out of range", patch(photo, "ipma", 4+4+2+1, 0x7f7f, true), heif.ErrCorrupt},
		{"zero ispe", pixeltest.HEIFBomb(0, 100), heif.ErrCorrupt},
		{"ispe beyond any codec", pixeltest.HEIFBomb(1<<21, 1<<21), heif.ErrCorrupt},
		{"tiles that do not cover the grid", pixeltest.HEIFBadGrid(2, 2, 300, 300, 64, 64, 4), heif.ErrCorrupt},
		{"a tile row outside the grid", pixeltest.HEIFBadGrid(2, 3, 128, 128, 64, 64, 6), heif.ErrCorrupt},
		{"fewer tiles than the layout", pixeltest.HEIFBadGrid(2, 2, 128, 128, 64, 64, 3), heif.ErrCorrupt},
		{"65536 tiles laid out", pixeltest.HEIFBadGrid(256, 256, 1<<16, 1<<16, 256, 256, 4), heif.ErrUnsupported},
		{"5000 tiles referenced", pixeltest.HEIFBadGrid(100, 50, 6400, 3200, 64, 64, 5000), heif.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			t.Log(err)
		})
	}
	// The bomb itself is well-formed: refusing its size is the caller's
	// pixel limit's job, with the dimensions read here.
	if err := check(pixeltest.HEIFBomb(60000, 60000)); err != nil {
		t.Errorf("60000x60000 bomb: %v", err)
	}
}

// video is an ISO BMFF file with a meta box, branded as an MP4 video.
func video(t *testing.T) []byte {
	b, err := heif.Build([]string{"mp42", "isom"}, 1, []heif.Image{{ID: 1, Type: heif.TypeHEVC, Data: []byte{0}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// check does what a decoder does before decoding: parse, read a grid's
// layout, and take every coded image item's data out of the file.
func check(data []byte) error {
	f, err := heif.Parse(bytes.NewReader(data))
	if err != nil {
		return err
	}
	p := f.Primary
	if p.Type == heif.TypeGrid {
		if _, err := f.ReadGrid(data, p); err != nil {
			return err
		}
	}
	for _, it := range append([]*heif.Item{p}, p.Tiles...) {
		if it.Type == heif.TypeGrid {
			continue
		}
		if _, err := f.Images(data, it, it.Alpha, p); err != nil {
			return fmt.Errorf("item %d: %w", it.ID, err)
		}
	}
	return nil
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"photo.heic", "grid.heic", "alpha.avif", "p3.avif"} {
		f.Add(pixeltest.File(name))
	}
	f.Add(pixeltest.HEIFBadGrid(2, 2, 300, 300, 64, 64, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = check(data)
	})
}

// TestProperty reads back a property's body, the first of its type.
func TestProperty(t *testing.T) {
	hvcC := []byte{1, 2, 3, 4}
	b, err := heif.Build([]string{"heic", "mif1"}, 1, []heif.Image{{ID: 1, Type: heif.TypeHEVC, Data: []byte{0}, Properties: []heif.Property{
		{Type: "hvcC", Body: hvcC, Essential: true},
		{Type: "ispe", Body: []byte{0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 48}},
		{Type: "hvcC", Body: []byte{9}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := heif.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Primary.Property("hvcC"); !bytes.Equal(got, hvcC) {
		t.Errorf("hvcC %v, want %v", got, hvcC)
	}
	if got := f.Primary.Property("av1C"); got != nil {
		t.Errorf("av1C %v, want none", got)
	}
}
