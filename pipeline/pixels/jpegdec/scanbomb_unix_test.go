//go:build unix

package jpegdec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestScanBomb: 45,000 repeats of one AC first scan are refused as a
// bogus progression at the second, at every scale, for well under a
// second of the process's CPU time (a resource bound, measured with
// getrusage, not a wall-clock timing).
func TestScanBomb(t *testing.T) {
	bomb := pixeltest.ScanBomb(4096, 4096, 45000)
	t.Logf("scan bomb: %d bytes", len(bomb))
	for _, scale := range []int{1, 8} {
		before := pixeltest.CPUTime(t)
		_, _, err := Decode(bytes.NewReader(bomb), Options{Scale: scale})
		used := pixeltest.CPUTime(t) - before
		var fe FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "sent again") {
			t.Errorf("at 1/%d: got %v, want a bogus progression", scale, err)
		}
		t.Logf("at 1/%d: refused after %v of CPU: %v", scale, used, err)
		if used > time.Second {
			t.Errorf("at 1/%d: refusing it took %v of CPU", scale, used)
		}
	}
}
