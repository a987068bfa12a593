package jpegdec

// fixedMemory is what Decode allocates whatever the image's size: its
// input buffer, Huffman tables and state (measured: about 220 KB).
const fixedMemory = 256 << 10

// MemoryEstimate returns an upper bound of the bytes [Decode] allocates
// for an image with c's size, components, colour space and mode decoded
// with opts, from the header alone, so that a budget can be checked
// before any pixel is decoded. Config does not give the sampling factors,
// so each component is counted with the costliest ones (per block of the
// full-resolution grid, padded to the largest MCU): its scaled sample
// plane, and for a progressive image the coefficients kept between scans
// (two bytes each, as many a block as the scale needs) and the one-word
// non-zero history of each block that keeps only some. Four-component
// images, and three-component ones that are not YCbCr, add the converted
// image. A ColorSpace of 0 is taken as the usual one for the number of
// components (Gray, YCbCr, CMYK).
//
// One case is left out: a YCbCr image whose chroma is subsampled by 3, or
// by 4 at full size (4:1:1, 4:1:0), is converted too, which takes 4 more
// bytes a pixel. Counting that for every YCbCr image would more than
// double the estimate of the usual ones at full size, and those
// subsamplings are rare.
func MemoryEstimate(c Config, opts Options) int64 {
	scale := opts.Scale
	if scale != 2 && scale != 4 && scale != 8 {
		scale = 1
	}
	if c.Width <= 0 || c.Height <= 0 {
		return fixedMemory
	}
	comps := int64(min(max(1, c.Components), 4))
	// Blocks of the full-resolution grid, padded to MCUs of up to 4x4
	// blocks.
	blocks := (int64(c.Width) + 31) / 32 * 4 * ((int64(c.Height) + 31) / 32 * 4)
	n := int64(fixedMemory) + comps*blocks*worstBlockCost(scale, c.Progressive)/16
	cs := c.ColorSpace
	if cs == 0 && comps == 4 {
		cs = CMYK
	}
	if comps == 4 || (comps == 3 && cs != 0 && cs != YCbCr) {
		ow := (int64(c.Width) + int64(scale) - 1) / int64(scale)
		oh := (int64(c.Height) + int64(scale) - 1) / int64(scale)
		n += 4 * ow * oh
	}
	return n
}

// blockCosts[progressive][log2 scale] is worstBlockCost, computed once.
var blockCosts = func() (t [2][4]int64) {
	for p := range 2 {
		for i, s := range [...]int{1, 2, 4, 8} {
			t[p][i] = blockCost(s, p == 1)
		}
	}
	return t
}()

// worstBlockCost returns, in sixteenths of a byte, the most one
// component costs per block of the full-resolution grid at 1/scale.
func worstBlockCost(scale int, progressive bool) int64 {
	i := map[int]int{1: 0, 2: 1, 4: 2, 8: 3}[scale]
	p := 0
	if progressive {
		p = 1
	}
	return blockCosts[p][i]
}

// blockCost is worstBlockCost computed the way allocate lays a component
// out, for every subsampling ratio a component can have (1 to 4 on each
// axis): a component subsampled by rx×ry has a block for every rx×ry
// blocks of the grid, reconstructed at a finer scale where that is exact.
func blockCost(scale int, progressive bool) int64 {
	bs := 8 / scale
	worst := int64(0)
	for rx := 1; rx <= 4; rx++ {
		for ry := 1; ry <= 4; ry++ {
			fx, fy := 1, 1
			for bs*fx*2 <= 8 && rx%(fx*2) == 0 {
				fx *= 2
			}
			for bs*fy*2 <= 8 && ry%(fy*2) == 0 {
				fy *= 2
			}
			nx, ny := bs*fx, bs*fy
			cost := int64(nx * ny)
			if progressive {
				maxK := maxZig(nx, ny)
				cost += 2 * int64(maxK+1)
				if maxK > 0 && maxK < 63 {
					cost += 8
				}
			}
			// In sixteenths of a byte per grid block, rounded up.
			worst = max(worst, (16*cost+int64(rx*ry)-1)/int64(rx*ry))
		}
	}
	return worst
}
