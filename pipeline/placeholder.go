package pipeline

import (
	"fmt"
	"image"
	"image/draw"
	"math"

	"github.com/buckket/go-blurhash"
)

// placeholderBox is the longer side, in pixels, of the image the BlurHash
// and the dominant colour are computed from: a BlurHash keeps at most 4×4
// cosine components, which 32 pixels sample well, and its cost follows the
// pixel count.
const placeholderBox = 32

// blurHashComponents is the components along an image's longer side; the
// shorter side gets them in proportion (at least 1), so a square image has
// 4×4 and a 3:2 photo 4×3.
const blurHashComponents = 4

// Placeholder returns the BlurHash (https://blurha.sh) and the dominant
// colour ("#rrggbb") of an encoded image, a thumbnail: it is decoded at
// 32 pixels on its longer side first, so both cost well under a millisecond.
func Placeholder(encoded []byte) (hash, color string, err error) {
	img, err := decodeSmall(encoded, placeholderBox)
	if err != nil {
		return "", "", err
	}
	rgba := toNRGBA(img)
	x, y := BlurHashComponents(rgba.Rect.Dx(), rgba.Rect.Dy())
	hash, err = blurhash.Encode(x, y, rgba)
	if err != nil {
		return "", "", fmt.Errorf("blurhash: %w", err)
	}
	return hash, dominantColor(rgba), nil
}

// BlurHashComponents returns the BlurHash components for an image of w×h
// pixels: 4 along the longer side and, along the shorter, 4 times the
// aspect ratio, rounded, at least 1.
func BlurHashComponents(w, h int) (x, y int) {
	if w <= 0 || h <= 0 {
		return blurHashComponents, blurHashComponents
	}
	short := func(a, b int) int { // a ≤ b
		return max(1, int(math.Round(float64(blurHashComponents)*float64(a)/float64(b))))
	}
	if w >= h {
		return blurHashComponents, short(h, w)
	}
	return short(w, h), blurHashComponents
}

// toNRGBA copies img to an NRGBA image whose bounds start at (0, 0), as
// the BlurHash encoder expects.
func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Rect, img, b.Min, draw.Src)
	return dst
}

// dominantColor returns the colour most pixels of img are close to: the
// mean of the most populated cell of an 8×8×8 colour grid (transparent
// pixels left out), as "#rrggbb". Cells 32 levels wide keep a smooth
// gradient in a few cells, where finer ones would scatter it and let a
// small flat patch win.
func dominantColor(img *image.NRGBA) string {
	type cell struct{ n, r, g, b int }
	var cells [8 * 8 * 8]cell
	best := -1
	for y := 0; y < img.Rect.Dy(); y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+img.Rect.Dx()*4]
		for i := 0; i < len(row); i += 4 {
			r, g, b, a := int(row[i]), int(row[i+1]), int(row[i+2]), row[i+3]
			if a < 128 {
				continue
			}
			k := r>>5<<6 | g>>5<<3 | b>>5
			c := &cells[k]
			c.n++
			c.r += r
			c.g += g
			c.b += b
			if best < 0 || c.n > cells[best].n {
				best = k
			}
		}
	}
	if best < 0 {
		return "#ffffff" // wholly transparent: the page shows through
	}
	c := cells[best]
	return fmt.Sprintf("#%02x%02x%02x", (c.r+c.n/2)/c.n, (c.g+c.n/2)/c.n, (c.b+c.n/2)/c.n)
}
