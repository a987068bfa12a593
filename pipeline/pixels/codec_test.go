package pixels_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// toy is a format that exists only in these tests: "TOY", a version byte
// (1), width and height as big-endian uint16, then one gray byte a pixel.
// Registering it is all it takes for pixels to sniff, read, decode, encode
// and refuse it.
const toy pixels.Format = "toy"

type toyUnsupported string

func (e toyUnsupported) Error() string { return "toy: unsupported " + string(e) }

func init() {
	pixels.Register(pixels.Codec{
		Format: toy, Name: "Toy", Ext: ".toy", ContentType: "image/x-toy",
		Magic:  []string{"TOY"},
		Header: toyHeader,
		Decode: func(r io.Reader, c pixels.Config, opts pixels.DecodeOptions) (image.Image, error) {
			h, err := toyHeader(r)
			if err != nil {
				return nil, err
			}
			if opts.MaxPixels > 0 && h.Pixels() > opts.MaxPixels {
				return nil, fmt.Errorf("toy: %d pixels, more than %d", h.Pixels(), opts.MaxPixels)
			}
			img := image.NewGray(image.Rect(0, 0, h.Width, h.Height))
			if _, err := io.ReadFull(r, img.Pix); err != nil {
				return nil, fmt.Errorf("toy: pixels: %w", err)
			}
			return img, nil
		},
		Encode: func(w io.Writer, img image.Image, _ pixels.EncodeOptions) error {
			_, err := w.Write(toyFile(img))
			return err
		},
		Unsupported: func(err error) bool {
			var u toyUnsupported
			return errors.As(err, &u)
		},
	})
}

func toyHeader(r io.Reader) (pixels.Config, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return pixels.Config{}, fmt.Errorf("toy: header: %w", err)
	}
	if h[3] != 1 {
		return pixels.Config{}, toyUnsupported(fmt.Sprintf("version %d", h[3]))
	}
	return pixels.Config{
		Width: int(binary.BigEndian.Uint16(h[4:])), Height: int(binary.BigEndian.Uint16(h[6:])),
		BitDepth: 8, Channels: 1, Frames: 1,
	}, nil
}

