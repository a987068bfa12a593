//go:build unix

package jpegdec

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestScanBomb: 45,000 repeats of one AC first scan are refused as a
// bogus progression at the second, at 1/8 (where a 200×200 thumbnail of
// a 4096×4096 image is decoded; the chroma's AC scans are still needed)
// and at full size, for well under a second of the process's CPU time (a
// resource bound, measured with getrusage, not a wall-clock timing). At
// full size the image is smaller: what is measured is the scans, not the
// coefficients a full-size decode allocates before its first scan.
func TestScanBomb(t *testing.T) {
	for _, tc := range []struct {
		side  uint16
		scale int
	}{{4096, 8}, {1024, 1}} {
		bomb := pixeltest.ScanBomb(tc.side, tc.side, 45000)
		runtime.GC() // no earlier garbage is collected during the call
		before := pixeltest.CPUTime(t)
		_, _, err := Decode(bytes.NewReader(bomb), Options{Scale: tc.scale})
		used := pixeltest.CPUTime(t) - before
		var fe FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "sent again") {
			t.Errorf("%d² at 1/%d: got %v, want a bogus progression", tc.side, tc.scale, err)
		}
		t.Logf("%d bytes, %d² at 1/%d: refused after %v of CPU: %v", len(bomb), tc.side, tc.scale, used, err)
		if used > time.Second {
			t.Errorf("%d² at 1/%d: refusing it took %v of CPU", tc.side, tc.scale, used)
		}
	}
}
