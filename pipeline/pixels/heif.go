package pixels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"
	"unsafe"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/heic"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
)

// The HEIF formats: HEVC-coded (HEIC, what iPhones save) and AV1-coded
// (AVIF). Both are decoded by libheif/libde265 and libavif/dav1d compiled
// to WebAssembly and run by wazero, in the process, without cgo; each
// module is compiled on the first use of its format. The container is
// read by the heif package, so size, orientation (irot, imir), depth,
// alpha and colour (colr: an ICC profile, or nclx code points made into
// one) are known before any pixel is decoded.
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
// a thumbnail item, else a grid tile by tile (each reduced into the
// output as it is decoded), else the primary image. HEVC decoders see a
// minimal file of one coded image (and its alpha plane) each time; AV1
// items are decoded by dav1d and reduced as their rows are converted.
func heifDecode(r io.Reader, c Config, opts DecodeOptions) (image.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f, err := heif.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	p := f.Primary
	if opts.MaxPixels > 0 && int64(p.Width)*int64(p.Height) > opts.MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d pixels, more than the header's %d", heif.ErrCorrupt, p.Width, p.Height, opts.MaxPixels)
	}
	d := itemDecoder{ctx: opts.Context, f: f, data: data}
	if size, ok := heifThumbnail(c, opts); ok {
		for _, t := range p.Thumbnails {
			if usableThumbnail(p, t) && t.Width == size.X && t.Height == size.Y {
				return d.decode(t, t.Alpha, p, 1)
			}
		}
	}
	if p.Type == heif.TypeGrid {
		return d.grid(p, heifShrink(c, opts))
	}
	return d.decode(p, p.Alpha, nil, heifShrink(c, opts))
}

// itemDecoder decodes the items of one file.
type itemDecoder struct {
	ctx  context.Context
	f    *heif.File
	data []byte
}

// decode decodes one coded image item (with its alpha plane, which may
// be nil), cropped to its ispe; an AV1 item comes reduced by shrink.
func (d itemDecoder) decode(it, alpha, from *heif.Item, shrink int) (image.Image, error) {
	if it.Type == heif.TypeAV1 {
		k := newShrinker(it.Width, it.Height, shrink)
		if err := decodeAV1Into(d.ctx, k, 0, 0, d.f, d.data, it, alpha, from); err != nil {
			return nil, err
		}
		return k.image(), nil
	}
	return decodeHEVC(d.f, d.data, it, alpha, from)
}

// decodeHEVC decodes one HEVC item (with its alpha plane, which may be
// nil) from a minimal file of its own, and crops it to its ispe.
func decodeHEVC(f *heif.File, data []byte, it, alpha, from *heif.Item) (image.Image, error) {
	if alpha != nil && heic.Dynamic() != nil {
		// The HEIC decoder drops alpha planes: the plane, a monochrome
		// image of its own, is decoded alone and joined to the colours.
		img, err := decodeHEVC(f, data, it, nil, from)
		if err != nil {
			return nil, err
		}
		a, err := decodeHEVC(f, data, alpha, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("alpha plane: %w", err)
		}
		return withAlpha(img, a), nil
	}
	one, err := f.Extract(data, it, alpha, from)
	if err != nil {
		return nil, err
	}
	img, err := heic.Decode(bytes.NewReader(one))
	if y, ok := img.(*image.YCbCr); ok && err == nil && heic.Dynamic() != nil {
		// The WebAssembly build's output; a host libheif's (a build
		// without the nodynamic tag) is right as it is.
		img = heicPlanes(y)
	}
	if err != nil {
		return nil, fmt.Errorf("item %d (%s): %w", it.ID, it.Type, err)
	}
	return cropTo(img, it)
}

// cropTo checks a decoded item against its ispe and crops the coded
// image's padding, if any.
func cropTo(img image.Image, it *heif.Item) (image.Image, error) {
	b := img.Bounds()
	if b.Dx() < it.Width || b.Dy() < it.Height {
		return nil, fmt.Errorf("item %d decodes to %dx%d pixels, not its declared %dx%d", it.ID, b.Dx(), b.Dy(), it.Width, it.Height)
	}
	if b.Dx() > it.Width || b.Dy() > it.Height {
		if s, ok := img.(interface {
			SubImage(image.Rectangle) image.Image
		}); ok {
			img = s.SubImage(image.Rect(b.Min.X, b.Min.Y, b.Min.X+it.Width, b.Min.Y+it.Height))
		}
	}
	return img, nil
}