func toyFile(img image.Image) []byte {
	b := img.Bounds()
	out := []byte{'T', 'O', 'Y', 1}
	out = binary.BigEndian.AppendUint16(out, uint16(b.Dx()))
	out = binary.BigEndian.AppendUint16(out, uint16(b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out = append(out, color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
		}
	}
	return out
}

// TestRegisterAFormat shows that one registration (init above) is all a new
// format needs: it is sniffed, its header read, decoded and thumbnailed
// through Render, written, refused when corrupt or unsupported, and named
// where the unsupported formats are listed.
func TestRegisterAFormat(t *testing.T) {
	data := toyFile(pixeltest.Photo(120, 60, 3))
	if got := pixels.Sniff(data); got != toy {
		t.Fatalf("Sniff = %q, want %q", got, toy)
	}
	if toy.Ext() != ".toy" || toy.ContentType() != "image/x-toy" || !toy.Writable() {
		t.Errorf("Ext %q, ContentType %q, Writable %v", toy.Ext(), toy.ContentType(), toy.Writable())
	}
	cfg, err := pixels.DecodeConfig(data)
	want := pixels.Config{Format: toy, Width: 120, Height: 60, Orientation: 1, BitDepth: 8, Channels: 1, Frames: 1}
	if err != nil || cfg.Format != want.Format || cfg.Width != want.Width || cfg.Height != want.Height ||
		cfg.Orientation != 1 || cfg.BitDepth != 8 || cfg.Channels != 1 || cfg.Frames != 1 {
		t.Fatalf("DecodeConfig = %+v, %v; want %+v", cfg, err, want)
	}

	outs := []pixels.Output{
		{Width: 30, Height: 30, Mode: pixels.Fill, Format: toy},
		{Width: 60, Height: 60, Mode: pixels.Fit, Format: pixels.PNG},
	}
	got := map[int][]byte{}
	err = pixels.Render(bytes.NewReader(data), cfg, outs, func(r pixels.Rendered) error {
		got[r.Index] = bytes.Clone(r.Data)
		return nil
	})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if c, err := pixels.DecodeConfig(got[0]); err != nil || c.Format != toy || c.Width != 30 || c.Height != 30 {
		t.Errorf("toy thumbnail: %+v, %v; want a 30x30 toy", c, err)
	}
	if c, err := pixels.DecodeConfig(got[1]); err != nil || c.Format != pixels.PNG || c.Width != 60 || c.Height != 30 {
		t.Errorf("png thumbnail of a toy: %+v, %v; want a 60x30 PNG", c, err)
	}

	refusals := []struct {
		name string
		data []byte
		want error
	}{
		{"cut in the header", data[:6], pixels.ErrCorrupt},
		{"cut in the pixels", data[:len(data)/2], pixels.ErrCorrupt},
		{"version 2", append([]byte("TOY\x02"), data[4:]...), pixels.ErrUnsupported},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			c, stream, err := pixels.ReadConfig(bytes.NewReader(tc.data))
			if err == nil {
				err = pixels.Render(stream, c, outs, func(pixels.Rendered) error {
					t.Error("a thumbnail of a refused image")
					return nil
				})
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "toy") {
				t.Errorf("%v; want %v naming toy", err, tc.want)
			}
		})
	}
	_, err = pixels.DecodeConfig([]byte("plain text, no pixels"))
	if !errors.Is(err, pixels.ErrUnsupported) || !strings.HasSuffix(err.Error(), " or Toy") {
		t.Errorf("unknown bytes: %v; want ErrUnsupported listing Toy", err)
	}
}

// samples holds a small file of each registered format; a codec without
// one fails TestCodecsComplete.
func samples() map[pixels.Format][]byte {
	small := pixeltest.Photo(24, 16, 1)
	return map[pixels.Format][]byte{
		pixels.JPEG: pixeltest.JPEG(small, 80),
		pixels.PNG:  pixeltest.PNG(small),
		pixels.GIF:  pixeltest.GIF(small),
		pixels.WebP: pixeltest.File("lossy.webp"),
		pixels.TIFF: pixeltest.TIFF(small),
		pixels.BMP:  pixeltest.BMP(small),
		pixels.HEIC: pixeltest.File("photo.heic"),
		pixels.AVIF: pixeltest.File("photo.avif"),
		toy:         toyFile(small),
	}
}

// TestCodecsComplete checks every registered codec: its sample is sniffed
// as its format (and no other codec claims it), its header reads, it
// decodes through Render, its metadata agrees with Format's methods, and a
// writable one reads back what it writes.
func TestCodecsComplete(t *testing.T) {
	files := samples()
	codecs := pixels.Codecs()
	if len(codecs) != len(files) {
		t.Errorf("%d codecs registered, %d samples", len(codecs), len(files))
	}
	for _, c := range codecs {
		t.Run(string(c.Format), func(t *testing.T) {
			data, ok := files[c.Format]
			if !ok {
				t.Fatalf("no sample of %s", c.Format)
			}
			if c.Name == "" || c.Ext != c.Format.Ext() || c.ContentType != c.Format.ContentType() ||
				c.Header == nil || c.Decode == nil || (c.Encode != nil) != c.Format.Writable() {
				t.Errorf("incomplete or inconsistent codec: %+v", c)
			}
			for _, m := range c.Magic {
				if len(m) > pixels.SniffLen {
					t.Errorf("magic %q is longer than SniffLen %d", m, pixels.SniffLen)
				}
			}
			if got := pixels.Sniff(data[:min(len(data), pixels.SniffLen)]); got != c.Format {
				t.Fatalf("sample sniffed as %q", got)
			}
			cfg, err := pixels.DecodeConfig(data)
			if err != nil || cfg.Format != c.Format || cfg.BitDepth == 0 || cfg.Channels == 0 {
				t.Fatalf("DecodeConfig = %+v, %v; want %s with depth and channels", cfg, err, c.Format)
			}
			out := c.Format
			if !out.Writable() {
				out = pixels.JPEG
			}
			var encoded []byte
			err = pixels.Render(bytes.NewReader(data), cfg,
				[]pixels.Output{{Width: 8, Height: 8, Mode: pixels.Fit, Format: out, Encode: pixels.EncodeOptions{Quality: 80}}},
				func(r pixels.Rendered) error { encoded = bytes.Clone(r.Data); return nil })
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			back, err := pixels.DecodeConfig(encoded)
			if err != nil || back.Format != out || back.Width > 8 || back.Height > 8 {
				t.Errorf("thumbnail reads back as %+v, %v", back, err)
			}
		})
	}
}

