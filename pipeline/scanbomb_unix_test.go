//go:build unix

package pipeline_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestScanBombCPU processes a JPEG of 45,000 repeats of one scan, which
// took 76 s of CPU before progressions were checked: it is refused as
// corrupt, permanently, for under a second of the process's CPU time
// (getrusage: a resource bound, not a wall-clock timing).
func TestScanBombCPU(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bomb := pixeltest.ScanBomb(4096, 4096, 45000)
	if err := b.WriteAll(ctx, "scan-bomb.jpg", bomb, nil); err != nil {
		t.Fatal(err)
	}
	runtime.GC() // no earlier garbage is collected during the call
	before := pixeltest.CPUTime(t)
	_, err = th.Process(ctx, b, "scan-bomb.jpg")
	used := pixeltest.CPUTime(t) - before
	t.Logf("%d bytes: refused after %v of CPU: %v", len(bomb), used, err)
	if !errors.Is(err, pipeline.ErrCorrupt) || pipeline.Retryable(err) || !strings.Contains(err.Error(), "bogus progression") {
		t.Errorf("got %v; want a permanent ErrCorrupt for a bogus progression", err)
	}
	if used > time.Second {
		t.Errorf("refusing it took %v of CPU", used)
	}
}
