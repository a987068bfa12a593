package pixels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"runtime"
	"sync"

	"github.com/gen2brain/avif"
	"golang.org/x/sync/errgroup"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
)

// The HEIF formats: HEVC-coded (HEIC, what iPhones save) and AV1-coded
// (AVIF). Both are decoded by libde265 and dav1d compiled to WebAssembly
// (packages hevc and av1), in the process, without cgo; each module is
// compiled on the first use of its format. The container is read by the
// heif package, so size, orientation (irot, imir), depth, alpha and colour
// (colr: an ICC profile, or nclx code points made into one) are known
// before any pixel is decoded, and the decoders see one coded image at a
// time.
const (
	HEIC Format = "heic"
	AVIF Format = "avif"
)

func init() {
	Register(Codec{
		Format: HEIC, Name: "HEIC", Ext: ".heic", ContentType: "image/heic",
		// The ftyp box's major brand. A file whose major brand is the
		// generic mif1 may hold AV1 too: both formats decode either.
		Magic: []string{"????ftypheic", "????ftypheix", "????ftypheim", "????ftypheis",
			"????ftyphevc", "????ftyphevx", "????ftypmif1", "????ftypmsf1"},
		Header:       heifHeader,
		Decode:       heifDecode,
		Memory:       heifMemory,
		Unsupported:  heifUnsupported,
		TooExpensive: heifTooExpensive,
	})
	Register(Codec{
		Format: AVIF, Name: "AVIF", Ext: ".avif", ContentType: "image/avif",
		Magic:        []string{"????ftypavif", "????ftypavis"},
		Header:       heifHeader,
		Decode:       heifDecode,
		Memory:       heifMemory,
		Encode:       avifEncode,
		Embed:        embedAVIF,
		Unsupported:  heifUnsupported,
		TooExpensive: heifTooExpensive,
	})
}

// heifUnsupported reports the container's unsupported features.
func heifUnsupported(err error) bool { return errors.Is(err, heif.ErrUnsupported) }

// heifHeader reads the container up to its meta box.
func heifHeader(r io.Reader) (Config, error) {
	f, err := heif.Parse(r)
	if err != nil {
		return Config{}, err
	}
	p := f.Primary
	c := Config{Width: p.Width, Height: p.Height, Orientation: p.Orientation, BitDepth: 8, Channels: 3, Frames: 1}
	// A grid's tiles may carry the colour and depth properties the grid
	// item leaves out.
	desc := p
	if p.Type == heif.TypeGrid {
		c.TileWidth, c.TileHeight = p.Tiles[0].Width, p.Tiles[0].Height
		if p.BitDepth == 0 && p.ICC == nil && p.NCLX == nil {
			desc = p.Tiles[0]
		}
	}
	if desc.BitDepth > 0 {
		c.BitDepth = desc.BitDepth
	}
	if desc.Channels == 1 {
		c.Channels = 1
	}
	if p.Alpha != nil {
		c.Channels++
	}
	switch {
	case len(desc.ICC) > 0:
		c.ICC = desc.ICC
	case desc.NCLX != nil:
		c.ICC, c.ICCIgnored = nclxProfile(desc.NCLX)
	}
	for _, t := range p.Thumbnails {
		if usableThumbnail(p, t) {
			c.Thumbnails = append(c.Thumbnails, image.Pt(t.Width, t.Height))
		}
	}
	return c, nil
}

// usableThumbnail reports whether t can stand in for the primary image p:
// a coded image of p's shape (within a pixel of t), lying as p does, with
// alpha if p has it.
func usableThumbnail(p, t *heif.Item) bool {
	if t.Type != heif.TypeHEVC && t.Type != heif.TypeAV1 || t.Width == 0 || t.Unsupported != "" {
		return false
	}
	if t.Orientation != p.Orientation || (p.Alpha != nil && t.Alpha == nil) {
		return false
	}
	d := int64(t.Width)*int64(p.Height) - int64(t.Height)*int64(p.Width)
	return max(d, -d) <= int64(max(p.Width, p.Height))
}

// heifThumbnail returns the smallest of c's thumbnails that covers the
// box of opts, or false.
func heifThumbnail(c Config, opts DecodeOptions) (image.Point, bool) {
	var best image.Point
	if opts.Width <= 0 || opts.Height <= 0 {
		return best, false
	}
	for _, t := range c.Thumbnails {
		if t.X >= opts.Width && t.Y >= opts.Height && (best.X == 0 || t.X*t.Y < best.X*best.Y) {
			best = t
		}
	}
	return best, best.X > 0
}

// heifShrink is the whole factor a tiled image is reduced by as its tiles
// are decoded: the largest that still covers the box (1 for none).
func heifShrink(c Config, opts DecodeOptions) int {
	if opts.Width <= 0 || opts.Height <= 0 {
		return 1
	}
	return max(1, min(c.Width/opts.Width, c.Height/opts.Height))
}

