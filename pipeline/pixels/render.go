package pixels

import (
	"bytes"
	"fmt"
	"image"
	"io"
	"sort"
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
}

// Render makes every output of one image: it decodes the image r yields
// once ([DecodeFrom], with the header c from [ReadConfig]) at the smallest
// size that still covers the largest box, then, one output at a time and
// largest first, resizes, turns it upright by c's orientation and encodes
// it, handing each result to emit before the next is made. So only the
// decoded image and one thumbnail are held at a time. An error from the
// decoder, an encoder or emit stops it and is returned; an output in a
// format no codec writes is refused before anything is read.
func Render(r io.Reader, c Config, outs []Output, emit func(Rendered) error) error {
	if len(outs) == 0 {
		return nil
	}
	order := make([]int, len(outs))
	var boxW, boxH int
	for i, o := range outs {
		if !o.Format.Writable() {
			return fmt.Errorf("%w: cannot write %q", ErrUnsupported, o.Format)
		}
		order[i] = i
		w, h := storedBox(o, c.Orientation)
		boxW, boxH = max(boxW, w), max(boxH, h)
	}
	sort.SliceStable(order, func(a, b int) bool {
		return outs[order[a]].Width*outs[order[a]].Height > outs[order[b]].Width*outs[order[b]].Height
	})
	img, err := DecodeFrom(r, c, boxW, boxH)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, i := range order {
		o := outs[i]
		thumb := thumbnail(img, o, c.Orientation)
		buf.Reset()
		if err := Encode(&buf, thumb, o.Format, o.Encode.Quality); err != nil {
			return err
		}
		b := thumb.Bounds()
		if err := emit(Rendered{Index: i, Width: b.Dx(), Height: b.Dy(), Data: buf.Bytes()}); err != nil {
			return err
		}
	}
	return nil
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
