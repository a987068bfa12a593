package jpegdec

import "fmt"

// unzig maps zig-zag order to natural (row-major) order.
var unzig = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

type scanComp struct {
	c    *component
	ci   int
	dc   *huffTable
	ac   *huffTable
	q    *[64]int32
	pred int32
}

type scanMode int

const (
	modeBaseline scanMode = iota
	modeDCFirst
	modeDCRefine
	modeACFirst
	modeACRefine
)

func (d *decoder) processSOS(n int) error {
	if !d.sofSeen {
		return FormatError("missing frame header")
	}
	if d.ctx != nil {
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	d.scans++
	if d.maxScans >= 0 && d.scans > d.maxScans {
		return d.tooManyScans()
	}
	if n < 6 {
		return FormatError("short SOS segment")
	}
	p, err := d.readSegment(n)
	if err != nil {
		return err
	}
	ns := int(p[0])
	if ns < 1 || ns > 4 || n != 4+2*ns {
		return FormatError("bad SOS length")
	}
	if !d.allocated {
		if err := d.allocate(); err != nil {
			return err
		}
	}
	var sc [4]scanComp
	blocksPerMCU := 0
	for i := 0; i < ns; i++ {
		id, tables := p[1+2*i], p[2+2*i]
		ci := -1
		for j := 0; j < d.ncomp; j++ {
			if d.comp[j].id == id {
				ci = j
			}
		}
		if ci < 0 {
			return FormatError("unknown component selector")
		}
		for j := 0; j < i; j++ {
			if sc[j].ci == ci {
				return FormatError("repeated component selector")
			}
		}
		td, ta := tables>>4, tables&15
		if td > 3 || ta > 3 {
			return FormatError("bad Huffman table selector")
		}
		c := &d.comp[ci]
		sc[i] = scanComp{c: c, ci: ci, dc: &d.huff[0][td], ac: &d.huff[1][ta], q: &d.quant[c.tq]}
		blocksPerMCU += c.h * c.v
	}
	if ns > 1 && blocksPerMCU > 10 {
		return FormatError("too many blocks per MCU")
	}
	ss, se := int(p[1+2*ns]), int(p[2+2*ns])
	ah, al := uint(p[3+2*ns]>>4), uint(p[3+2*ns]&15)

	mode := modeBaseline
	if d.progressive {
		if ss > se || se > 63 || (ss == 0 && se != 0) || (ss > 0 && ns != 1) || al > 13 || ah > 13 {
			return FormatError("bad progressive scan parameters")
		}
		if err := d.progress(sc[:ns], ss, se, ah, al); err != nil {
			return err
		}
		switch {
		case ss == 0 && ah == 0:
			mode = modeDCFirst
		case ss == 0:
			mode = modeDCRefine
		case ah == 0:
			mode = modeACFirst
		default:
			mode = modeACRefine
		}
		if mode >= modeACFirst && sc[0].c.maxK == 0 {
			// Only the DC coefficient of this component is needed (e.g.
			// luma at 1/8), and AC scans never carry DC: skip the whole
			// entropy-coded segment without decoding it.
			return d.skipEntropy()
		}
	}
	for i := 0; i < ns; i++ {
		s := &sc[i]
		if mode == modeBaseline && s.c.done {
			// Each component has one scan in sequential mode: a repeated
			// one would only cost another pass over its blocks.
			return FormatError(fmt.Sprintf("component %d in a second sequential scan", s.ci))
		}
		if !d.quantSet[s.c.tq] {
			return FormatError("undefined quantization table")
		}
		if (mode == modeBaseline || mode == modeDCFirst) && !s.dc.defined {
			return FormatError("undefined DC Huffman table")
		}
		if (mode == modeBaseline || mode >= modeACFirst) && !s.ac.defined {
			return FormatError("undefined AC Huffman table")
		}
	}
	if err := d.decodeScan(sc[:ns], mode, ss, se, ah, al); err != nil {
		return err
	}
	if mode == modeBaseline {
		for i := 0; i < ns; i++ {
			sc[i].c.done = true
		}
	}
	return nil
}

// progress checks a progressive scan against what earlier scans sent
// (JPEG G.1.1.1) and records it: a coefficient's first scan must be its
// only first scan, and each refinement must add the one bit below the
// last (Ah equal to the last scan's Al, Al = Ah-1). So every scan adds
// something and a file cannot make the decoder pass over the same band
// again and again; libjpeg only warns about such files.
func (d *decoder) progress(sc []scanComp, ss, se int, ah, al uint) error {
	if ah != 0 && al+1 != ah {
		return FormatError(fmt.Sprintf("bogus progression: a refinement from bit %d to bit %d", ah, al))
	}
	for _, s := range sc {
		sa := &d.sa[s.ci]
		for k := ss; k <= se; k++ {
			switch last := uint(sa[k]); {
			case ah == 0 && last != 0:
				return FormatError(fmt.Sprintf("bogus progression: coefficient %d of component %d sent again", k, s.ci))
			case ah != 0 && last == 0:
				return FormatError(fmt.Sprintf("bogus progression: coefficient %d of component %d refined before it was sent", k, s.ci))
			case ah != 0 && last-1 != ah:
				return FormatError(fmt.Sprintf("bogus progression: coefficient %d of component %d refined at bit %d after bit %d", k, s.ci, al, last-1))
			}
		}
	}
	for _, s := range sc {
		for k := ss; k <= se; k++ {
			d.sa[s.ci][k] = uint8(al + 1)
		}
	}
	return nil
}

// tooManyScans returns the error for a file with more than d.maxScans
// scans, counting the scans that follow (their entropy-coded data is
// skipped, not decoded) so that the message gives the file's count.
func (d *decoder) tooManyScans() error {
	n, more := d.scans, ""
	for {
		m, err := d.nextMarker()
		if err != nil || m == mEOI {
			if err != nil {
				more = " or more"
			}
			break
		}
		if m >= mRST0 && m <= mRST7 || m == 0x01 || m == mSOI {
			continue
		}
		length, err := d.readU16()
		if err == nil {
			err = d.skip(length - 2)
		}
		if err == nil && m == mSOS {
			n++
			err = d.skipEntropy()
		}
		if err != nil || length < 2 {
			more = " or more"
			break
		}
	}
	return fmt.Errorf("%w: JPEG has %d%s scans, limit %d", ErrTooManyScans, n, more, d.maxScans)
}

func (d *decoder) decodeScan(sc []scanComp, mode scanMode, ss, se int, ah, al uint) error {
	d.resetBits()
	d.eobrun = 0
	var mx, my int // MCU grid of this scan
	if len(sc) == 1 {
		mx, my = sc[0].c.cbw, sc[0].c.cbh
	} else {
		mx, my = d.mcusX, d.mcusY
	}
	rst := 0
	mcu := 0
	for y := 0; y < my; y++ {
		for x := 0; x < mx; x++ {
			if d.ri > 0 && mcu > 0 && mcu%d.ri == 0 {
				if err := d.restart(rst); err != nil {
					return err
				}
				rst = (rst + 1) & 7
				for i := range sc {
					sc[i].pred = 0
				}
				d.eobrun = 0
			}
			mcu++
			for i := range sc {
				s := &sc[i]
				c := s.c
				if len(sc) == 1 {
					if err := d.block(s, mode, x, y, ss, se, ah, al); err != nil {
						return err
					}
					continue
				}
				for v := 0; v < c.v; v++ {
					for h := 0; h < c.h; h++ {
						if err := d.block(s, mode, x*c.h+h, y*c.v+v, ss, se, ah, al); err != nil {
							return err
						}
					}
				}
			}
			if d.n < d.pad {
				return d.ioErr()
			}
		}
	}
	d.resetBits()
	return nil
}

// restart consumes the RSTn marker expected at a restart boundary.
func (d *decoder) restart(rst int) error {
	d.resetBits()
	m, err := d.nextMarker()
	if err != nil {
		return err
	}
	if m != mRST0+byte(rst) {
		return FormatError("bad RST marker")
	}
	return nil
}

func (d *decoder) block(s *scanComp, mode scanMode, bx, by, ss, se int, ah, al uint) error {
	c := s.c
	switch mode {
	case modeBaseline:
		return d.baselineBlock(s, bx, by)
	case modeDCFirst:
		t, err := d.sym(s.dc)
		if err != nil {
			return err
		}
		if t > 15 {
			return FormatError("excessive DC component")
		}
		if t > 0 {
			s.pred += extend(d.bits(uint(t)), uint(t))
		}
		c.coefs[(by*c.bw+bx)*(c.maxK+1)] = int16(s.pred << al)
	case modeDCRefine:
		if d.n < 32 {
			d.acc, d.n = d.refill(d.acc, d.n)
		}
		if d.acc>>63 != 0 {
			c.coefs[(by*c.bw+bx)*(c.maxK+1)] |= 1 << al
		}
		d.acc <<= 1
		d.n--
	case modeACFirst:
		return d.acFirst(s, bx, by, ss, se, al)
	case modeACRefine:
		return d.acRefine(s, bx, by, ss, se, al)
	}
	return nil
}

// baselineBlock decodes one sequential block and writes its reduced IDCT
// into the component plane. Coefficients past the component's maxK are
// decoded only to be skipped.
func (d *decoder) baselineBlock(s *scanComp, bx, by int) error {
	c := s.c
	blk := &d.blk
	maxK := c.maxK
	switch {
	case maxK == 0:
	case c.nx == 2 && c.ny == 2:
		blk[1], blk[8], blk[9] = 0, 0, 0
	case c.nx == 4 && c.ny == 4:
		for r := 0; r < 32; r += 8 {
			blk[r], blk[r+1], blk[r+2], blk[r+3] = 0, 0, 0, 0
		}
	default:
		*blk = [64]int32{}
	}
	q := s.q
	acc, n := d.acc, d.n
	if n < 32 {
		acc, n = d.refill(acc, n)
	}
	// DC.
	var t uint
	if e := s.dc.lut[acc>>(64-lutBits)]; e != 0 {
		l := uint(e >> 8)
		t = uint(e & 0xFF)
		acc <<= l
		n -= l
	} else {
		sy, l := s.dc.slowSym(acc)
		if l == 0 {
			return errBadCode
		}
		acc <<= l
		n -= l
		t = uint(sy)
	}
	if t != 0 {
		if t > 15 {
			return FormatError("excessive DC component")
		}
		v := int32(acc >> (64 - t))
		acc <<= t
		n -= t
		s.pred += extend(v, t)
	}
	blk[0] = s.pred * q[0]
	nz := false
	ac := s.ac
	k := 1
	// AC coefficients that the reduced IDCT uses.
	for k <= maxK {
		if n < 32 {
			if acc, n = d.take(acc, n); n < 32 {
				acc, n = d.refill(acc, n)
			}
		}
		if e := ac.fastAC[acc>>(64-lutBits)]; e != 0 {
			k += int(e>>8) & 15
			l := uint(e & 0xFF)
			acc <<= l
			n -= l
			if k > 63 {
				return FormatError("bad AC run")
			}
			blk[unzig[k&63]] = (e >> 16) * q[k&63]
			nz = true
			k++
			continue
		}
		var rs uint8
		if e := ac.lut[acc>>(64-lutBits)]; e != 0 {
			l := uint(e >> 8)
			rs = uint8(e)
			acc <<= l
			n -= l
		} else {
			sy, l := ac.slowSym(acc)
			if l == 0 {
				return errBadCode
			}
			acc <<= l
			n -= l
			rs = sy
		}
		r, sz := int(rs>>4), uint(rs&15)
		if sz == 0 {
			if r != 15 {
				d.acc, d.n = acc, n
				d.emit(c, blk, bx, by, nz)
				return nil
			}
			k += 16
			continue
		}
		k += r
		if k > 63 {
			return FormatError("bad AC run")
		}
		v := extend(int32(acc>>(64-sz)), sz)
		acc <<= sz
		n -= sz
		blk[unzig[k&63]] = v * q[k&63]
		nz = true
		k++
	}
	// Remaining AC coefficients: step over them without computing values.
	for k < 64 {
		if n < 32 {
			if acc, n = d.take(acc, n); n < 32 {
				acc, n = d.refill(acc, n)
			}
		}
		if e := ac.skip2[acc>>(64-pairBits)]; e != 0 {
			// One or two coefficients; the pair is used unless the first
			// one ends the block (EOB's advance is 64).
			var l uint
			if a1 := int(e >> 18); k+a1 < 64 {
				k += int(e>>5) & 0xFF
				l = uint(e & 31)
			} else {
				k += a1
				l = uint(e>>13) & 31
			}
			acc <<= l
			n -= l
			continue
		}
		if e := ac.skip[acc>>(64-lutBits)]; e != 0 {
			k += int(e >> 8)
			l := uint(e & 0xFF)
			acc <<= l
			n -= l
			continue
		}
		rs, l := ac.slowSym(acc)
		if l == 0 {
			return errBadCode
		}
		acc <<= l
		n -= l
		r, sz := int(rs>>4), uint(rs&15)
		if sz == 0 {
			if r != 15 {
				break
			}
			k += 16
			continue
		}
		k += r + 1
		acc <<= sz
		n -= sz
	}
	d.acc, d.n = acc, n
	d.emit(c, blk, bx, by, nz)
	return nil
}

// emit writes the reduced IDCT of a dequantized natural-order block. nz
// reports whether any AC coefficient may be non-zero.
func (d *decoder) emit(c *component, blk *[64]int32, bx, by int, nz bool) {
	off := by*c.ny*c.stride + bx*c.nx
	dst := c.plane[off:]
	switch {
	case c.nx == 1 && c.ny == 1:
		dst[0] = dcPixel(blk[0])
	case !nz:
		v := dcPixel(blk[0])
		for y := 0; y < c.ny; y++ {
			row := dst[y*c.stride : y*c.stride+c.nx]
			for x := range row {
				row[x] = v
			}
		}
	case c.nx != c.ny:
		idctRect(blk, c.nx, c.ny, dst, c.stride)
	case c.nx == 2:
		idct2(blk, dst, c.stride)
	case c.nx == 4:
		idct4(blk, dst, c.stride)
	default:
		idct(blk)
		storeBlock(blk, dst, c.stride)
	}
}

func (d *decoder) acFirst(s *scanComp, bx, by, ss, se int, al uint) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	c := s.c
	K := c.maxK + 1
	bi := by*c.bw + bx
	coefs := c.coefs[bi*K : bi*K+K]
	ac := s.ac
	acc, n := d.acc, d.n
	for k := ss; k <= se; {
		if n < 32 {
			acc, n = d.refill(acc, n)
		}
		var v int32
		if e := ac.fastAC[acc>>(64-lutBits)]; e != 0 {
			k += int(e>>8) & 15
			l := uint(e & 0xFF)
			acc <<= l
			n -= l
			v = e >> 16
		} else {
			var rs uint8
			if e := ac.lut[acc>>(64-lutBits)]; e != 0 {
				l := uint(e >> 8)
				rs = uint8(e)
				acc <<= l
				n -= l
			} else {
				sy, l := ac.slowSym(acc)
				if l == 0 {
					return errBadCode
				}
				acc <<= l
				n -= l
				rs = sy
			}
			r, sz := int(rs>>4), uint(rs&15)
			if sz == 0 {
				if r < 15 {
					// EOBn: this block and the next 2^r-1+bits(r) end here.
					// At most 16+14 bits were needed since the refill.
					run := uint32(1) << r
					if r > 0 {
						run += uint32(acc >> (64 - r))
						acc <<= uint(r)
						n -= uint(r)
					}
					d.eobrun = run - 1
					break
				}
				k += 16
				continue
			}
			k += r
			v = extend(int32(acc>>(64-sz)), sz)
			acc <<= sz
			n -= sz
		}
		if k > se {
			return FormatError("bad AC run")
		}
		if k < K {
			coefs[k] = int16(v << al)
		} else {
			c.mask[bi] |= 1 << k
		}
		k++
	}
	d.acc, d.n = acc, n
	return nil
}

