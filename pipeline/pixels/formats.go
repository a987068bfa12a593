package pixels

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"

	"github.com/disintegration/imaging"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/jpegdec"
)

// The formats pixels reads, in the order they are sniffed.
func init() {
	Register(Codec{
		Format: JPEG, Name: "JPEG", Ext: ".jpg", ContentType: "image/jpeg",
		Magic:  []string{"\xff\xd8\xff"},
		Header: jpegHeader,
		Decode: func(r io.Reader, c Config, opts DecodeOptions) (image.Image, error) {
			scale := 1
			if opts.Width > 0 && opts.Height > 0 {
				scale = jpegdec.ScaleFor(c.Width, c.Height, opts.Width, opts.Height)
			}
			img, _, err := jpegdec.Decode(r, jpegdec.Options{Scale: scale, MaxPixels: opts.MaxPixels, CMYK: opts.CMYK})
			return img, err
		},
		Encode: func(w io.Writer, img image.Image, opts EncodeOptions) error {
			// imaging.Encode hands image/jpeg an opaque *image.NRGBA (what
			// the resampler returns) as the *image.RGBA it equals, so
			// encoding makes no allocation per pixel.
			return imaging.Encode(w, flatten(img), imaging.JPEG, imaging.JPEGQuality(opts.Quality))
		},
		Unsupported: isErr[jpegdec.UnsupportedError],
	})
	Register(Codec{
		Format: PNG, Name: "PNG", Ext: ".png", ContentType: "image/png",
		Magic:  []string{"\x89PNG\r\n\x1a\n"},
		Header: pngHeader,
		Decode: fullSize(png.Decode),
		Encode: func(w io.Writer, img image.Image, _ EncodeOptions) error {
			return imaging.Encode(w, img, imaging.PNG, imaging.PNGCompressionLevel(png.BestSpeed))
		},
		Unsupported: isErr[png.UnsupportedError],
	})
	Register(Codec{
		Format: GIF, Name: "GIF", Ext: ".gif", ContentType: "image/gif",
		Magic:  []string{"GIF87a", "GIF89a"},
		Header: stdHeader(gif.DecodeConfig, 0), // frames are counted only by decoding them all
		Decode: fullSize(gif.Decode),           // the first frame
		Encode: func(w io.Writer, img image.Image, _ EncodeOptions) error {
			return imaging.Encode(w, img, imaging.GIF)
		},
	})
	Register(Codec{
		Format: WebP, Name: "WebP", Ext: ".webp", ContentType: "image/webp",
		Magic:  []string{"RIFF????WEBP"},
		Header: webpHeader,
		Decode: fullSize(webp.Decode),
	})
	Register(Codec{
		Format: TIFF, Name: "TIFF", Ext: ".tiff", ContentType: "image/tiff",
		Magic:       []string{"II*\x00", "MM\x00*"},
		Header:      tiffHeader,
		Decode:      fullSize(tiff.Decode),
		Unsupported: isErr[tiff.UnsupportedError],
	})
	Register(Codec{
		Format: BMP, Name: "BMP", Ext: ".bmp", ContentType: "image/bmp",
		// "BM" and the rest of the 14-byte file header.
		Magic:       []string{"BM????????????"},
		Header:      stdHeader(bmp.DecodeConfig, 1),
		Decode:      fullSize(bmp.Decode),
		Unsupported: func(err error) bool { return errors.Is(err, bmp.ErrUnsupported) },
	})
}

// isErr reports whether err is, or wraps, an error of type E: a decoder's
// "unsupported feature" type.
func isErr[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

// fullSize adapts a decoder that only decodes at full size.
func fullSize(decode func(io.Reader) (image.Image, error)) func(io.Reader, Config, DecodeOptions) (image.Image, error) {
	return func(r io.Reader, _ Config, _ DecodeOptions) (image.Image, error) { return decode(r) }
}

func jpegHeader(r io.Reader) (Config, error) {
	jc, err := jpegdec.DecodeConfig(r)
	if err != nil {
		return Config{}, err
	}
	// jpegdec refuses every precision but 8 bits; JPEG has one frame.
	return Config{Width: jc.Width, Height: jc.Height, Orientation: jc.Orientation,
		BitDepth: 8, Channels: jc.Components, Frames: 1, ICC: jc.ICC, ICCIgnored: jc.ICCIgnored}, nil
}

// pngHeader reads the IHDR chunk itself for the stored bit depth and
// channels (image/png reports the colour model it decodes to), then lets
// image/png check the header.
func pngHeader(r io.Reader) (Config, error) {
	// Signature (8), IHDR length and type (8), width, height, depth, colour type.
	var ihdr [26]byte
	if _, err := io.ReadFull(r, ihdr[:]); err != nil {
		return Config{}, fmt.Errorf("png: reading IHDR: %w", err)
	}
	ic, err := png.DecodeConfig(io.MultiReader(bytes.NewReader(ihdr[:]), r))
	if err != nil {
		return Config{}, err
	}
	c := Config{Width: ic.Width, Height: ic.Height, BitDepth: int(ihdr[24]), Frames: 1}
	// Colour types: 0 gray, 2 RGB, 3 palette (RGB entries), 4 gray+alpha, 6 RGBA.
	c.Channels = map[byte]int{0: 1, 2: 3, 3: 3, 4: 2, 6: 4}[ihdr[25]]
	return c, nil
}

// stdHeader adapts a standard DecodeConfig: the depth and channels come
// from the colour model it reports.
func stdHeader(decodeConfig func(io.Reader) (image.Config, error), frames int) func(io.Reader) (Config, error) {
	return func(r io.Reader) (Config, error) {
		ic, err := decodeConfig(r)
		if err != nil {
			return Config{}, err
		}
		depth, channels := modelLayout(ic.ColorModel)
		return Config{Width: ic.Width, Height: ic.Height, BitDepth: depth, Channels: channels, Frames: frames}, nil
	}
}

// modelLayout returns the bits per channel and the channels of a colour
// model; 0, 0 for one it does not know.
func modelLayout(m color.Model) (depth, channels int) {
	switch m {
	case color.GrayModel:
		return 8, 1
	case color.Gray16Model:
		return 16, 1
	case color.YCbCrModel:
		return 8, 3
	case color.RGBAModel, color.NRGBAModel, color.NYCbCrAModel, color.CMYKModel:
		return 8, 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 16, 4
	}
	if p, ok := m.(color.Palette); ok {
		for _, c := range p {
			if _, _, _, a := c.RGBA(); a != 0xffff {
				return 8, 4
			}
		}
		return 8, 3
	}
	return 0, 0
}
