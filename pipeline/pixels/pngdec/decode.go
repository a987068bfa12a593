package pngdec

import (
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/reduce"
	"image"
	"io"
)

// newOutput allocates the w x h output image and returns it with its
// pixel slice and stride.
func (d *decoder) newOutput(w, h int) (image.Image, []byte, int) {
	r := image.Rect(0, 0, w, h)
	if d.outChannels() == 1 {
		g := image.NewGray(r)
		return g, g.Pix, g.Stride
	}
	n := image.NewNRGBA(r)
	return n, n.Pix, n.Stride
}

// decodeSequential decodes a non-interlaced image row by row. At scale 1
// each row is converted straight into the output; otherwise rows are
// summed into a one-row accumulator of the output's width, which is
// emitted every scale rows.
func (d *decoder) decodeSequential(zr io.Reader, s int) (image.Image, error) {
	w, h := d.width, d.height
	ow, oh := ceilDiv(w, s), ceilDiv(h, s)
	c := d.outChannels()
	rb := d.rowBytes(w)
	cur, prev := make([]byte, rb+1), make([]byte, rb+1)
	img, pix, stride := d.newOutput(ow, oh)
	var px []byte
	var acc *reduce.Accumulator
	if s > 1 {
		px = make([]byte, c*w)
		acc = reduce.New(ow, 1, c, d.hasAlpha(), false)
	}
	for y := 0; y < h; y++ {
		row, err := d.readRow(zr, cur, prev, rb)
		if err != nil {
			return nil, err
		}
		if s == 1 {
			if err := d.convert(pix[y*stride:], row, w); err != nil {
				return nil, err
			}
		} else {
			if err := d.convert(px, row, w); err != nil {
				return nil, err
			}
			acc.Add8(0, px, 0, w, s)
			if y%s == s-1 || y == h-1 {
				oy := y / s
				acc.EmitRow(pix[oy*stride:], 0, w, s, y-oy*s+1)
			}
		}
		cur, prev = prev, cur
	}
	if err := d.finish(zr); err != nil {
		return nil, err
	}
	return img, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// adam7 lists the interlace passes: offsets and steps in x and y.
var adam7 = [7]struct{ x0, y0, dx, dy int }{
	{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2},
}

// gridFor returns the coarsest Adam7 grid g (8, 4, 2 or 1) that divides
// the scale s, and how many passes deliver every pixel on it.
func gridFor(s int) (g, passes int) {
	switch {
	case s%8 == 0:
		return 8, 1
	case s%4 == 0:
		return 4, 3
	case s%2 == 0:
		return 2, 5
	}
	return 1, 7
}

// decodeAdam7 decodes an interlaced image. The passes that deliver every
// pixel whose coordinates are multiples of g are read (all seven when g is
// 1, or with allPasses); the rest of the input is then neither read nor
// checked. Each output
// pixel is the average of the grid pixels in its s x s box. When g is s
// the grid pixels are the output pixels; otherwise they are summed into an
// accumulator as large as the output.
func (d *decoder) decodeAdam7(zr io.Reader, s int, allPasses bool) (image.Image, error) {
	w, h := d.width, d.height
	ow, oh := ceilDiv(w, s), ceilDiv(h, s)
	c := d.outChannels()
	g, passes := gridFor(s)
	if allPasses {
		g, passes = 1, 7
	}
	rb := d.rowBytes(w)
	cur, prev := make([]byte, rb+1), make([]byte, rb+1)
	px := make([]byte, c*w)
	img, pix, stride := d.newOutput(ow, oh)
	var acc *reduce.Accumulator
	if g != s {
		acc = reduce.New(ow, oh, c, d.hasAlpha(), false)
	}
	for p := 0; p < passes; p++ {
		a := adam7[p]
		pw, ph := ceilDiv(w-a.x0, a.dx), ceilDiv(h-a.y0, a.dy)
		if w <= a.x0 || h <= a.y0 {
			continue // an empty pass has no rows, not even filter bytes
		}
		prb := d.rowBytes(pw)
		clear(prev[:prb+1])
		for py := 0; py < ph; py++ {
			row, err := d.readRow(zr, cur, prev, prb)
			if err != nil {
				return nil, err
			}
			if err := d.convert(px, row, pw); err != nil {
				return nil, err
			}
			y := a.y0 + py*a.dy
			switch {
			case acc != nil:
				acc.AddSparse(y/s, px, pw, a.x0, a.dx, s)
			case s == 1:
				line := pix[y*stride:]
				for i := 0; i < pw; i++ {
					x := a.x0 + i*a.dx
					copy(line[c*x:c*x+c], px[c*i:c*i+c])
				}
			default: // s == g: every grid pixel is an output pixel
				line := pix[(y/s)*stride:]
				for i := 0; i < pw; i++ {
					x := (a.x0 + i*a.dx) / s
					copy(line[c*x:c*x+c], px[c*i:c*i+c])
				}
			}
			cur, prev = prev, cur
		}
	}
	if passes == 7 {
		if err := d.finish(zr); err != nil {
			return nil, err
		}
	}
	if acc == nil && s > 1 {
		centre(pix, stride, ow, oh, c, s, d.hasAlpha())
	}
	if acc != nil {
		for oy := 0; oy < oh; oy++ {
			ny := ceilDiv(min(oy*s+s, h)-oy*s, g)
			acc.EmitGrid(pix[oy*stride:], oy, w, s, g, ny)
		}
	}
	return img, nil
}

// centre moves an image of grid pixels, each the top-left pixel of its
// g x g box, to the boxes' centres: each pixel becomes the bilinear
// interpolation of its grid pixel and those to its right and below, at
// (g-1)/2g of the way (3.5 pixels of 8). The image is processed in place,
// in raster order, since each result needs only pixels not yet rewritten.
// Past the last row or column the edge pixel is repeated.
func centre(pix []byte, stride, w, h, c, g int, alpha bool) {
	w0, w1 := uint32(g+1), uint32(g-1) // weights out of 2g on each axis
	total := 4 * uint32(g*g)
	for y := 0; y < h; y++ {
		r0, r1 := pix[y*stride:], pix[min(y+1, h-1)*stride:]
		for x := 0; x < w; x++ {
			x1 := min(x+1, w-1)
			p := [4][]byte{r0[c*x : c*x+c], r0[c*x1 : c*x1+c], r1[c*x : c*x+c], r1[c*x1 : c*x1+c]}
			wt := [4]uint32{w0 * w0, w1 * w0, w0 * w1, w1 * w1}
			if !alpha {
				var t [4]uint32
				for i := range p {
					for ch := 0; ch < c; ch++ {
						t[ch] += wt[i] * uint32(p[i][ch])
					}
				}
				for ch := 0; ch < c; ch++ {
					p[0][ch] = uint8((t[ch] + total/2) / total)
				}
				continue
			}
			var t [3]uint32
			var ta uint32
			for i := range p {
				a := wt[i] * uint32(p[i][3])
				t[0] += a * uint32(p[i][0])
				t[1] += a * uint32(p[i][1])
				t[2] += a * uint32(p[i][2])
				ta += a
			}
			o := p[0]
			o[3] = uint8((ta + total/2) / total)
			if ta == 0 {
				o[0], o[1], o[2] = 0, 0, 0
				continue
			}
			o[0] = uint8((t[0] + ta/2) / ta)
			o[1] = uint8((t[1] + ta/2) / ta)
			o[2] = uint8((t[2] + ta/2) / ta)
		}
	}
}
