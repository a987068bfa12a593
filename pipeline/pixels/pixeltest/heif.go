package pixeltest

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
)

// EncodeHEIF encodes imgs into one HEIF file with a real encoder, each a
// top-level image in order: heif-enc (libheif, x265 for HEVC, aom for
// AV1) with args, such as "-q", "50", "-A" (AV1) or "-t", "320" (a
// thumbnail item of at most 320 pixels a side). dir is a scratch folder.
func EncodeHEIF(dir string, imgs []image.Image, args ...string) ([]byte, error) {
	return encodeWith(dir, "heif-enc", imgs, ".heic", func(in []string, out string) []string {
		return append(append(append([]string{}, args...), "-o", out), in...)
	})
}

// EncodeAVIF encodes img with avifenc (libavif, aom) with args, such as
// "-q", "60", "--grid", "4x3" or "--depth", "10".
func EncodeAVIF(dir string, img image.Image, args ...string) ([]byte, error) {
	return encodeWith(dir, "avifenc", []image.Image{img}, ".avif", func(in []string, out string) []string {
		return append(append(append([]string{"--speed", "8", "--jobs", "1"}, args...), in...), out)
	})
}

func encodeWith(dir, tool string, imgs []image.Image, ext string, argv func(in []string, out string) []string) ([]byte, error) {
	in := make([]string, len(imgs))
	for i, img := range imgs {
		in[i] = filepath.Join(dir, "in"+strconv.Itoa(i)+".png")
		var b bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
			return nil, err
		}
		if err := os.WriteFile(in[i], b.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, "out"+ext)
	cmd := exec.Command(tool, argv(in, out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v: %s", tool, err, msg)
	}
	return os.ReadFile(out)
}

// HEIFGridOptions says what [HEIFGrid] adds to the grid.
type HEIFGridOptions struct {
	// Thumbnail, when not nil, is a HEIF file whose primary image becomes
	// the grid's thumbnail item.
	Thumbnail []byte
	// Orientation (EXIF, 1 to 8) is written as the grid's irot and imir.
	Orientation int
}

// HEIFGrid composes the grid image a phone writes: the image is cut into
// tiles of tw×th pixels (the right and bottom ones padded by repeating
// the edge), the tiles are coded by encode (which returns a HEIF file
// holding them as its top-level images, in order, as [EncodeHEIF] does)
// and laid out as the derived grid item, the primary image, of a new
// file.
func HEIFGrid(img image.Image, tw, th int, encode func([]image.Image) ([]byte, error), opts HEIFGridOptions) ([]byte, error) {
	b := img.Bounds()
	cols, rows := (b.Dx()+tw-1)/tw, (b.Dy()+th-1)/th
	var tiles []image.Image
	for r := range rows {
		for c := range cols {
			t := image.NewNRGBA(image.Rect(0, 0, tw, th))
			for y := range th {
				for x := range tw {
					sx, sy := min(b.Min.X+c*tw+x, b.Max.X-1), min(b.Min.Y+r*th+y, b.Max.Y-1)
					t.Set(x, y, img.At(sx, sy))
				}
			}
			tiles = append(tiles, t)
		}
	}
	coded, err := encode(tiles)
	if err != nil {
		return nil, err
	}
	return ComposeHEIFGrid(coded, cols, rows, b.Dx(), b.Dy(), opts)
}

// ComposeHEIFGrid lays the top-level coded images of the HEIF file coded
// (every image item that is neither a thumbnail nor auxiliary, in ID
// order; cols×rows of them) out as a grid of w×h pixels, the primary item
// of a new file.
func ComposeHEIFGrid(coded []byte, cols, rows, w, h int, opts HEIFGridOptions) ([]byte, error) {
	f, err := heif.Parse(bytes.NewReader(coded))
	if err != nil {
		return nil, err
	}
	var images []heif.Image
	var tileIDs []uint32
	for _, it := range f.Items() {
		if (it.Type != heif.TypeHEVC && it.Type != heif.TypeAV1) || it.IsThumbnail() || it.IsAlpha() {
			continue
		}
		id := uint32(len(images) + 1)
		im, err := f.Image(coded, it, id, nil)
		if err != nil {
			return nil, err
		}
		im.Hidden = true
		images = append(images, im)
		tileIDs = append(tileIDs, id)
	}
	if len(tileIDs) != cols*rows {
		return nil, fmt.Errorf("%d coded images for a grid of %dx%d", len(tileIDs), cols, rows)
	}
	gridID := uint32(len(images) + 1)
	grid := heif.Image{ID: gridID, Type: heif.TypeGrid,
		Data: []byte{0, 1, byte(rows - 1), byte(cols - 1),
			byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w), byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)},
		Refs:       []heif.Ref{{Type: "dimg", To: tileIDs}},
		Properties: []heif.Property{ispe(w, h)},
	}
	for _, p := range images[0].Properties {
		if p.Type == "pixi" || p.Type == "colr" {
			grid.Properties = append(grid.Properties, p)
		}
	}
	grid.Properties = append(grid.Properties, Orientation(opts.Orientation)...)
	images = append(images, grid)
	if opts.Thumbnail != nil {
		tf, err := heif.Parse(bytes.NewReader(opts.Thumbnail))
		if err != nil {
			return nil, err
		}
		th, err := tf.Image(opts.Thumbnail, tf.Primary, gridID+1, nil)
		if err != nil {
			return nil, err
		}
		th.Refs = []heif.Ref{{Type: "thmb", To: []uint32{gridID}}}
		th.Properties = append(th.Properties, Orientation(opts.Orientation)...)
		images = append(images, th)
	}
	return heif.Build(f.Brands, gridID, images)
}

