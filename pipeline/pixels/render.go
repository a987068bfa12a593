package pixels

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"sort"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
)

// Output is one thumbnail for [Render] to make.
type Output struct {
	// Width and Height are the box, upright (as the thumbnail is seen).
	Width, Height int
	// Mode says how the image goes into the box.
	Mode Mode
	// Format is the thumbnail's format; it must be [Format.Writable].
	Format Format
	// Encode holds the encoder's options.
	Encode EncodeOptions
	// Color says what becomes of the source's colour profile; the zero
	// value is [ColorSRGB].
	Color Color
	// Metadata says which of the source's metadata the thumbnail carries;
	// the zero value is [MetadataNone].
	Metadata Metadata
}

// Rendered is one thumbnail [Render] made.
type Rendered struct {
	// Index is the output's index in the slice passed to Render.
	Index int
	// Width and Height are the thumbnail's size in pixels.
	Width, Height int
	// Data is the encoded thumbnail. It is valid only until the callback
	// returns: the next output reuses its memory.
	Data []byte
	// ColorNote says why the source's colour profile was ignored (the
	// thumbnail is then made as if the source had none); "" when it was
	// applied or there is none.
	ColorNote string
	// MetadataNote says which of the source's metadata blocks were
	// ignored as broken or too large, when the output keeps metadata;
	// "" otherwise.
	MetadataNote string
}

// Render makes every output of one image: it decodes the image r yields
// once ([DecodeFrom], with the header c from [ReadConfig]) at the smallest
// size that still covers the largest box (a JPEG: that still has the
// pixels of every thumbnail, [NeededSize]), then, one output at a time and
// largest first, resizes, turns it upright by c's orientation and encodes
// it, handing each result to emit before the next is made. So only the
// decoded image and one thumbnail are held at a time.
//
// An image with an embedded colour profile (c.ICC) is converted to sRGB
// through [icc] transforms, cached across calls: RGB images per
// thumbnail, after the resize, where there are few pixels; CMYK and gray
// images as decoded (JPEGs are decoded at a reduced size first).
// Outputs whose Color is [ColorKeep] keep an RGB profile instead, and
// those whose Metadata is [MetadataCopyright] carry the source's creator
// and rights fields; both are added by the format's Embed step after
// encoding, and a format without one (GIF) carries neither. An image
// without a profile, or with an sRGB one, gives the bytes it gave before
// profiles were read.
//
// An error from the decoder, an encoder or emit stops it and is returned;
// an output in a format no codec writes is refused before anything is
// read.
func Render(r io.Reader, c Config, outs []Output, emit func(Rendered) error) error {
	return RenderContext(context.Background(), r, c, outs, emit)
}

// RenderContext is [Render] whose decoder stops, with ctx's error, once
// ctx is done, where it can (a JPEG before each of its scans): a file of
// many scans does not outlive the request that asked for it.
func RenderContext(ctx context.Context, r io.Reader, c Config, outs []Output, emit func(Rendered) error) error {
	if len(outs) == 0 {
		return nil
	}
	order := make([]int, len(outs))
	for i, o := range outs {
		if !o.Format.Writable() {
			return fmt.Errorf("%w: cannot write %q", ErrUnsupported, o.Format)
		}
		order[i] = i
	}
	opts := decodeOptions(c, outs)
	sort.SliceStable(order, func(a, b int) bool {
		return outs[order[a]].Width*outs[order[a]].Height > outs[order[b]].Width*outs[order[b]].Height
	})
	color := planColor(c)
	opts.CMYK = color.t != nil && color.t.ColorSpace() == icc.CMYK
	opts.Context = ctx
	img, err := decodeFrom(r, c, opts)
	if err != nil {
		return err
	}
	if color.t != nil && !color.fits(c, img) {
		color = colorPlan{note: fmt.Sprintf("colour profile ignored: a %s profile does not fit a %s image with %d channels",
			color.t.ColorSpace(), c.Format, c.Channels)}
	}
	if color.early() {
		if img, err = color.t.Apply(img); err != nil {
			return fmt.Errorf("colour conversion: %w", err)
		}
		color.t = nil
	}
	var buf bytes.Buffer
	for _, i := range order {
		o := outs[i]
		thumb := thumbnail(img, o, c.Orientation)
		keep := color.keeps(o)
		if color.t != nil && !keep {
			if thumb, err = color.toSRGB(thumb, img); err != nil {
				return fmt.Errorf("colour conversion: %w", err)
			}
		}
		buf.Reset()
		if err := EncodeWith(&buf, thumb, o.Format, o.Encode); err != nil {
			return err
		}
		var e Embedding
		if keep {
			e.ICC = color.embed
		}
		var metaNote string
		if o.Metadata == MetadataCopyright {
			e.Rights, metaNote = c.Rights, c.MetadataIgnored
		}
		data, err := embed(o.Format, buf.Bytes(), e)
		if err != nil {
			return err
		}
		b := thumb.Bounds()
		if err := emit(Rendered{Index: i, Width: b.Dx(), Height: b.Dy(), Data: data, ColorNote: color.note, MetadataNote: metaNote}); err != nil {
			return err
		}
	}
	return nil
}

