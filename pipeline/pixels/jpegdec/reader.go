package jpegdec

import (
	"encoding/binary"
	"io"
)

// bufSize is the size of the decoder's own input buffer. The entropy
// decoder reads straight out of it, so no per-byte io calls are made.
const bufSize = 32 << 10

// ensure makes at least need bytes available in d.buf[d.pos:d.end],
// reading from d.r as required. It reports whether it succeeded; on
// failure d.readErr holds a non-EOF read error, if any.
func (d *decoder) ensure(need int) bool {
	if d.end-d.pos >= need {
		return true
	}
	if d.pos > 0 {
		n := copy(d.buf, d.buf[d.pos:d.end])
		d.pos, d.end = 0, n
	}
	if d.eof {
		return false
	}
	empty := 0
	for d.end < need {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if err != nil {
			d.eof = true
			if err != io.EOF {
				d.readErr = err
			}
			break
		}
		if n == 0 {
			empty++
			if empty > 100 {
				d.eof = true
				d.readErr = io.ErrNoProgress
				break
			}
		}
	}
	return d.end >= need
}

// ioErr is the error to report when input ran out unexpectedly.
func (d *decoder) ioErr() error {
	if d.readErr != nil {
		return d.readErr
	}
	return errTruncated
}

func (d *decoder) readU16() (int, error) {
	if !d.ensure(2) {
		return 0, d.ioErr()
	}
	v := int(d.buf[d.pos])<<8 | int(d.buf[d.pos+1])
	d.pos += 2
	return v, nil
}

// readSegment reads n bytes into d.seg and returns them.
func (d *decoder) readSegment(n int) ([]byte, error) {
	if cap(d.seg) < n {
		d.seg = make([]byte, n)
	}
	p := d.seg[:n]
	for off := 0; off < n; {
		if !d.ensure(1) {
			return nil, d.ioErr()
		}
		c := copy(p[off:], d.buf[d.pos:d.end])
		d.pos += c
		off += c
	}
	return p, nil
}

func (d *decoder) skip(n int) error {
	for n > 0 {
		if !d.ensure(1) {
			return d.ioErr()
		}
		c := min(n, d.end-d.pos)
		d.pos += c
		n -= c
	}
	return nil
}

// nextMarker skips to the next marker and returns its code (the byte after
// 0xFF). Bytes that are not part of a marker (stuffed 0xFF00 pairs, fill
// bytes, stray entropy data) are skipped, as libjpeg and image/jpeg do.
func (d *decoder) nextMarker() (byte, error) {
	for {
		if !d.ensure(2) {
			return 0, d.ioErr()
		}
		buf := d.buf[d.pos:d.end]
		i := 0
		for i+1 < len(buf) {
			if buf[i] != 0xFF {
				// Jump to the next 0xFF, if any.
				j := indexFF(buf[i+1:])
				if j < 0 {
					i = len(buf)
					break
				}
				i += 1 + j
				continue
			}
			m := buf[i+1]
			if m != 0 && m != 0xFF {
				d.pos += i + 2
				return m, nil
			}
			i++
		}
		d.pos += i
	}
}

func indexFF(b []byte) int {
	for i, c := range b {
		if c == 0xFF {
			return i
		}
	}
	return -1
}

// skipEntropy skips entropy-coded data (including RSTn markers) up to, but
// not including, the next other marker.
func (d *decoder) skipEntropy() error {
	for {
		if !d.ensure(2) {
			return d.ioErr()
		}
		buf := d.buf[d.pos:d.end]
		i := 0
		for i+1 < len(buf) {
			j := indexFF(buf[i:])
			if j < 0 {
				i = len(buf)
				break
			}
			i += j
			if i+1 >= len(buf) {
				break
			}
			m := buf[i+1]
			if m == 0 || (m >= 0xD0 && m <= 0xD7) {
				i += 2
				continue
			}
			if m == 0xFF {
				i++
				continue
			}
			d.pos += i
			return nil
		}
		d.pos += i
	}
}

// Bit reader. d.acc holds d.n valid bits, most significant first; bits
// below them are zero. When a marker or the end of input is reached the
// accumulator is padded with zero bits and d.pad counts how many padding
// bits are in it: if d.n ever drops below d.pad, the decoder consumed bits
// that do not exist, i.e. the data is truncated or corrupt.

// take is the fast path of refill, small enough (Go's inlining budget) to
// be inlined into the block decoders: when the next 8 input bytes contain
// no 0xFF (so no byte stuffing and no marker) it adds as many whole bytes
// as fit to the n-bit accumulator acc, leaving at least 57 bits. Otherwise
// it returns acc and n unchanged.
func (d *decoder) take(acc uint64, n uint) (uint64, uint) {
	if d.pos+8 <= d.end {
		x := binary.BigEndian.Uint64(d.buf[d.pos:])
		if y := ^x; (y-0x0101010101010101)&^y&0x8080808080808080 == 0 {
			k := (64 - n) >> 3
			d.pos += int(k)
			return acc | x>>(64-8*k)<<(64-8*k)>>n, n + 8*k
		}
	}
	return acc, n
}

// refill tops the accumulator up to at least 57 bits.
func (d *decoder) refill(acc uint64, n uint) (uint64, uint) {
	for n <= 56 {
		if !d.marker {
			if a, m := d.take(acc, n); m != n {
				return a, m // at least 57 bits
			}
		}
		acc, n = d.refillByte(acc, n)
	}
	return acc, n
}

// refillByte adds one byte (or 8 padding bits) to the accumulator.
func (d *decoder) refillByte(acc uint64, n uint) (uint64, uint) {
	if !d.marker {
		if d.ensure(1) {
			b := d.buf[d.pos]
			if b != 0xFF {
				d.pos++
				return acc | uint64(b)<<(56-n), n + 8
			}
			if d.ensure(2) && d.buf[d.pos+1] == 0 {
				d.pos += 2
				return acc | 0xFF<<(56-n), n + 8
			}
		}
		// A marker, or the end of the input.
		d.marker = true
	}
	d.pad += 8
	return acc, n + 8
}

// resetBits discards the bit accumulator, e.g. at the end of a scan or at
// a restart marker.
func (d *decoder) resetBits() {
	d.acc, d.n, d.pad, d.marker = 0, 0, 0, false
}