// withAlpha returns img with the alpha plane a (its luma or gray
// values) as an NRGBA image; an a of another size is a corrupt file.
func withAlpha(img, a image.Image) image.Image {
	b, ab := img.Bounds(), a.Bounds()
	if b.Size() != ab.Size() {
		return img
	}
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	var plane []uint8
	var stride int
	switch a := a.(type) {
	case *image.Gray:
		plane, stride = a.Pix, a.Stride
	case *image.YCbCr:
		plane, stride = a.Y, a.YStride
	}
	for y := range b.Dy() {
		row := out.Pix[y*out.Stride:]
		for x := range b.Dx() {
			var v uint8
			if plane != nil {
				v = plane[y*stride+x]
			} else {
				_, _, _, a16 := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
				v = uint8(a16 >> 8)
			}
			row[4*x+3] = v
		}
	}
	return out
}

// heicMinStride is the narrowest row the HEIC decoder's WebAssembly side
// writes a plane with, in bytes.
const heicMinStride = 64

// heicPlanes returns the image the HEIC decoder meant: its WebAssembly
// side writes each plane with rows of at least heicMinStride bytes, while
// its Go side slices them as if rows were the plane's width rounded up to
// 16, so an image narrower than 128 pixels (64 for 4:4:4) comes out with
// its colour planes misread. The planes lie one after the other in the
// decoder's memory, which the image's slices point into; they are read
// again at the offsets and strides they were written with.
func heicPlanes(y *image.YCbCr) image.Image {
	h, ch := y.Rect.Dy(), len(y.Cb)/max(1, y.CStride)
	sy, sc := max(y.YStride, heicMinStride), max(y.CStride, heicMinStride)
	if sy == y.YStride && sc == y.CStride {
		heicRepair(y)
		return y
	}
	// The decoder's Go side read len(Y)+len(Cb)+len(Cr) bytes from one
	// contiguous buffer of its instance's memory, and its C side wrote
	// sy*h + 2*sc*ch bytes from the same start: both lie in the memory.
	all := unsafe.Slice(&y.Y[0], sy*h+2*sc*ch)
	out := image.NewYCbCr(y.Rect, y.SubsampleRatio)
	for r := range h {
		copy(out.Y[r*out.YStride:], all[r*sy:r*sy+y.Rect.Dx()])
	}
	cw := out.CStride
	for r := range ch {
		copy(out.Cb[r*out.CStride:], all[sy*h+r*sc:sy*h+r*sc+cw])
		copy(out.Cr[r*out.CStride:], all[sy*h+sc*ch+r*sc:sy*h+sc*ch+r*sc+cw])
	}
	heicRepair(out)
	return out
}

// heicRepairY is how many leading luma samples of an image the HEIC
// decoder's Go side can find overwritten: it reads the planes from its
// instance's memory after handing their buffer back to the allocator,
// whose bookkeeping then lies over them.
const heicRepairY = 32

