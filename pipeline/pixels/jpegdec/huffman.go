package jpegdec

// lutBits is the number of bits of lookahead in the Huffman fast tables.
const lutBits = 9

// pairBits is the lookahead of the AC skip table, which steps over up to
// two coefficients per lookup.
const pairBits = 12

type huffTable struct {
	defined bool
	// lut maps the next lutBits bits to (codeLength<<8 | symbol), or 0 when
	// the code is longer than lutBits.
	lut [1 << lutBits]uint16
	// fastAC (AC tables only) maps the next lutBits bits to a whole
	// coefficient when its code and magnitude bits fit in lutBits:
	// value<<16 | run<<8 | totalLength, or 0.
	fastAC [1 << lutBits]int32
	// skip (AC tables only) maps the next lutBits bits, for codes of at
	// most lutBits, to advance<<8 | codeLength+magnitudeBits: everything
	// needed to step over a coefficient without computing its value.
	// advance is run+1, 16 for ZRL and 64 for EOB.
	skip [1 << lutBits]uint16
	// skip2 (AC tables only) maps the next pairBits bits to the effect of
	// the first one or two coefficients they hold, when those fit:
	// a1<<18 | l1<<13 | aT<<5 | lT, where a1, l1 are the advance and bit
	// length of the first coefficient alone and aT, lT those of the pair
	// (equal to a1, l1 when there is no second coefficient). 0 = none.
	skip2 [1 << pairBits]uint32
	// Canonical decoding for codes longer than lutBits: maxCode[l] is the
	// largest code of length l (-1 if none) and valPtr[l] is the index in
	// vals of the first code of length l minus that code.
	maxCode [17]int32
	valPtr  [17]int32
	nvals   int
	vals    [256]uint8
}

func (d *decoder) processDHT(n int) error {
	p, err := d.readSegment(n)
	if err != nil {
		return err
	}
	for len(p) > 0 {
		if len(p) < 17 {
			return FormatError("short DHT segment")
		}
		tc, th := p[0]>>4, p[0]&15
		if tc > 1 || th > 3 {
			return FormatError("bad Huffman table class or id")
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(p[l])
			total += counts[l]
		}
		if total == 0 || total > 256 {
			return FormatError("bad Huffman table size")
		}
		p = p[17:]
		if len(p) < total {
			return FormatError("short DHT segment")
		}
		if err := d.huff[tc][th].build(&counts, p[:total], tc == 1); err != nil {
			return err
		}
		p = p[total:]
	}
	return nil
}

func (t *huffTable) build(counts *[17]int, vals []byte, ac bool) error {
	t.defined = false
	t.nvals = copy(t.vals[:], vals)
	clear(t.lut[:])
	clear(t.fastAC[:])
	clear(t.skip[:])
	clear(t.skip2[:])
	code, k := int32(0), 0
	for l := 1; l <= 16; l++ {
		cnt := counts[l]
		t.valPtr[l] = int32(k) - code
		if cnt == 0 {
			t.maxCode[l] = -1
		} else {
			if code+int32(cnt) > 1<<l {
				return FormatError("bad Huffman table (code space overflow)")
			}
			for i := 0; i < cnt; i++ {
				if l <= lutBits {
					sh := uint(lutBits - l)
					lo, hi := (code+int32(i))<<sh, (code+int32(i)+1)<<sh
					e := uint16(l)<<8 | uint16(vals[k+i])
					for j := lo; j < hi; j++ {
						t.lut[j] = e
					}
				}
			}
			t.maxCode[l] = code + int32(cnt) - 1
		}
		code += int32(cnt)
		k += cnt
		code <<= 1
	}
	if ac {
		for i, e := range t.lut {
			if e == 0 {
				continue
			}
			l := int(e >> 8)
			rs := uint8(e)
			r, s := int(rs>>4), int(rs&15)
			switch {
			case s != 0:
				t.skip[i] = uint16(r+1)<<8 | uint16(l+s)
			case r == 15:
				t.skip[i] = 16<<8 | uint16(l)
			default:
				t.skip[i] = 64<<8 | uint16(l)
			}
			if s == 0 || l+s > lutBits {
				continue
			}
			bits := int32(i>>(lutBits-l-s)) & (1<<s - 1)
			v := extend(bits, uint(s))
			t.fastAC[i] = v<<16 | int32(r)<<8 | int32(l+s)
		}
	}
	if ac {
		t.buildSkip2()
	}
	t.defined = true
	return nil
}

// step decodes the AC symbol at the top of the avail-bit string code and
// returns its advance and total bit length (code plus magnitude bits), or
// ok = false if it does not fit.
func (t *huffTable) step(code uint32, avail int) (adv, length int, ok bool) {
	for l := 1; l <= avail; l++ {
		c := int32(code >> (avail - l))
		if c > t.maxCode[l] {
			continue
		}
		i := c + t.valPtr[l]
		if i < 0 || int(i) >= t.nvals {
			return 0, 0, false
		}
		rs := t.vals[i]
		r, s := int(rs>>4), int(rs&15)
		switch {
		case s != 0:
			adv = r + 1
		case r == 15:
			adv = 16
		default:
			adv = 64
		}
		if l+s > avail {
			return 0, 0, false
		}
		return adv, l + s, true
	}
	return 0, 0, false
}

func (t *huffTable) buildSkip2() {
	for i := range t.skip2 {
		a1, l1, ok := t.step(uint32(i), pairBits)
		if !ok {
			continue
		}
		aT, lT := a1, l1
		if a1 < 64 && l1 < pairBits {
			rest := uint32(i) & (1<<(pairBits-l1) - 1)
			if a2, l2, ok := t.step(rest, pairBits-l1); ok {
				aT, lT = a1+a2, l1+l2
			}
		}
		t.skip2[i] = uint32(a1)<<18 | uint32(l1)<<13 | uint32(aT)<<5 | uint32(lT)
	}
}

// extend converts s magnitude bits to a signed coefficient (JPEG F.12).
func extend(v int32, s uint) int32 {
	if v < 1<<(s-1) {
		v -= 1<<s - 1
	}
	return v
}

// slowSym decodes a code longer than lutBits from the top of acc. It
// returns the symbol and code length, or length 0 for an invalid code.
func (t *huffTable) slowSym(acc uint64) (uint8, uint) {
	for l := lutBits + 1; l <= 16; l++ {
		c := int32(acc >> (64 - l))
		if c <= t.maxCode[l] {
			i := c + t.valPtr[l]
			if uint(i) >= uint(t.nvals) {
				return 0, 0
			}
			return t.vals[i], uint(l)
		}
	}
	return 0, 0
}

var errBadCode = FormatError("bad Huffman code")

// sym decodes one Huffman symbol using the decoder's bit state.
func (d *decoder) sym(t *huffTable) (uint8, error) {
	if d.n < 32 {
		d.acc, d.n = d.refill(d.acc, d.n)
	}
	if e := t.lut[d.acc>>(64-lutBits)]; e != 0 {
		l := uint(e >> 8)
		d.acc <<= l
		d.n -= l
		return uint8(e), nil
	}
	s, l := t.slowSym(d.acc)
	if l == 0 {
		return 0, errBadCode
	}
	d.acc <<= l
	d.n -= l
	return s, nil
}

// bits returns the next s (<= 16) bits as an unsigned value.
func (d *decoder) bits(s uint) int32 {
	if d.n < 32 {
		d.acc, d.n = d.refill(d.acc, d.n)
	}
	v := int32(d.acc >> (64 - s)) // 0 for s == 0: shifts >= 64 give 0
	d.acc <<= s
	d.n -= s
	return v
}
