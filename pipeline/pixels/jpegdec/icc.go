package jpegdec

import (
	"fmt"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
)

// iccMagic starts every APP2 segment that carries part of an ICC profile;
// a sequence number (from 1) and the segment count follow it.
const iccMagic = "ICC_PROFILE\x00"

// iccParts collects the APP2 ICC_PROFILE segments of one file. A profile
// may be split over up to 255 segments, which are put back together in
// sequence order, whatever order they come in.
type iccParts struct {
	count int      // segment count every segment declared; 0 before the first
	parts [][]byte // parts[seq-1]
	size  int      // bytes held
	bad   string   // why the profile is ignored; "" while it is fine
}

// add takes one APP2 payload that starts with iccMagic.
func (p *iccParts) add(seg []byte) {
	if p.bad != "" {
		return
	}
	if len(seg) < len(iccMagic)+2 {
		p.fail("short ICC_PROFILE segment")
		return
	}
	seq, count := int(seg[len(iccMagic)]), int(seg[len(iccMagic)+1])
	switch {
	case count == 0 || seq == 0 || seq > count:
		p.fail(fmt.Sprintf("ICC_PROFILE segment %d of %d", seq, count))
		return
	case p.count != 0 && count != p.count:
		p.fail(fmt.Sprintf("ICC_PROFILE segments disagree on their count (%d, then %d)", p.count, count))
		return
	}
	if p.count == 0 {
		p.count = count
		p.parts = make([][]byte, count)
	}
	if p.parts[seq-1] != nil {
		p.fail(fmt.Sprintf("ICC_PROFILE segment %d repeated", seq))
		return
	}
	data := seg[len(iccMagic)+2:]
	if p.size+len(data) > icc.MaxSize {
		p.fail(fmt.Sprintf("ICC profile exceeds %d bytes", icc.MaxSize))
		return
	}
	p.size += len(data)
	// Keep a copy: seg is the decoder's scratch buffer. An empty part
	// still counts as present.
	p.parts[seq-1] = append(make([]byte, 0, len(data)+1), data...)
}

// fail ignores the profile, keeping the first reason, and lets go of the
// parts read so far.
func (p *iccParts) fail(reason string) {
	p.bad, p.parts, p.size = reason, nil, 0
}

// profile returns the reassembled profile, or nil and why it is ignored;
// nil and "" when the file has none.
func (p *iccParts) profile() ([]byte, string) {
	if p.bad != "" {
		return nil, p.bad
	}
	if p.count == 0 {
		return nil, ""
	}
	out := make([]byte, 0, p.size)
	for i, part := range p.parts {
		if part == nil {
			return nil, fmt.Sprintf("ICC_PROFILE segment %d of %d missing", i+1, p.count)
		}
		out = append(out, part...)
	}
	if len(out) == 0 {
		return nil, "empty ICC profile"
	}
	return out, ""
}

// processAPP2 reads an ICC_PROFILE segment. Like Exif, only segments
// before the frame header count, so DecodeConfig and Decode agree.
func (d *decoder) processAPP2(n int) error {
	if d.sofSeen || n < len(iccMagic) {
		return d.skip(n)
	}
	p, err := d.readSegment(n)
	if err != nil {
		return err
	}
	if string(p[:len(iccMagic)]) == iccMagic {
		d.icc.add(p)
	}
	return nil
}
