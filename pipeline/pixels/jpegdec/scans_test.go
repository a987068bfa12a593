package jpegdec

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestProgression: scans that break the progression are refused with a
// FormatError that says how; files that follow it decode.
func TestProgression(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string // "" for a file that decodes
	}{
		{"first scan repeated", pixeltest.ScanBomb(64, 64, 2), "coefficient 1 of component 1 sent again"},
		{"refined twice at bit 0", pixeltest.ProgressionBomb(64, 64, 2), "refined at bit 0 after bit 0"},
		{"refined once", pixeltest.ProgressionBomb(64, 64, 1), ""},
		{"sent once", pixeltest.ScanBomb(64, 64, 1), ""},
		{"every bit of every coefficient", pixeltest.ManyScans(64, 64, 63*14), ""},
		{"refinement before the first scan", patchScan(t, pixeltest.ScanBomb(64, 64, 1), 1, 0x10), "refined before it was sent"},
		{"two bits at once", patchScan(t, pixeltest.ProgressionBomb(64, 64, 1), 2, 0x20), "a refinement from bit 2 to bit 0"},
		{"refined from a bit not sent", patchScan(t, pixeltest.ProgressionBomb(64, 64, 1), 2, 0x32), "refined at bit 2 after bit 1"},
		{"refined at the wrong bit", patchScan(t, pixeltest.ManyScans(64, 64, 2), 2, 0xCB), "refined at bit 11 after bit 13"},
	}
	for _, tt := range tests {
		_, _, err := Decode(bytes.NewReader(tt.data), Options{MaxScans: -1})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
}

// patchScan sets the Ah/Al byte of the file's n-th scan (0 is the first).
func patchScan(t *testing.T, data []byte, n int, ahal byte) []byte {
	t.Helper()
	data = bytes.Clone(data)
	for i := 0; i+3 < len(data); i++ {
		if data[i] != 0xFF || data[i+1] != mSOS {
			continue
		}
		if n > 0 {
			n--
			continue
		}
		length := int(data[i+2])<<8 | int(data[i+3])
		data[i+2+length-1] = ahal
		return data
	}
	t.Fatal("no such scan")
	return nil
}

// TestMaxScans: an image with more scans than the limit is refused with
// ErrTooManyScans, naming its count of scans and the limit; at or under
// the limit, or with no limit, it decodes.
func TestMaxScans(t *testing.T) {
	data := pixeltest.ManyScans(64, 64, 600) // and the DC scan
	tests := []struct {
		max  int
		want string
	}{
		{0, "JPEG has 601 scans, limit 500"},
		{10, "JPEG has 601 scans, limit 10"},
		{601, ""},
		{-1, ""},
	}
	for _, tt := range tests {
		_, _, err := Decode(bytes.NewReader(data), Options{MaxScans: tt.max})
		if tt.want == "" {
			if err != nil {
				t.Errorf("limit %d: %v", tt.max, err)
			}
			continue
		}
		if !errors.Is(err, ErrTooManyScans) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("limit %d: got %v, want ErrTooManyScans saying %q", tt.max, err, tt.want)
		}
	}
	// Cut short, the file's count is a lower bound.
	_, _, err := Decode(bytes.NewReader(data[:len(data)/2]), Options{MaxScans: 10})
	if !errors.Is(err, ErrTooManyScans) || !strings.Contains(err.Error(), "or more scans, limit 10") {
		t.Errorf("truncated: got %v", err)
	}
}

// TestDecodeContext: a cancelled context stops the decoder before its
// next scan, with the context's error.
func TestDecodeContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := DecodeContext(ctx, bytes.NewReader(pixeltest.ManyScans(64, 64, 10)), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if _, _, err := DecodeContext(context.Background(), bytes.NewReader(pixeltest.ManyScans(64, 64, 10)), Options{}); err != nil {
		t.Error(err)
	}
}