// heifDecode decodes the smallest thing in the file that covers the box:
// a thumbnail item, else a grid tile by tile, else the primary image;
// each picture is reduced into the output as its rows are converted, so
// memory follows the decoder's picture and the output, not the image.
func heifDecode(r io.Reader, c Config, opts DecodeOptions) (image.Image, error) {
	var head bytes.Buffer
	f, err := heif.Parse(io.TeeReader(r, &head))
	if err != nil {
		return nil, err
	}
	p := f.Primary
	if opts.MaxPixels > 0 && int64(p.Width)*int64(p.Height) > opts.MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d pixels, more than the header's %d", heif.ErrCorrupt, p.Width, p.Height, opts.MaxPixels)
	}
	item, shrink := p, heifShrink(c, opts)
	if size, ok := heifThumbnail(c, opts); ok {
		for _, t := range p.Thumbnails {
			if usableThumbnail(p, t) && t.Width == size.X && t.Height == size.Y {
				item, shrink = t, 1
				break
			}
		}
	}
	data, err := readItems(r, head.Bytes(), f, item)
	if err != nil {
		return nil, err
	}
	d := itemDecoder{ctx: opts.Context, f: f, data: data}
	if item.Type == heif.TypeGrid {
		return d.grid(item, shrink)
	}
	return d.decode(item, item.Alpha, p, shrink)
}

// readItems reads the rest of the file r, whose start up to the meta box
// is head, keeping only the data of item (its alpha plane, tiles and
// theirs): the thumbnail item of a phone's photo is a few kilobytes of
// megabytes, and what is not kept costs neither memory nor the fresh
// pages a buffer of the whole file takes, which cost a small thumbnail
// more than its decode.
func readItems(r io.Reader, head []byte, f *heif.File, item *heif.Item) ([]byte, error) {
	items := []*heif.Item{item, item.Alpha}
	items = append(items, item.Tiles...)
	if item.Alpha != nil {
		items = append(items, item.Alpha.Tiles...)
	}
	return f.Compact(r, head, items...)
}

// itemDecoder decodes the items of one file.
type itemDecoder struct {
	ctx  context.Context
	f    *heif.File
	data []byte
}

// decode decodes one coded image item (with its alpha plane, which may
// be nil), cropped to its ispe and reduced by shrink.
func (d itemDecoder) decode(it, alpha, from *heif.Item, shrink int) (image.Image, error) {
	k := newShrinker(it.Width, it.Height, shrink)
	if err := decodeInto(d.ctx, k, 0, 0, d.f, d.data, it, alpha, from); err != nil {
		return nil, err
	}
	return k.image(), nil
}

