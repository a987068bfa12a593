package heif

import (
	"encoding/binary"
	"fmt"
)

// box is one ISO BMFF box: its type and its payload (after the header).
type box struct {
	typ  string
	body []byte
}

// reader reads big-endian fields from a box's payload. The first read past
// the end sets err and every later read returns zero, so a parser reads a
// whole structure and checks err once.
type reader struct {
	b   []byte
	off int
	err error
	// what names the structure for the error.
	what string
}

func newReader(what string, b []byte) *reader { return &reader{b: b, what: what} }

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = fmt.Errorf("%w: %s truncated", ErrCorrupt, r.what)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// uint reads an unsigned field of n bytes (0, 2, 4 or 8; iloc's sizes).
func (r *reader) uint(n int) uint64 {
	switch n {
	case 0:
		return 0
	case 2:
		return uint64(r.u16())
	case 4:
		return uint64(r.u32())
	case 8:
		return r.u64()
	}
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s field of %d bytes", ErrCorrupt, r.what, n)
	}
	return 0
}

// fourCC reads a four-character code.
func (r *reader) fourCC() string { return string(r.take(4)) }

// fullBox reads a full box's version and flags.
func (r *reader) fullBox() (version uint8, flags uint32) {
	v := r.u32()
	return uint8(v >> 24), v & 0xffffff
}

// cstring reads a NUL-terminated string; a missing NUL ends it at the end
// of the box, as some writers do.
func (r *reader) cstring() string {
	if r.err != nil {
		return ""
	}
	rest := r.b[r.off:]
	for i, c := range rest {
		if c == 0 {
			r.off += i + 1
			return string(rest[:i])
		}
	}
	r.off = len(r.b)
	return string(rest)
}

func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	p := r.b[r.off:]
	r.off = len(r.b)
	return p
}

// boxes splits b into the boxes it holds, at most max of them.
func boxes(what string, b []byte, max int) ([]box, error) {
	var out []box
	for len(b) > 0 {
		if len(out) == max {
			return nil, fmt.Errorf("%w: %s holds more than %d boxes", ErrUnsupported, what, max)
		}
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: %s: box header truncated", ErrCorrupt, what)
		}
		size := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		head := uint64(8)
		switch size {
		case 0: // to the end
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return nil, fmt.Errorf("%w: %s: box %q header truncated", ErrCorrupt, what, typ)
			}
			size, head = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < head || size > uint64(len(b)) {
			return nil, fmt.Errorf("%w: %s: box %q of %d bytes overruns its %d", ErrCorrupt, what, typ, size, len(b))
		}
		out = append(out, box{typ: typ, body: b[head:size]})
		b = b[size:]
	}
	return out, nil
}

// writer builds boxes.
type writer struct{ b []byte }

// open starts a box of type typ and returns where its size goes.
func (w *writer) open(typ string) int {
	at := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0)
	w.b = append(w.b, typ...)
	return at
}

// openFull starts a full box.
func (w *writer) openFull(typ string, version uint8, flags uint32) int {
	at := w.open(typ)
	w.u32(uint32(version)<<24 | flags)
	return at
}

// close sets the size of the box open started at at.
func (w *writer) close(at int) {
	binary.BigEndian.PutUint32(w.b[at:], uint32(len(w.b)-at))
}

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }

// raw appends a whole box of type typ holding body.
func (w *writer) raw(typ string, body []byte) {
	at := w.open(typ)
	w.b = append(w.b, body...)
	w.close(at)
}
