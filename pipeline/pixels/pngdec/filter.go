package pngdec

// The filter types of a PNG row.
const (
	ftNone    = 0
	ftSub     = 1
	ftUp      = 2
	ftAverage = 3
	ftPaeth   = 4
)

// unfilter reverses the filter ft of row cur in place, given the previous
// unfiltered row prev (all zero for a pass's first row) and the filter
// unit bpp.
func unfilter(ft byte, cur, prev []byte, bpp int) error {
	prev = prev[:len(cur)]
	switch ft {
	case ftNone:
	case ftSub:
		for i := bpp; i < len(cur); i++ {
			cur[i] += cur[i-bpp]
		}
	case ftUp:
		for i, p := range prev {
			cur[i] += p
		}
	case ftAverage:
		for i := 0; i < bpp && i < len(cur); i++ {
			cur[i] += prev[i] / 2
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += uint8((int(cur[i-bpp]) + int(prev[i])) / 2)
		}
	case ftPaeth:
		unfilterPaeth(cur, prev, bpp)
	default:
		return FormatError("bad filter type")
	}
	return nil
}

func abs(x int) int {
	m := x >> 63
	return (x ^ m) - m
}

// unfilterPaeth reverses the Paeth filter, one byte lane of the pixel at
// a time so that the left and upper-left neighbours stay in registers.
func unfilterPaeth(cur, prev []byte, bpp int) {
	for i := 0; i < bpp && i < len(cur); i++ {
		a, c := 0, 0
		for j := i; j < len(cur); j += bpp {
			b := int(prev[j])
			pa := b - c
			pb := a - c
			pc := abs(pa + pb)
			pa, pb = abs(pa), abs(pb)
			if pa <= pb && pa <= pc {
				// a predicts
			} else if pb <= pc {
				a = b
			} else {
				a = c
			}
			a = (a + int(cur[j])) & 0xff
			cur[j] = uint8(a)
			c = b
		}
	}
}
