package pixels

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/image/webp"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
)

// webpHeader reads a WebP's header with [webp.DecodeConfig] and, from an
// extended (VP8X) file that says it has one, the ICCP chunk's profile.
func webpHeader(r io.Reader) (Config, error) {
	var head bytes.Buffer
	profile, ignored := webpICC(io.TeeReader(r, &head))
	c, err := stdHeader(webp.DecodeConfig, 1)(io.MultiReader(&head, r))
	if err != nil {
		return Config{}, err
	}
	c.ICC, c.ICCIgnored = profile, ignored
	return c, nil
}

// webpICC reads the RIFF header and the chunks up to the ICCP chunk, which
// the format puts right after VP8X. It returns nil and "" for a file
// without a profile, and nil and the reason for one whose profile it
// leaves out; a malformed file is left for the decoder to refuse.
func webpICC(r io.Reader) ([]byte, string) {
	// RIFF header (12) and the first chunk's header (8).
	var h [20]byte
	if _, err := io.ReadFull(r, h[:]); err != nil || string(h[12:16]) != "VP8X" {
		return nil, ""
	}
	var vp8x [10]byte
	if binary.LittleEndian.Uint32(h[16:]) < uint32(len(vp8x)) {
		return nil, ""
	}
	if _, err := io.ReadFull(r, vp8x[:]); err != nil || vp8x[0]&0x20 == 0 { // the ICC flag
		return nil, ""
	}
	if n := binary.LittleEndian.Uint32(h[16:]) - uint32(len(vp8x)); n > 0 {
		// A longer VP8X than the format defines: skip the rest, padded.
		if _, err := io.CopyN(io.Discard, r, int64(n+n&1)); err != nil {
			return nil, ""
		}
	}
	var ch [8]byte
	if _, err := io.ReadFull(r, ch[:]); err != nil {
		return nil, ""
	}
	if string(ch[:4]) != "ICCP" {
		return nil, fmt.Sprintf("WebP says it has an ICC profile, but a %q chunk follows VP8X", ch[:4])
	}
	n := binary.LittleEndian.Uint32(ch[4:])
	if n > icc.MaxSize {
		return nil, fmt.Sprintf("ICC profile of %d bytes exceeds %d bytes", n, icc.MaxSize)
	}
	profile := make([]byte, n)
	if _, err := io.ReadFull(r, profile); err != nil {
		return nil, "ICCP chunk truncated"
	}
	return profile, ""
}