// Orientation returns the irot and imir properties that EXIF orientation
// o (1 to 8) amounts to, for [heif.Build].
func Orientation(o int) []heif.Property {
	rot, axis := heif.Transforms(o)
	var props []heif.Property
	if rot != 0 {
		props = append(props, heif.Property{Type: "irot", Body: []byte{byte(rot)}, Essential: true})
	}
	if axis >= 0 {
		props = append(props, heif.Property{Type: "imir", Body: []byte{byte(axis)}, Essential: true})
	}
	return props
}

// ReorientHEIF returns the HEIF file data with its primary image (a coded
// image, with its alpha plane) rewritten to carry EXIF orientation o as
// irot and imir properties.
func ReorientHEIF(data []byte, o int) ([]byte, error) {
	f, err := heif.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	main, err := f.Image(data, f.Primary, 1, nil)
	if err != nil {
		return nil, err
	}
	main.Properties = append(main.Properties, Orientation(o)...)
	images := []heif.Image{main}
	if a := f.Primary.Alpha; a != nil {
		im, err := f.Image(data, a, 2, nil)
		if err != nil {
			return nil, err
		}
		im.Hidden, im.Refs = true, []heif.Ref{{Type: "auxl", To: []uint32{1}}}
		images = append(images, im)
	}
	return heif.Build(f.Brands, 1, images)
}

func ispe(w, h int) heif.Property {
	return heif.Property{Type: "ispe", Body: []byte{0, 0, 0, 0,
		byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w), byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}}
}

// Flatten returns img as an NRGBA image, for comparisons.
func Flatten(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}

// HEIFBomb returns a small HEIF file whose primary image declares w×h
// pixels (its ispe) over a few bytes of coded data.
func HEIFBomb(w, h int) []byte {
	b, err := heif.Build([]string{"heic", "mif1"}, 1, []heif.Image{{
		ID: 1, Type: heif.TypeHEVC, Data: make([]byte, 64),
		Properties: []heif.Property{{Type: "hvcC", Body: make([]byte, 23), Essential: true}, ispe(w, h)},
	}})
	if err != nil {
		panic(err)
	}
	return b
}

// HEIFBadGrid returns a HEIF file whose primary image is a grid of
// cols×rows tiles (up to 256 a side) for an image of w×h pixels,
// referencing n tile items of tw×th pixels, each a few bytes: a grid
// whose tiles do not cover it, or that lays out more tiles than it has,
// or just too many tiles.
func HEIFBadGrid(cols, rows, w, h, tw, th, n int) []byte {
	var images []heif.Image
	var ids []uint32
	for i := range n {
		id := uint32(i + 1)
		images = append(images, heif.Image{ID: id, Type: heif.TypeHEVC, Hidden: true, Data: make([]byte, 8),
			Properties: []heif.Property{{Type: "hvcC", Body: make([]byte, 23), Essential: true}, ispe(tw, th)}})
		ids = append(ids, id)
	}
	gridID := uint32(n + 1)
	images = append(images, heif.Image{ID: gridID, Type: heif.TypeGrid,
		Data: []byte{0, 1, byte(rows - 1), byte(cols - 1),
			byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w), byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)},
		Refs:       []heif.Ref{{Type: "dimg", To: ids}},
		Properties: []heif.Property{ispe(w, h)},
	})
	b, err := heif.Build([]string{"heic", "mif1"}, gridID, images)
	if err != nil {
		panic(err)
	}
	return b
}
