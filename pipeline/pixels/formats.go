package pixels

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/disintegration/imaging"
	"golang.org/x/image/bmp"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/jpegdec"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pngdec"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/tiffdec"
)

// The formats pixels reads, in the order they are sniffed.
func init() {
	Register(Codec{
		Format: JPEG, Name: "JPEG", Ext: ".jpg", ContentType: "image/jpeg",
		Magic:  []string{"\xff\xd8\xff"},
		Header: jpegHeader,
		Decode: func(r io.Reader, c Config, opts DecodeOptions) (image.Image, error) {
			ctx := opts.Context
			if ctx == nil {
				ctx = context.Background()
			}
			img, _, err := jpegdec.DecodeContext(ctx, r, jpegdec.Options{Scale: jpegScale(c, opts), MaxPixels: opts.MaxPixels, CMYK: opts.CMYK})
			return img, err
		},
		Memory:       jpegMemory,
		TooExpensive: func(err error) bool { return errors.Is(err, jpegdec.ErrTooManyScans) },
		Encode: func(w io.Writer, img image.Image, opts EncodeOptions) error {
			// imaging.Encode hands image/jpeg an opaque *image.NRGBA (what
			// the resampler returns) as the *image.RGBA it equals, so
			// encoding makes no allocation per pixel.
			return imaging.Encode(w, flatten(img, opts.Background), imaging.JPEG, imaging.JPEGQuality(opts.Quality))
		},
		Unsupported: isErr[jpegdec.UnsupportedError],
		Metadata:    jpegRights,
		Embed:       embedJPEG,
	})
	Register(Codec{
		Format: PNG, Name: "PNG", Ext: ".png", ContentType: "image/png",
		Magic:  []string{"\x89PNG\r\n\x1a\n"},
		Header: pngHeader,
		Decode: func(r io.Reader, _ Config, opts DecodeOptions) (image.Image, error) {
			img, _, err := pngdec.Decode(r, pngOptions(opts))
			return img, err
		},
		Memory: func(c Config, opts DecodeOptions) int64 {
			return pngdec.MemoryEstimate(pngConfig(c), pngOptions(opts))
		},
		Encode: func(w io.Writer, img image.Image, _ EncodeOptions) error {
			return imaging.Encode(w, img, imaging.PNG, imaging.PNGCompressionLevel(png.BestSpeed))
		},
		Unsupported: isErr[pngdec.UnsupportedError],
		Metadata:    pngRights,
		Embed:       embedPNG,
	})
	Register(Codec{
		Format: GIF, Name: "GIF", Ext: ".gif", ContentType: "image/gif",
		Magic:  []string{"GIF87a", "GIF89a"},
		Header: gifHeader,
		Decode: gifDecode, // the first frame
		Encode: gifEncode,
	})
	Register(Codec{
		Format: WebP, Name: "WebP", Ext: ".webp", ContentType: "image/webp",
		Magic:       []string{"RIFF????WEBP"},
		Header:      webpHeader,
		Decode:      decodeWebP,
		Memory:      webpMemory,
		Encode:      encodeWebP,
		Unsupported: isErr[webpTooManyFrames],
		Metadata:    webpRights,
		Embed:       embedWebP,
	})
	Register(Codec{
		Format: TIFF, Name: "TIFF", Ext: ".tiff", ContentType: "image/tiff",
		Magic:  []string{"II*\x00", "MM\x00*"},
		Header: tiffHeader,
		// Strip by strip or tile by tile, reduced as the rows arrive.
		Decode: func(r io.Reader, _ Config, opts DecodeOptions) (image.Image, error) {
			img, _, err := tiffdec.Decode(r, tiffOptions(opts))
			return img, err
		},
		Memory:      tiffMemory,
		Unsupported: isErr[tiffdec.UnsupportedError],
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
		BitDepth: 8, Channels: jc.Components, Frames: 1, ICC: jc.ICC, ICCIgnored: jc.ICCIgnored,
		Progressive: jc.Progressive}, nil
}

// pngHeader reads the chunks before the image data with pngdec: the
// stored bit depth and channels, Adam7 interlacing, the eXIf orientation
// and the iCCP profile.
func pngHeader(r io.Reader) (Config, error) {
	pc, err := pngdec.DecodeConfig(r)
	if err != nil {
		return Config{}, err
	}
	return Config{Width: pc.Width, Height: pc.Height, Orientation: pc.Orientation,
		BitDepth: pc.BitDepth, Channels: pngChannels[pc.ColorType], Frames: 1,
		ICC: pc.ICCProfile, Progressive: pc.Interlaced}, nil
}

// pngChannels is the channels of each PNG colour type; a palette's
// entries are RGB.
var pngChannels = map[pngdec.ColorType]int{
	pngdec.Gray: 1, pngdec.RGB: 3, pngdec.Paletted: 3, pngdec.GrayAlpha: 2, pngdec.RGBA: 4,
}

// pngAllPasses is whether an interlaced PNG is decoded whole and
// box-filtered (true) or from the early Adam7 passes that cover the box.
// The early passes sample a grid, which aliases: a 3000×2000 photo-like
// image with sensor-like noise made 200×200 and 800×800 thumbnails of
// 27 and 30 dB PSNR against the full decode, one with hairlines 17 and
// 19 dB (visible moiré); all passes give 48 and 44 dB, and 38 and 32.
// Reading the whole file costs time (0.2 s there, against 4 ms), not
// memory, and interlaced files are rare: correct thumbnails win.
const pngAllPasses = true

// pngOptions are pngdec's options for opts: the box picks the scale.
func pngOptions(opts DecodeOptions) pngdec.Options {
	o := pngdec.Options{MaxPixels: opts.MaxPixels, AllPasses: pngAllPasses}
	if opts.Width > 0 && opts.Height > 0 {
		o.BoxWidth, o.BoxHeight = opts.Width, opts.Height
	}
	return o
}

// pngConfig is as much of pngdec's header as c keeps, for
// pngdec.MemoryEstimate: where c cannot tell, the costlier case (a
// palette counted as RGB samples, gray as having a tRNS colour, so
// decoded with alpha).
func pngConfig(c Config) pngdec.Config {
	pc := pngdec.Config{Width: c.Width, Height: c.Height, BitDepth: c.BitDepth, Interlaced: c.Progressive}
	switch c.Channels {
	case 1:
		pc.ColorType, pc.Transparency = pngdec.Gray, true
	case 2:
		pc.ColorType = pngdec.GrayAlpha
	case 3:
		pc.ColorType = pngdec.RGB
	default:
		pc.ColorType = pngdec.RGBA
	}
	return pc
}

// jpegScale is the reduction jpegdec decodes an image with header c at
// for opts: the largest that still gives the size every thumbnail needs
// (opts.MinWidth×MinHeight), or else covers the box.
func jpegScale(c Config, opts DecodeOptions) int {
	if opts.MinWidth > 0 && opts.MinHeight > 0 {
		return jpegdec.ScaleFor(c.Width, c.Height, opts.MinWidth, opts.MinHeight)
	}
	if opts.Width > 0 && opts.Height > 0 {
		return jpegdec.ScaleFor(c.Width, c.Height, opts.Width, opts.Height)
	}
	return 1
}

// jpegMemory estimates jpegdec's allocations at the scale opts picks
// (jpegdec.MemoryEstimate, which counts the costliest sampling factors): a
// 65535×399 progressive CMYK image fitted into 200×200 is decoded at 1/8,
// in under 16 MB.
func jpegMemory(c Config, opts DecodeOptions) int64 {
	jc := jpegdec.Config{Width: c.Width, Height: c.Height, Components: c.Channels, Progressive: c.Progressive}
	return jpegdec.MemoryEstimate(jc, jpegdec.Options{Scale: jpegScale(c, opts), CMYK: opts.CMYK})
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
