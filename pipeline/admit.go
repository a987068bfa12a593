package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy means the decode could not get its memory from Config.Admit in
// time: other decodes hold it. It is transient: the same object may be
// processed once they are done.
var ErrBusy = errors.New("busy: the decode memory is in use")

// Admitter admits decodes by the memory they need. Admit is called once
// the image's header is read, with the decode's estimate
// ([pixels.RenderMemory]), before any pixel is decoded; it returns when
// that much memory is the decode's, with the function that gives it back,
// or with an error that ends the processing (ErrBusy, the context's).
type Admitter interface {
	Admit(ctx context.Context, bytes int64) (release func(), err error)
}

// MemoryGate is an [Admitter] that shares a budget of memory among the
// decodes of a process: a weighted semaphore of that many bytes, from
// which each decode takes its estimate. A decode waits at most a set time
// for its share before it gets ErrBusy. It is safe for concurrent use.
type MemoryGate struct {
	budget int64
	wait   time.Duration
	sem    *semaphore.Weighted
}

// NewMemoryGate returns a MemoryGate of budget bytes whose decodes wait
// at most wait for their share (0: they do not wait). A decode that needs
// more than the whole budget waits for all of it.
func NewMemoryGate(budget int64, wait time.Duration) *MemoryGate {
	return &MemoryGate{budget: budget, wait: wait, sem: semaphore.NewWeighted(budget)}
}

// Budget returns the bytes the gate shares.
func (g *MemoryGate) Budget() int64 { return g.budget }

// Admit takes bytes of the budget, waiting for them at most the gate's
// wait, and returns the function that gives them back (once; it may be
// called more than once). Out of time it returns ErrBusy; when ctx ends
// first, ctx's error.
func (g *MemoryGate) Admit(ctx context.Context, bytes int64) (func(), error) {
	n := min(max(bytes, 0), g.budget)
	if !g.sem.TryAcquire(n) {
		wctx, cancel := context.WithTimeout(ctx, g.wait)
		err := g.sem.Acquire(wctx, n)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w: the decode needs %d bytes (%.1f MiB) of the %.1f MiB shared by decodes in progress, and waited %s",
				ErrBusy, bytes, mib(bytes), mib(g.budget), g.wait)
		}
	}
	released := false
	return func() {
		if !released {
			released = true
			g.sem.Release(n)
		}
	}, nil
}