// decodeBox returns the box an image stored with the given EXIF
// orientation is decoded for, to make every one of outs: the largest width
// and the largest height of their boxes, in the stored orientation.
func decodeBox(outs []Output, orientation int) (w, h int) {
	for _, o := range outs {
		ow, oh := storedBox(o, orientation)
		w, h = max(w, ow), max(h, oh)
	}
	return w, h
}

// decodeOptions returns what the decoder of the image with header c is
// told to make every one of outs: the box it must cover (decodeBox) and
// the least size that makes each thumbnail at full quality (NeededSize).
func decodeOptions(c Config, outs []Output) DecodeOptions {
	var opts DecodeOptions
	opts.Width, opts.Height = decodeBox(outs, c.Orientation)
	opts.MinWidth, opts.MinHeight = NeededSize(c, outs)
	return opts
}

// NeededSize returns the least size, in the image's stored orientation,
// the image with header c must be decoded at for [Render] to make every
// one of outs at full quality: the largest width and height of the
// thumbnails (a Fit output's image fitted into its box, never enlarged; a
// Fill output's box). JPEGs are decoded at the smallest of 1, 1/2, 1/4
// and 1/8 of their size that still has it: a 65535×399 image fitted into
// 200×200 is 200×1, so it is decoded at 1/8.
func NeededSize(c Config, outs []Output) (w, h int) {
	for _, o := range outs {
		ow, oh := fittedSize(c, o)
		w, h = max(w, ow), max(h, oh)
	}
	return w, h
}

// fittedSize returns the size, in the stored orientation, the image with
// header c is resized to before o's thumbnail is cut from it: for Fit,
// the thumbnail itself (the image fitted into the box, never enlarged,
// rounded as the resampler rounds); for Fill, the box, which the image
// scaled to cover it covers. A 65535×399 image fitted into 200×200 is
// 200×1, so a decoder may reduce it eightfold.
func fittedSize(c Config, o Output) (w, h int) {
	bw, bh := storedBox(o, c.Orientation)
	sw, sh := int64(c.Width), int64(c.Height)
	if o.Mode == Fill || sw <= 0 || sh <= 0 || bw <= 0 || bh <= 0 {
		return bw, bh
	}
	if sw <= int64(bw) && sh <= int64(bh) {
		return c.Width, c.Height
	}
	if sw*int64(bh) > sh*int64(bw) {
		// Wider than the box: the width is the box's.
		return bw, int(max(1, (sh*int64(bw)+sw/2)/sw))
	}
	return int(max(1, (sw*int64(bh)+sh/2)/sh)), bh
}

// thumbnail resizes img, stored with the given EXIF orientation, into o's
// box and turns it upright. It resizes first: there is less to turn.
func thumbnail(img image.Image, o Output, orientation int) image.Image {
	w, h := storedBox(o, orientation)
	return Orient(Resize(img, w, h, o.Mode), orientation)
}

// storedBox returns o's box as it lies in an image stored with the given
// EXIF orientation: width and height swap for the quarter turns.
func storedBox(o Output, orientation int) (w, h int) {
	if Swaps(orientation) {
		return o.Height, o.Width
	}
	return o.Width, o.Height
}