// grid decodes a grid one tile at a time, reducing each by shrink
// (box-averaged, in premultiplied RGBA) into an image of the grid's size
// divided by shrink, rounded up: memory follows the output, not the grid.
func (d itemDecoder) grid(p *heif.Item, shrink int) (image.Image, error) {
	g, err := d.f.ReadGrid(d.data, p)
	if err != nil {
		return nil, err
	}
	var alpha []*heif.Item
	if p.Alpha != nil && p.Alpha.Type == heif.TypeGrid {
		alpha = p.Alpha.Tiles
	}
	acc := newShrinker(g.Width, g.Height, shrink)
	tw, th := p.Tiles[0].Width, p.Tiles[0].Height
	// Tiles are decoded side by side, each in its own instance, and
	// added to the output one at a time; the first that fails stops the
	// rest from starting.
	ctx := d.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	group, ctx := errgroup.WithContext(ctx)
	group.SetLimit(gridWorkers())
	for i, t := range p.Tiles {
		var a *heif.Item
		if alpha != nil {
			a = alpha[i]
		}
		group.Go(func() error {
			if err := decodeInto(ctx, acc, (i%g.Columns)*tw, (i/g.Columns)*th, d.f, d.data, t, a, p); err != nil {
				return fmt.Errorf("tile %d of %d: %w", i+1, len(p.Tiles), err)
			}
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		return nil, err
	}
	return acc.image(), nil
}

// gridWorkers is how many of a grid's tiles are decoded at once: one a
// processor the process may use, up to four (an iPhone photo's 48 tiles
// take 3 s on one core of a small machine).
func gridWorkers() int { return min(runtime.GOMAXPROCS(0), 4) }

// shrinker reduces an image of w×h pixels by a whole factor as its rows
// arrive, in any order: each output pixel is the mean of the s×s pixels
// (fewer at the right and bottom edges) it covers.
type shrinker struct {
	mu      sync.Mutex // held by a picture's rows being added
	w, h, s int
	out     *image.RGBA
	sums    []uint32 // four a pixel, for s > 1
}

func newShrinker(w, h, s int) *shrinker {
	ow, oh := (w+s-1)/s, (h+s-1)/s
	k := &shrinker{w: w, h: h, s: s, out: image.NewRGBA(image.Rect(0, 0, ow, oh))}
	if s > 1 {
		k.sums = make([]uint32, 4*ow*oh)
	}
	return k
}

// addRow adds a row of premultiplied RGBA pixels, the first of which
// lies at x0, y; what lies outside the image is cut off.
func (k *shrinker) addRow(px []byte, x0, y int) {
	n := min(len(px)/4, k.w-x0)
	if y < 0 || y >= k.h || x0 < 0 || n <= 0 {
		return
	}
	px = px[:4*n]
	if k.s == 1 {
		copy(k.out.Pix[y*k.out.Stride+4*x0:], px)
		return
	}
	sums := k.sums[4*k.out.Rect.Dx()*(y/k.s):]
	for x := range n {
		o := 4 * ((x0 + x) / k.s)
		p := px[4*x : 4*x+4 : 4*x+4]
		sums[o] += uint32(p[0])
		sums[o+1] += uint32(p[1])
		sums[o+2] += uint32(p[2])
		sums[o+3] += uint32(p[3])
	}
}

// image returns the reduced image.
func (k *shrinker) image() *image.RGBA {
	if k.s == 1 {
		return k.out
	}
	ow, oh := k.out.Rect.Dx(), k.out.Rect.Dy()
	for oy := range oh {
		ny := min(k.h, (oy+1)*k.s) - oy*k.s
		for ox := range ow {
			n := uint32(ny * (min(k.w, (ox+1)*k.s) - ox*k.s))
			i := 4 * (oy*ow + ox)
			for c := range 4 {
				k.out.Pix[oy*k.out.Stride+4*ox+c] = uint8((k.sums[i+c] + n/2) / n)
			}
		}
	}
	k.sums = nil
	return k.out
}

// heifMemory estimates what decoding allocates: the decoder's instance
// for one picture (a thumbnail item, a grid's tile for each of
// gridWorkers, or the whole image),
// and one for its alpha plane, each unmapped as soon as its rows are
// converted; the reduced output and its sums; and, at full size, the
// output alone. Measured by TestHEIFMemoryEstimate.
func heifMemory(c Config, opts DecodeOptions) int64 {
	per := codedPerPixel(c.BitDepth)
	if c.Channels == 2 || c.Channels == 4 {
		per *= 2 // the alpha plane's instance, counted as a colour one
	}
	if t, ok := heifThumbnail(c, opts); ok {
		px := int64(t.X) * int64(t.Y)
		return codedWasmBase(c.Format) + (per+4)*px
	}
	s := int64(heifShrink(c, opts))
	ow, oh := (int64(c.Width)+s-1)/s, (int64(c.Height)+s-1)/s
	out := 4 * ow * oh
	if s > 1 {
		out += 16 * ow * oh // the sums
	}
	if c.TileWidth > 0 && c.TileHeight > 0 {
		tile := codedWasmBase(c.Format) + per*int64(c.TileWidth)*int64(c.TileHeight)
		return int64(gridWorkers())*tile + out
	}
	return codedWasmBase(c.Format) + per*c.Pixels() + out
}

// avifEncode writes img as AVIF at opts.Quality, keeping its alpha.
func avifEncode(w io.Writer, img image.Image, opts EncodeOptions) error {
	return avif.Encode(w, img, avif.Options{Quality: opts.Quality, QualityAlpha: opts.Quality,
		Speed: avifSpeed, ChromaSubsampling: image.YCbCrSubsampleRatio420})
}

// embedAVIF adds a colour profile (a colr box of type prof, beside the
// encoder's nclx one) and the creator and rights fields (an Exif item and
// an XMP item, each describing the image: cdsc) to an AVIF the encoder
// wrote, by writing the file again from its items.
func embedAVIF(data []byte, e Embedding) ([]byte, error) {
	f, err := heif.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	images, err := f.Images(data, f.Primary, f.Primary.Alpha, nil)
	if err != nil {
		return nil, err
	}
	if len(e.ICC) > 0 {
		images[0].Properties = append(images[0].Properties, heif.Property{Type: "colr", Body: append([]byte("prof"), e.ICC...)})
	}
	describes := []heif.Ref{{Type: "cdsc", To: []uint32{1}}}
	if exif := metadata.EXIF(e.Rights); exif != nil {
		// The Exif item starts with the offset of the TIFF header in
		// what follows: 0.
		images = append(images, heif.Image{ID: 3, Type: "Exif", Hidden: true, Refs: describes,
			Data: append([]byte{0, 0, 0, 0}, exif...)})
	}
	if xmp := metadata.XMP(e.Rights); xmp != nil {
		images = append(images, heif.Image{ID: 4, Type: "mime", Hidden: true, Refs: describes,
			ContentType: "application/rdf+xml", Data: xmp})
	}
	return heif.Build(f.Brands, 1, images)
}

// avifSpeed is libaom's speed for thumbnails: 10, the fastest, which a
// 200×200 thumbnail needs to encode in a few milliseconds.
const avifSpeed = 10
