package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

func runWatch(ctx context.Context, args []string, e env) error {
	fs := newFlags("watch", "--bucket DIR|URL [--interval D] [flags]", e)
	open := bucketFlags(fs, e)
	interval := fs.Duration("interval", 250*time.Millisecond, "how often the bucket is listed")
	once := fs.Bool("once", false, "make one pass and exit (what a cron job wants)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *interval <= 0 {
		return fmt.Errorf("%w: --interval must be positive", errUsage)
	}
	t, err := open(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	w := newWatcher(t.th, t.bucket, e.stdout)
	w.door = t.door(false)
	fmt.Fprintf(e.stderr, "watching for images; thumbnails go under %q (Ctrl-C to stop)\n", t.th.Config().Prefix)
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	if *once {
		return w.pass(ctx)
	}
	for {
		if _, err := w.poll(ctx, false); err != nil && ctx.Err() == nil {
			fmt.Fprintf(e.stderr, "thumbpipe: %v (retrying)\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// version is what a listing says of an object: enough to see it change.
type version struct {
	mod  time.Time
	size int64
}

// watcher turns successive listings of a bucket into Process and Delete
// calls. An object is processed once it has looked the same in two listings
// in a row, so a file still being copied in is not read half-written.
type watcher struct {
	door   *door.Door
	cfg    pipeline.Config
	bucket *blob.Bucket
	out    io.Writer
	seen   map[string]version // every source in the last listing
	done   map[string]version // sources handled at this version
}

// newWatcher returns a watcher of bucket that makes thumbnails with th and
// prints what it does to out.
func newWatcher(th *pipeline.Thumbnailer, bucket *blob.Bucket, out io.Writer) *watcher {
	return &watcher{door: bucketDoor(th, bucket, false), cfg: th.Config(), bucket: bucket, out: out,
		seen: map[string]version{}, done: map[string]version{}}
}

// pass is watch --once: one poll that processes every source now. Like
// backfill, it fails when the listing or any object failed, or when it was
// interrupted.
func (w *watcher) pass(ctx context.Context) error {
	sum, err := w.poll(ctx, true)
	if ctx.Err() != nil {
		return fmt.Errorf("watch interrupted: %w", ctx.Err())
	}
	if err != nil {
		return err
	}
	if sum.failed > 0 {
		return fmt.Errorf("%d objects failed: %w", sum.failed, errQuiet)
	}
	return nil
}

// poll lists the bucket once and processes (now: every source not handled
// at its version yet) and deletes what the listing calls for. It counts
// what it did to the sources in a tally, and fails only if the listing does.
func (w *watcher) poll(ctx context.Context, now bool) (tally, error) {
	var sum tally
	sources, err := listSources(ctx, w.bucket, "", w.cfg)
	if err != nil {
		return sum, err
	}
	current := map[string]version{}
	for _, o := range sources {
		current[o.Key] = version{mod: o.ModTime, size: o.Size}
	}
	for key, v := range current {
		if d, ok := w.done[key]; ok && d == v {
			continue
		}
		if prev, ok := w.seen[key]; !now && (!ok || prev != v) {
			continue // new or still changing: look again next time
		}
		o := w.door.Handle(ctx, door.Event{Key: key, Action: door.Created})
		sum.add(o)
		report(w.out, o)
		if !o.Retry() {
			w.done[key] = v
		}
	}
	for key := range w.done {
		if _, ok := current[key]; ok {
			continue
		}
		o := w.door.Handle(ctx, door.Event{Key: key, Action: door.Removed})
		report(w.out, o)
		if o.Failed() {
			sum.add(o)
		}
		if !o.Retry() {
			delete(w.done, key)
		}
	}
	w.seen = current
	return sum, nil
}
