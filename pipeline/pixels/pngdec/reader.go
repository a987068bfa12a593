package pngdec

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// bufSize is the size of the input buffer and of the IDAT window.
const bufSize = 32 << 10

// readFull fills p from the input; running out of input is errTruncated.
func (d *decoder) readFull(p []byte) error {
	_, err := io.ReadFull(d.br, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

// readChunkHeader reads the length and type of the next chunk and starts
// its CRC.
func (d *decoder) readChunkHeader() (length uint32, typ string, err error) {
	var h [8]byte
	if err := d.readFull(h[:]); err != nil {
		return 0, "", err
	}
	length = binary.BigEndian.Uint32(h[:4])
	if length > maxChunkLength {
		return 0, "", ErrChunkTooLarge
	}
	d.crc = crc32.Update(0, crc32.IEEETable, h[4:])
	return length, string(h[4:]), nil
}

// endChunk reads the CRC that follows the current chunk's data and checks
// it against the data that was read.
func (d *decoder) endChunk() error {
	var b [4]byte
	if err := d.readFull(b[:]); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(b[:]) != d.crc {
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
	if err := d.readFull(p); err != nil {
		return nil, err
	}
	d.crc = crc32.Update(d.crc, crc32.IEEETable, p)
	return p, nil
}

// skipChunkData skips n bytes of chunk data; they still count for its CRC.
func (d *decoder) skipChunkData(n int64) error {
	for n > 0 {
		p, err := d.br.Peek(int(min(n, bufSize)))
		if len(p) == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				err = errTruncated
			}
			return err
		}
		d.crc = crc32.Update(d.crc, crc32.IEEETable, p)
		d.br.Discard(len(p))
		n -= int64(len(p))
	}
	return nil
}

// idatReader is the concatenated data of consecutive IDAT chunks: the
// zlib stream. It checks each chunk's CRC as it crosses it. It reads the
// input into a window of its own, adding each piece to the chunk's CRC,
// and implements io.ByteReader, so the inflater reads straight from the
// window and consumes no byte beyond the end of the zlib stream.
type idatReader struct{ d *decoder }

// fill refills the window from the current IDAT chunk, moving to the next
// one when it is used up. At the first chunk of another type it returns
// io.EOF.
func (z idatReader) fill() error {
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
	n, err := d.br.Read(d.win[:min(int64(len(d.win)), d.idatLeft)])
	if n == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			err = errTruncated
		}
		return err
	}
	d.crc = crc32.Update(d.crc, crc32.IEEETable, d.win[:n])
	d.idatLeft -= int64(n)
	d.rpos, d.rend = 0, n
	return nil
}

func (z idatReader) ReadByte() (byte, error) {
	d := z.d
	if d.rpos == d.rend {
		if err := z.fill(); err != nil {
			return 0, err
		}
	}
	b := d.win[d.rpos]
	d.rpos++
	return b, nil
}

func (z idatReader) Read(p []byte) (int, error) {
	d := z.d
	if len(p) == 0 {
		return 0, nil
	}
	if d.rpos == d.rend {
		if err := z.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, d.win[d.rpos:d.rend])
	d.rpos += n
	return n, nil
}
