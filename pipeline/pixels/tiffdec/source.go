package tiffdec

import (
	"errors"
	"fmt"
	"io"
)

// source reads the file at offsets. release tells it that no byte before
// off will be read again.
type source interface {
	io.ReaderAt
	release(off int64)
}

// Holder is a stream that already holds its first bytes, such as the
// reader pixels.ReadConfig returns after reading a header: Held returns
// them and the reader of the bytes after them. Decode reads the held bytes
// where they are, without a copy.
type Holder interface {
	io.Reader
	Held() (held []byte, rest io.Reader)
}

// newSource reads r at offsets: directly when r is an [io.ReaderAt],
// otherwise through a window, which starts with the bytes a [Holder]
// holds.
func newSource(r io.Reader) source {
	if ra, ok := r.(io.ReaderAt); ok {
		return readerAt{ra}
	}
	if h, ok := r.(Holder); ok {
		held, rest := h.Held()
		n := int64(len(held))
		return &window{r: rest, held: held, base: n, end: n}
	}
	return &window{r: r}
}

// readerAt is a source over an [io.ReaderAt], which holds nothing.
type readerAt struct{ io.ReaderAt }

func (readerAt) release(int64) {}

// chunkSize is the unit a window reads and frees its stream in.
const chunkSize = 64 << 10

// window reads a stream at offsets, holding what it has read from the
// lowest offset still wanted: the stream is read forward only, bytes
// before the release mark are freed a chunk at a time, and bytes wholly
// before it are skipped without being held.
type window struct {
	r io.Reader
	// held is the bytes [0, len(held)), lent by a Holder, which keeps
	// them: they are read where they are and never freed.
	held []byte
	// chunks hold the bytes [base, end); every chunk but the last is full.
	chunks [][]byte
	base   int64
	end    int64
	// mark is the lowest offset that may still be read.
	mark int64
	err  error
}

// errReleased means a read asked for bytes the window had freed: the
// decoder's own bookkeeping failed.
var errReleased = errors.New("tiffdec: internal error: data read after it was released")

// fill reads the stream until it has the bytes before to.
func (w *window) fill(to int64) {
	for w.end < to && w.err == nil {
		if len(w.chunks) == 0 && w.end < w.mark {
			n, err := io.CopyN(io.Discard, w.r, w.mark-w.end)
			w.end += n
			w.base = w.end
			if err != nil {
				w.err = err
			}
			continue
		}
		if len(w.chunks) == 0 || len(w.chunks[len(w.chunks)-1]) == chunkSize {
			w.chunks = append(w.chunks, make([]byte, 0, chunkSize))
		}
		c := w.chunks[len(w.chunks)-1]
		n, err := w.r.Read(c[len(c):cap(c)])
		w.chunks[len(w.chunks)-1] = c[:len(c)+n]
		w.end += int64(n)
		if err != nil {
			w.err = err
		}
	}
}

func (w *window) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("tiffdec: negative offset %d", off)
	}
	n := 0
	if off < int64(len(w.held)) {
		n = copy(p, w.held[off:])
	}
	if n == len(p) {
		return n, nil
	}
	if off+int64(n) < w.base {
		return 0, errReleased
	}
	w.fill(off + int64(len(p)))
	for n < len(p) && off+int64(n) < w.end {
		rel := off + int64(n) - w.base
		c := w.chunks[rel/chunkSize]
		n += copy(p[n:], c[rel%chunkSize:])
	}
	if n < len(p) {
		if w.err != nil && w.err != io.EOF {
			return n, w.err
		}
		return n, io.EOF
	}
	return n, nil
}

func (w *window) release(off int64) {
	if off <= w.mark {
		return
	}
	w.mark = off
	for len(w.chunks) > 0 {
		c := w.chunks[0]
		if w.base+int64(len(c)) > off {
			break
		}
		if len(c) < chunkSize { // the last chunk, partial: all read is freed
			w.chunks = w.chunks[:0]
			w.base = w.end
			break
		}
		w.chunks[0] = nil
		w.chunks = w.chunks[1:]
		w.base += chunkSize
	}
}

// segment reads the bytes [off, end) of a source in order, releasing
// them as it goes down to keep, the lowest offset later reads need.
type segment struct {
	src       source
	off, end  int64
	keep      int64
	truncated bool
}

func (s *segment) Read(p []byte) (int, error) {
	if s.off >= s.end {
		return 0, io.EOF
	}
	if int64(len(p)) > s.end-s.off {
		p = p[:s.end-s.off]
	}
	n, err := s.src.ReadAt(p, s.off)
	s.off += int64(n)
	s.src.release(min(s.off, s.keep))
	if err == io.EOF {
		if s.off < s.end {
			s.truncated = true
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	return n, err
}
