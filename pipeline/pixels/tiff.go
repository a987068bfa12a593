package pixels

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/tiffdec"
)

// tiffHeader reads a TIFF's first IFD with [tiffdec.DecodeConfig] and
// the ICC profile of its first image (tag 34675). TIFF is read at offsets,
// so the header step holds the file's bytes up to the last one it reads:
// the IFD and its arrays, at the end of many files. The reader ReadConfig
// gives reads at offsets over the bytes it keeps; another is read through
// a copy.
func tiffHeader(r io.Reader) (Config, error) {
	ra, ok := r.(io.ReaderAt)
	if !ok {
		ra = &streamReaderAt{r: r}
	}
	tc, err := tiffdec.DecodeConfig(io.NewSectionReader(ra, 0, 1<<62))
	if err != nil {
		return Config{}, err
	}
	depth := tc.BitsPerSample
	if depth < 8 || tc.Photometric == tiffdec.Palette {
		depth = 8 // decoded to 8 bits a sample
	}
	channels := 1
	if tc.Photometric == tiffdec.RGB || tc.Photometric == tiffdec.Palette {
		channels = 3
	}
	if tc.Alpha != tiffdec.NoAlpha {
		channels++
	}
	c := Config{Width: tc.Width, Height: tc.Height, Orientation: tc.Orientation,
		BitDepth: depth, Channels: channels, Frames: tc.Pages}
	c.ICC, c.ICCIgnored = tiffICC(ra)
	return c, nil
}

// tiffOptions are tiffdec's options for opts: the box picks the scale.
func tiffOptions(opts DecodeOptions) tiffdec.Options {
	o := tiffdec.Options{MaxPixels: opts.MaxPixels}
	if opts.Width > 0 && opts.Height > 0 {
		o.BoxWidth, o.BoxHeight = opts.Width, opts.Height
	}
	return o
}

// tiffMemory is tiffdec.MemoryEstimate for what c keeps of the header:
// the samples and the channels of the decoded image, the layout of strips
// or tiles taken at its costliest.
func tiffMemory(c Config, opts DecodeOptions) int64 {
	tc := tiffdec.Config{Width: c.Width, Height: c.Height, BitsPerSample: c.BitDepth, SamplesPerPixel: c.Channels,
		Photometric: tiffdec.RGB}
	if c.Channels <= 2 {
		tc.Photometric = tiffdec.BlackIsZero
	}
	if c.Channels == 2 || c.Channels == 4 {
		tc.Alpha = tiffdec.Unassociated
	}
	return tiffdec.MemoryEstimate(tc, tiffOptions(opts))
}

// streamReaderAt reads a stream at offsets, keeping what it has read.
type streamReaderAt struct {
	r   io.Reader
	buf []byte
	err error
}

func (s *streamReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	for int64(len(s.buf)) < off+int64(len(p)) && s.err == nil {
		n := max(64<<10, int(off+int64(len(p))-int64(len(s.buf))))
		start := len(s.buf)
		s.buf = append(s.buf, make([]byte, n)...)
		var got int
		got, s.err = io.ReadFull(s.r, s.buf[start:])
		s.buf = s.buf[:start+got]
		if errors.Is(s.err, io.ErrUnexpectedEOF) {
			s.err = io.EOF
		}
	}
	if off >= int64(len(s.buf)) {
		return 0, io.EOF
	}
	n := copy(p, s.buf[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// tiffICCTag is the TIFF tag of an embedded ICC profile.
const tiffICCTag = 34675

// tiffICC returns the profile of the first image of a TIFF, nil and "" when
// it has none, or nil and why it is left out.
func tiffICC(ra io.ReaderAt) ([]byte, string) {
	var h [8]byte
	if _, err := ra.ReadAt(h[:], 0); err != nil {
		return nil, ""
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if string(h[:2]) == "MM" {
		bo = binary.BigEndian
	}
	ifd := int64(bo.Uint32(h[4:]))
	var cnt [2]byte
	if _, err := ra.ReadAt(cnt[:], ifd); err != nil {
		return nil, ""
	}
	entries := make([]byte, 12*int(bo.Uint16(cnt[:])))
	if _, err := ra.ReadAt(entries, ifd+2); err != nil {
		return nil, ""
	}
	for e := entries; len(e) >= 12; e = e[12:] {
		if bo.Uint16(e) != tiffICCTag {
			continue
		}
		typ, n := bo.Uint16(e[2:]), bo.Uint32(e[4:])
		if typ != 1 && typ != 7 { // BYTE or UNDEFINED
			return nil, fmt.Sprintf("TIFF ICC profile tag of type %d", typ)
		}
		if n > icc.MaxSize {
			return nil, fmt.Sprintf("ICC profile of %d bytes exceeds %d bytes", n, icc.MaxSize)
		}
		if n <= 4 {
			return nil, "ICC profile too short"
		}
		profile := make([]byte, n)
		if _, err := ra.ReadAt(profile, int64(bo.Uint32(e[8:]))); err != nil {
			return nil, "ICC profile lies outside the TIFF file"
		}
		return profile, ""
	}
	return nil, ""
}
