package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestMemoryGate: decodes share the budget; one that does not fit waits
// for memory to be given back, and gets a transient ErrBusy when it does
// not come in time; a cancelled context ends the wait with its error.
func TestMemoryGate(t *testing.T) {
	ctx := context.Background()
	g := pipeline.NewMemoryGate(100, 0)
	a, err := g.Admit(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Admit(ctx, 40)
	if err != nil {
		t.Fatalf("60 + 40 of 100: %v", err)
	}
	_, err = g.Admit(ctx, 1)
	if !errors.Is(err, pipeline.ErrBusy) || !pipeline.Retryable(err) {
		t.Fatalf("over the budget: got %v, want a retryable ErrBusy", err)
	}
	a()
	a() // giving back twice gives back once
	if _, err := g.Admit(ctx, 61); !errors.Is(err, pipeline.ErrBusy) {
		t.Fatalf("61 with 60 free: got %v, want ErrBusy", err)
	}
	c, err := g.Admit(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	b()
	c()

	// More than the whole budget waits for all of it.
	big, err := g.Admit(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// A waiting decode is admitted once the memory is given back.
	waiting := pipeline.NewMemoryGate(100, time.Hour)
	first, _ := waiting.Admit(ctx, 100)
	admitted := make(chan error)
	go func() {
		release, err := waiting.Admit(ctx, 50)
		if err == nil {
			release()
		}
		admitted <- err
	}()
	first()
	if err := <-admitted; err != nil {
		t.Fatalf("waiting decode: %v", err)
	}
	big()

	cctx, cancel := context.WithCancel(ctx)
	hold, _ := waiting.Admit(ctx, 100)
	cancel()
	if _, err := waiting.Admit(cctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v", err)
	}
	hold()
}

// recorder is an Admitter that records what it is asked and given back.
type recorder struct {
	mu       sync.Mutex
	asked    []int64
	released int
}

func (r *recorder) Admit(_ context.Context, n int64) (func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, n)
	return func() { r.mu.Lock(); r.released++; r.mu.Unlock() }, nil
}

// TestAdmit: the Thumbnailer asks Config.Admit for the decode's estimate
// once the header is read, only for an image it decodes, and gives it
// back when done.
func TestAdmit(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	photo := pixeltest.JPEG(pixeltest.Photo(640, 480, 1), 90)
	if err := b.WriteAll(ctx, "a.jpg", photo, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "bomb.png", pixeltest.PNGBomb(60000, 60000), nil); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg := pipeline.DefaultConfig()
	cfg.Admit = rec
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := th.Process(ctx, b, "a.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Process(ctx, b, "a.jpg"); err != nil { // up to date: not decoded
		t.Fatal(err)
	}
	if _, err := th.Process(ctx, b, "bomb.png"); !errors.Is(err, pipeline.ErrTooManyPixels) {
		t.Fatalf("bomb: %v", err)
	}
	c, err := pixels.DecodeConfig(photo)
	if err != nil {
		t.Fatal(err)
	}
	want := pixels.RenderMemory(c, []pixels.Output{{Width: 200, Height: 200, Mode: pixels.Fit, Format: pixels.JPEG}})
	if len(rec.asked) != 1 || rec.asked[0] != want || rec.released != 1 {
		t.Errorf("asked %v (want [%d]), released %d times (want 1)", rec.asked, want, rec.released)
	}
}