// acRefine applies a successive-approximation AC refinement scan to one
// block (JPEG G.1.2.3, following libjpeg's decode_mcu_AC_refine).
// Coefficients past the kept prefix are tracked only as a non-zero bit;
// their correction bits are read and dropped.
func (d *decoder) acRefine(s *scanComp, bx, by, ss, se int, al uint) error {
	c := s.c
	K := c.maxK + 1
	bi := by*c.bw + bx
	coefs := c.coefs[bi*K : bi*K+K]
	var mask uint64
	if K < 64 {
		mask = c.mask[bi]
	}
	p1 := int16(1) << al
	m1 := int16(-1) << al
	ac := s.ac
	acc, n := d.acc, d.n
	k := ss
	if d.eobrun == 0 {
		for ; k <= se; k++ {
			if n < 32 {
				acc, n = d.refill(acc, n)
			}
			var rs uint8
			if e := ac.lut[acc>>(64-lutBits)]; e != 0 {
				l := uint(e >> 8)
				rs = uint8(e)
				acc <<= l
				n -= l
			} else {
				sy, l := ac.slowSym(acc)
				if l == 0 {
					return errBadCode
				}
				acc <<= l
				n -= l
				rs = sy
			}
			r, sz := int(rs>>4), rs&15
			var z int16
			if sz != 0 {
				// sz should be 1; libjpeg treats other sizes as 1 too.
				if acc>>63 != 0 {
					z = p1
				} else {
					z = m1
				}
				acc <<= 1
				n--
			} else if r != 15 {
				// EOBn; at least 16 bits remain since the refill.
				run := uint32(1) << r
				if r > 0 {
					run += uint32(acc >> (64 - r))
					acc <<= uint(r)
					n -= uint(r)
				}
				d.eobrun = run
				break
			}
			// Step over already non-zero coefficients, refining them, and r
			// still-zero ones; z lands on the next still-zero one.
			for ; k <= se; k++ {
				var nz bool
				if k < K {
					nz = coefs[k] != 0
				} else {
					nz = mask&(1<<k) != 0
				}
				if !nz {
					if r == 0 {
						break
					}
					r--
					continue
				}
				if n < 32 {
					acc, n = d.refill(acc, n)
				}
				bit := acc>>63 != 0
				acc <<= 1
				n--
				if bit && k < K {
					if v := coefs[k]; v&p1 == 0 {
						if v >= 0 {
							coefs[k] = v + p1
						} else {
							coefs[k] = v + m1
						}
					}
				}
			}
			if z != 0 && k <= se {
				if k < K {
					coefs[k] = z
				} else {
					mask |= 1 << k
				}
			}
		}
	}
	if d.eobrun > 0 {
		// The rest of the band has no new coefficients: only correction
		// bits for the non-zero ones.
		for ; k <= se; k++ {
			var nz bool
			if k < K {
				nz = coefs[k] != 0
			} else {
				nz = mask&(1<<k) != 0
			}
			if !nz {
				continue
			}
			if n < 32 {
				acc, n = d.refill(acc, n)
			}
			bit := acc>>63 != 0
			acc <<= 1
			n--
			if bit && k < K {
				if v := coefs[k]; v&p1 == 0 {
					if v >= 0 {
						coefs[k] = v + p1
					} else {
						coefs[k] = v + m1
					}
				}
			}
		}
		d.eobrun--
	}
	if K < 64 {
		c.mask[bi] = mask
	}
	d.acc, d.n = acc, n
	return nil
}

// reconstruct runs the reduced IDCT over every stored progressive block.
func (d *decoder) reconstruct() error {
	blk := &d.blk
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		if !d.quantSet[c.tq] {
			return FormatError("undefined quantization table")
		}
		q := &d.quant[c.tq]
		K := c.maxK + 1
		for by := 0; by < c.bh; by++ {
			for bx := 0; bx < c.bw; bx++ {
				co := c.coefs[(by*c.bw+bx)*K:][:K]
				*blk = [64]int32{}
				nz := false
				for k, v := range co {
					if v != 0 {
						blk[unzig[k]] = int32(v) * q[k]
						nz = nz || k > 0
					}
				}
				d.emit(c, blk, bx, by, nz)
			}
		}
	}
	return nil
}