// TestHeader checks what the header readers report beyond the size.
func TestHeader(t *testing.T) {
	small := pixeltest.Photo(24, 16, 1)
	tests := []struct {
		name                    string
		data                    []byte
		depth, channels, frames int
	}{
		{"jpeg", pixeltest.JPEG(small, 80), 8, 3, 1},
		{"cmyk jpeg", pixeltest.File("cmyk.jpg"), 8, 4, 1},
		// image/png writes an opaque image as RGB, and a two-colour
		// palette at one bit a pixel: the header says what is stored.
		{"opaque png", pixeltest.PNG(small), 8, 3, 1},
		{"16-bit png", pixeltest.PNG(pixeltest.Deep(8, 8)), 16, 3, 1},
		{"two-colour palette png", pixeltest.PNG(pixeltest.TransparentPalette(8, 8)), 1, 3, 1},
		{"gif", pixeltest.GIF(small), 8, 3, 1}, // the header walk counts frames
		{"lossless webp", pixeltest.File("lossless.webp"), 8, 4, 1},
		{"bmp", pixeltest.BMP(small), 8, 4, 1},
	}
	for _, tc := range tests {
		c, err := pixels.DecodeConfig(tc.data)
		if err != nil || c.BitDepth != tc.depth || c.Channels != tc.channels || c.Frames != tc.frames || c.ICC != nil {
			t.Errorf("%s: %+v, %v; want depth %d, %d channels, %d frames, no ICC", tc.name, c, err, tc.depth, tc.channels, tc.frames)
		}
	}
}

// TestRegisterRefuses checks that an incomplete or clashing codec is a
// panic at start, not a surprise on the first image.
func TestRegisterRefuses(t *testing.T) {
	ok := pixels.Codecs()[0]
	ok.Format = "fresh"
	tests := []struct {
		name string
		edit func(c *pixels.Codec)
	}{
		{"no format", func(c *pixels.Codec) { c.Format = pixels.Unknown }},
		{"registered twice", func(c *pixels.Codec) { c.Format = pixels.PNG }},
		{"no magic", func(c *pixels.Codec) { c.Magic = nil }},
		{"magic longer than SniffLen", func(c *pixels.Codec) { c.Magic = []string{strings.Repeat("x", pixels.SniffLen+1)} }},
		{"no header reader", func(c *pixels.Codec) { c.Header = nil }},
		{"no decoder", func(c *pixels.Codec) { c.Decode = nil }},
		{"no extension", func(c *pixels.Codec) { c.Ext = "" }},
		{"no content type", func(c *pixels.Codec) { c.ContentType = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			defer func() {
				if recover() == nil {
					t.Error("Register accepted it")
				}
			}()
			pixels.Register(c)
		})
	}
	if pixels.Sniff([]byte("\xff\xd8\xff\xe0")) != pixels.JPEG || len(pixels.Codecs()) != len(samples()) {
		t.Error("a refused registration changed the table")
	}
}