// heicRepair mends what the HEIC decoder (gen2brain/heic v0.4.5) gets
// wrong in every image: the first row of both chroma planes and the first
// heicRepairY luma samples come out as other data (measured against
// libheif's own decode: everything else agrees to rounding). They are
// replaced by the next row's, which costs at most the detail of one
// chroma row at the top edge of each decoded image or tile.
func heicRepair(y *image.YCbCr) {
	h, ch := y.Rect.Dy(), len(y.Cb)/max(1, y.CStride)
	if h >= 2 {
		n := min(heicRepairY, y.Rect.Dx())
		copy(y.Y[:n], y.Y[y.YStride:y.YStride+n])
	}
	if ch >= 2 {
		copy(y.Cb[:y.CStride], y.Cb[y.CStride:2*y.CStride])
		copy(y.Cr[:y.CStride], y.Cr[y.CStride:2*y.CStride])
	}
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
	for i, t := range p.Tiles {
		var a *heif.Item
		if alpha != nil {
			a = alpha[i]
		}
		x, y := (i%g.Columns)*tw, (i/g.Columns)*th
		if t.Type == heif.TypeAV1 {
			err = decodeAV1Into(d.ctx, acc, x, y, d.f, d.data, t, a, p)
		} else {
			var img image.Image
			if img, err = decodeHEVC(d.f, d.data, t, a, p); err == nil {
				acc.add(img, x, y)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("tile %d of %d: %w", i+1, len(p.Tiles), err)
		}
	}
	return acc.image(), nil
}

// shrinker reduces an image of w×h pixels by a whole factor as its tiles
// arrive: each output pixel is the mean of the s×s pixels (fewer at the
// right and bottom edges) it covers.
type shrinker struct {
	w, h, s int
	out     *image.RGBA
	sums    []uint32 // four a pixel, for s > 1
	tile    *image.RGBA
}

func newShrinker(w, h, s int) *shrinker {
	ow, oh := (w+s-1)/s, (h+s-1)/s
	k := &shrinker{w: w, h: h, s: s, out: image.NewRGBA(image.Rect(0, 0, ow, oh))}
	if s > 1 {
		k.sums = make([]uint32, 4*ow*oh)
	}
	return k
}

// add adds a decoded tile whose top-left pixel lies at x0, y0; what lies
// outside the image is cut off.
func (k *shrinker) add(img image.Image, x0, y0 int) {
	b := img.Bounds()
	r := image.Rect(x0, y0, x0+b.Dx(), y0+b.Dy()).Intersect(image.Rect(0, 0, k.w, k.h))
	if r.Empty() {
		return
	}
	if k.s == 1 {
		draw.Draw(k.out, r, img, b.Min, draw.Src)
		return
	}
	// Convert the tile to premultiplied RGBA once (draw has fast paths
	// for the decoders' YCbCr and NRGBA), then sum its pixels.
	if k.tile == nil || k.tile.Rect.Dx() < r.Dx() || k.tile.Rect.Dy() < r.Dy() {
		k.tile = image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	}
	tile := k.tile
	draw.Draw(tile, image.Rect(0, 0, r.Dx(), r.Dy()), img, b.Min, draw.Src)
	ow := k.out.Rect.Dx()
	for y := 0; y < r.Dy(); y++ {
		row := tile.Pix[y*tile.Stride : y*tile.Stride+4*r.Dx()]
		sums := k.sums[4*ow*((r.Min.Y+y)/k.s):]
		for x := 0; x < r.Dx(); x++ {
			o := 4 * ((r.Min.X + x) / k.s)
			px := row[4*x : 4*x+4 : 4*x+4]
			sums[o] += uint32(px[0])
			sums[o+1] += uint32(px[1])
			sums[o+2] += uint32(px[2])
			sums[o+3] += uint32(px[3])
		}
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

// heifMemory estimates what decoding allocates. Each decode of a coded
// image runs in a WebAssembly instance whose memory holds the input, the
// decoder's frames and its output: heifWasmBase (av1WasmBase) plus a
// number of bytes a pixel that depends on the decoder (measured by
// TestHEIFMemoryEstimate). A thumbnail item that covers the box costs its
// own pixels; a grid, one tile at a time plus the reduced image and its
// sums; anything else the whole image.
func heifMemory(c Config, opts DecodeOptions) int64 {
	if c.Format == AVIF {
		return avifMemory(c, opts)
	}
	if t, ok := heifThumbnail(c, opts); ok {
		return heifWasmBase + heicWasmPerPixel*int64(t.X)*int64(t.Y)
	}
	if c.TileWidth > 0 && c.TileHeight > 0 {
		ow, oh, sums := reducedSize(c, opts)
		// Two tiles' decodes (each tile's instance is garbage once the
		// tile is reduced, and the collector lets some pile up), the
		// tile converted to RGBA, and the output.
		tile := int64(c.TileWidth) * int64(c.TileHeight)
		return 2*(heifWasmBase+heicWasmPerPixel*tile) + 4*tile + (4+sums)*ow*oh
	}
	return heifWasmBase + heicWasmPerPixel*c.Pixels()
}

// avifMemory estimates an AVIF's decode: dav1d's instance for the
// picture decoded (and one for its alpha plane), which is unmapped as
// soon as its rows are converted, and the reduced output with its sums.
func avifMemory(c Config, opts DecodeOptions) int64 {
	per := av1PerPixel(c.BitDepth)
	if c.Channels == 2 || c.Channels == 4 {
		per *= 2 // the alpha plane's instance, counted as a colour one
	}
	if t, ok := heifThumbnail(c, opts); ok {
		px := int64(t.X) * int64(t.Y)
		return av1WasmBase + (per+4)*px
	}
	ow, oh, sums := reducedSize(c, opts)
	px := c.Pixels()
	if c.TileWidth > 0 && c.TileHeight > 0 {
		px = int64(c.TileWidth) * int64(c.TileHeight)
	}
	return av1WasmBase + per*px + (4+sums)*ow*oh
}

// reducedSize is the size a tiled or AV1 image is reduced to as it is
// decoded, and the bytes a pixel of it its sums take (0 at full size).
func reducedSize(c Config, opts DecodeOptions) (w, h, sums int64) {
	s := int64(heifShrink(c, opts))
	w, h = (int64(c.Width)+s-1)/s, (int64(c.Height)+s-1)/s
	if s > 1 {
		sums = 16
	}
	return w, h, sums
}

// The HEVC WebAssembly decoder's memory, measured on the Go heap at its
// peak: a fixed part (the instance, its stack and heap, the decoder's
// state) and some 16 bytes a pixel (the coded frame, its planes, the
// output copied out).
const (
	heifWasmBase     = 8 << 20
	heicWasmPerPixel = 20
)

// avifEncode writes img as AVIF at opts.Quality, keeping its alpha.
func avifEncode(w io.Writer, img image.Image, opts EncodeOptions) error {
	return avif.Encode(w, img, avif.Options{Quality: opts.Quality, QualityAlpha: opts.Quality,
		Speed: avifSpeed, ChromaSubsampling: image.YCbCrSubsampleRatio420})
}

// avifSpeed is libaom's speed for thumbnails: 10, the fastest, which a
// 200×200 thumbnail needs to encode in a few milliseconds.
const avifSpeed = 10
