package pixeltest

import "encoding/binary"

// Progressive JPEGs whose scans cost CPU rather than memory: each scan is
// a few bytes that make a decoder pass over every block of a component.

// ScanBomb returns a w×h progressive 4:2:0 YCbCr JPEG of one DC scan in
// which every block is zero, followed by scans first scans of the Cb
// component's AC band 1..63, each made of end-of-band runs only. The
// repeats are the same first scan again and again, which a decoder that
// follows the progression refuses at the second; one that does not makes
// a pass over the Cb blocks for each (the chroma is needed even at 1/8
// of the size). 45,000 scans of 4096×4096 take about 1 MB.
func ScanBomb(w, h uint16, scans int) []byte {
	b := progressiveHeader(w, h)
	cb := ((int(w) + 15) / 16) * ((int(h) + 15) / 16)
	ac := eobRuns(cb)
	for range scans {
		b = jpegSegment(b, 0xDA, []byte{1, 2, 0x00, 1, 63, 0x00}) // Cb, AC table 0, Ss 1, Se 63, Ah/Al 0
		b = append(b, ac...)
	}
	return append(b, 0xFF, 0xD9)
}

// ProgressionBomb returns a w×h progressive 4:2:0 YCbCr JPEG whose Cb AC
// band is sent once at bit 1 and then refined at bit 0 refines times:
// after the first, each refinement claims a bit position already sent.
func ProgressionBomb(w, h uint16, refines int) []byte {
	b := progressiveHeader(w, h)
	cb := ((int(w) + 15) / 16) * ((int(h) + 15) / 16)
	ac := eobRuns(cb)
	b = jpegSegment(b, 0xDA, []byte{1, 2, 0x00, 1, 63, 0x01}) // Ah 0, Al 1
	b = append(b, ac...)
	for range refines {
		b = jpegSegment(b, 0xDA, []byte{1, 2, 0x00, 1, 63, 0x10}) // Ah 1, Al 0
		b = append(b, ac...)
	}
	return append(b, 0xFF, 0xD9)
}

// ManyScans returns a w×h progressive 4:2:0 YCbCr JPEG of one DC scan
// and n (at most 63×14) scans that follow the progression: the Cb AC
// coefficients one at a time, each sent at bit 13 and refined down to
// bit 0, all zero. Every scan adds a bit, so only a limit on the number
// of scans refuses it.
func ManyScans(w, h uint16, n int) []byte {
	if n > 63*14 {
		panic("pixeltest.ManyScans: at most 882 scans")
	}
	b := progressiveHeader(w, h)
	cb := ((int(w) + 15) / 16) * ((int(h) + 15) / 16)
	ac := eobRuns(cb)
	for i := range n {
		k, bit := byte(1+i/14), 13-i%14
		sa := byte(bit) // first scan: Ah 0, Al 13
		if bit < 13 {
			sa = byte(bit+1)<<4 | byte(bit)
		}
		b = jpegSegment(b, 0xDA, []byte{1, 2, 0x00, k, k, sa})
		b = append(b, ac...)
	}
	return append(b, 0xFF, 0xD9)
}

// progressiveHeader returns the start of a w×h progressive 4:2:0 YCbCr
// JPEG up to and including its DC scan, in which every block is zero: a
// DC table of one code, "0", for category 0, and an AC table whose
// 4-bit codes 0 to 14 are the end-of-band runs EOB0 to EOB14.
func progressiveHeader(w, h uint16) []byte {
	be := binary.BigEndian
	b := []byte{0xFF, 0xD8}
	b = jpegSegment(b, 0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
	b = jpegSegment(b, 0xDB, unitQuant())
	sof := []byte{8}
	sof = be.AppendUint16(sof, h)
	sof = be.AppendUint16(sof, w)
	sof = append(sof, 3, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0)
	b = jpegSegment(b, 0xC2, sof)
	dc := make([]byte, 1+16+1) // class 0, id 0
	dc[1] = 1
	b = jpegSegment(b, 0xC4, dc)
	acTable := make([]byte, 1+16, 1+16+15)
	acTable[0] = 0x10 // class 1, id 0
	acTable[4] = 15   // fifteen codes of 4 bits
	for r := range 15 {
		acTable = append(acTable, byte(r<<4))
	}
	b = jpegSegment(b, 0xC4, acTable)
	b = jpegSegment(b, 0xDA, []byte{3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 0, 0x00})
	mcus := ((int(w) + 15) / 16) * ((int(h) + 15) / 16)
	bits := mcus * 6 // four Y blocks, Cb and Cr: one bit each
	dcData := make([]byte, (bits+7)/8)
	if bits%8 != 0 {
		dcData[len(dcData)-1] = 0xFF >> (bits % 8) // pad with one bits
	}
	return append(b, dcData...)
}

// eobRuns returns the entropy-coded data of an AC first scan of n blocks
// that are all zero: end-of-band runs of the AC table progressiveHeader
// defines, byte-stuffed and padded with one bits.
func eobRuns(n int) []byte {
	var w jpegBits
	for n > 0 {
		r := 0
		for r < 14 && 1<<(r+1) <= n {
			r++
		}
		run := min(n, 1<<(r+1)-1)
		w.put(uint32(r), 4)
		w.put(uint32(run-1<<r), uint(r))
		n -= run
	}
	return w.flush()
}

// jpegBits writes bits most significant first, with JPEG's byte stuffing
// (a 0x00 after every 0xFF).
type jpegBits struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *jpegBits) put(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.nacc++
		if w.nacc == 8 {
			w.emit(byte(w.acc))
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *jpegBits) emit(c byte) {
	w.out = append(w.out, c)
	if c == 0xFF {
		w.out = append(w.out, 0)
	}
}

// flush pads the last byte with one bits and returns the data.
func (w *jpegBits) flush() []byte {
	if w.nacc > 0 {
		w.emit(byte(w.acc<<(8-w.nacc) | 0xFF>>w.nacc))
		w.acc, w.nacc = 0, 0
	}
	return w.out
}

// unitQuant is the payload of a DQT segment of table 0, 8-bit, every
// step 1.
func unitQuant() []byte {
	q := make([]byte, 65)
	for i := 1; i < len(q); i++ {
		q[i] = 1
	}
	return q
}

// jpegSegment appends a marker segment with its length.
func jpegSegment(b []byte, marker byte, payload []byte) []byte {
	b = append(b, 0xFF, marker)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)+2))
	return append(b, payload...)
}
