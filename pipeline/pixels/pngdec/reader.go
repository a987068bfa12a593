package pngdec

import (
	"encoding/binary"
	"hash/crc32"
	"io"
)

// bufSize is the size of the decoder's own input buffer.
const bufSize = 32 << 10

// ensure makes at least need bytes available in d.buf[d.pos:d.end],
// reading from d.r as required. It reports whether it succeeded; on
// failure d.readErr holds a non-EOF read error, if any. Bytes of the
// current chunk's data that are about to move are added to its CRC first.
func (d *decoder) ensure(need int) bool {
	if d.end-d.pos >= need {
		return true
	}
	if d.pos > 0 {
		d.flushCRC()
		n := copy(d.buf, d.buf[d.pos:d.end])
		d.pos, d.end = 0, n
		d.crcFrom = 0
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

// flushCRC adds the consumed bytes of the current chunk's data to its CRC.
func (d *decoder) flushCRC() {
	if d.inChunk && d.crcFrom < d.pos {
		d.crc = crc32.Update(d.crc, crc32.IEEETable, d.buf[d.crcFrom:d.pos])
	}
	d.crcFrom = d.pos
}

// readChunkHeader reads the length and type of the next chunk and starts
// its CRC.
func (d *decoder) readChunkHeader() (length uint32, typ string, err error) {
	if !d.ensure(8) {
		return 0, "", d.ioErr()
	}
	length = binary.BigEndian.Uint32(d.buf[d.pos:])
	t := d.buf[d.pos+4 : d.pos+8]
	d.pos += 8
	if length > maxChunkLength {
		return 0, "", ErrChunkTooLarge
	}
	d.crc = crc32.Update(0, crc32.IEEETable, t)
	d.inChunk, d.crcFrom = true, d.pos
	return length, string(t), nil
}

// endChunk reads the CRC that follows the current chunk's data and checks
// it against the data that was read.
func (d *decoder) endChunk() error {
	d.flushCRC()
	d.inChunk = false
	if !d.ensure(4) {
		return d.ioErr()
	}
	want := binary.BigEndian.Uint32(d.buf[d.pos:])
	d.pos += 4
	if want != d.crc {
		return ErrChecksum
	}
	return nil
}

// readChunkData reads n bytes of chunk data into d.tmp and returns them.
func (d *decoder) readChunkData(n int) ([]byte, error) {
	if cap(d.tmp) < n {
		d.tmp = make([]byte, n)
	}
	p := d.tmp[:n]
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

// skipChunkData skips n bytes of chunk data; they still count for its CRC.
func (d *decoder) skipChunkData(n int64) error {
	for n > 0 {
		if !d.ensure(1) {
			return d.ioErr()
		}
		c := int(min(n, int64(d.end-d.pos)))
		d.pos += c
		n -= int64(c)
	}
	return nil
}

// idatReader is the concatenated data of consecutive IDAT chunks: the
// zlib stream. It checks each chunk's CRC as it crosses it. It implements
// io.ByteReader, so the inflater reads straight from the decoder's buffer
// and consumes no byte beyond the end of the zlib stream.
type idatReader struct{ d *decoder }

// next moves to the next IDAT chunk once the current one is used up. At
// the first chunk of another type it returns io.EOF.
func (z idatReader) next() error {
	d := z.d
	for d.idatLeft == 0 {
		if d.idatDone {
			return io.EOF
		}
		if err := d.endChunk(); err != nil {
			return err
		}
		length, typ, err := d.readChunkHeader()
		if err != nil {
			return err
		}
		if typ != "IDAT" {
			d.idatDone = true
			return io.EOF
		}
		d.idatLeft = int64(length)
	}
	return nil
}

func (z idatReader) ReadByte() (byte, error) {
	d := z.d
	if d.idatLeft == 0 {
		if err := z.next(); err != nil {
			return 0, err
		}
	}
	if d.pos == d.end && !d.ensure(1) {
		return 0, d.ioErr()
	}
	b := d.buf[d.pos]
	d.pos++
	d.idatLeft--
	return b, nil
}

func (z idatReader) Read(p []byte) (int, error) {
	d := z.d
	if len(p) == 0 {
		return 0, nil
	}
	if d.idatLeft == 0 {
		if err := z.next(); err != nil {
			return 0, err
		}
	}
	if d.pos == d.end && !d.ensure(1) {
		return 0, d.ioErr()
	}
	n := copy(p[:min(int64(len(p)), d.idatLeft)], d.buf[d.pos:d.end])
	d.pos += n
	d.idatLeft -= int64(n)
	return n, nil
}
