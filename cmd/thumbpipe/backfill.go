package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// tally counts what a run did to its sources, from their outcomes.
type tally struct {
	processed, upToDate, skipped, failed int
}

func (t *tally) add(o door.Outcome) {
	switch o.Status {
	case door.Done:
		t.processed++
	case door.UpToDate:
		t.upToDate++
	case door.Skipped:
		t.skipped++
	default: // refused, failed or dropped
		t.failed++
	}
}

func (t tally) String() string {
	return fmt.Sprintf("processed %d, up-to-date %d, skipped %d, failed %d", t.processed, t.upToDate, t.skipped, t.failed)
}

func runBackfill(ctx context.Context, args []string, e env) error {
	fs := newFlags("backfill", "--bucket URL [--prefix P] [--dry-run] [--concurrency N] [flags]", e)
	open := bucketFlags(fs, e) // with --prefix and --concurrency
	dryRun := fs.Bool("dry-run", false, "report what would be written; write nothing")
	quiet := fs.Bool("quiet", false, "print only failures and the summary")
	if err := parse(fs, args); err != nil {
		return err
	}
	t, err := open(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	n := t.settings.Concurrency
	if n == 0 {
		n = runtime.NumCPU()
	}
	d := t.door(*dryRun)

	sources, err := listSources(ctx, t.bucket, t.settings.BackfillPrefix, t.th.Config())
	if err != nil {
		return err
	}
	bar := progress(e.stderr, len(sources))
	var (
		mu   sync.Mutex
		sum  tally
		jobs = make(chan string)
		wg   sync.WaitGroup
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range jobs {
				o := d.Handle(ctx, door.Event{Key: key, Action: door.Created})
				mu.Lock()
				sum.add(o)
				if o.Status != door.Done && o.Status != door.UpToDate && o.Status != door.Skipped || !*quiet {
					report(e.stdout, o)
				}
				if bar != nil {
					bar.Add(1)
				}
				mu.Unlock()
			}
		}()
	}
	for _, o := range sources {
		if ctx.Err() != nil {
			break
		}
		jobs <- o.Key
	}
	close(jobs)
	wg.Wait()
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(e.stderr)
	}
	fmt.Fprintln(e.stdout, sum)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backfill interrupted: %w", err)
	}
	if sum.failed > 0 {
		return fmt.Errorf("%d objects failed: %w", sum.failed, errQuiet)
	}
	return nil
}

// listSources lists the objects under prefix that cfg selects as sources:
// outside the output prefix, matching the include globs and no exclude
// glob. Backfill and watch consider only these.
func listSources(ctx context.Context, b *blob.Bucket, prefix string, cfg pipeline.Config) ([]*blob.ListObject, error) {
	var objs []*blob.ListObject
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list bucket: %w", err)
		}
		if ok, _ := cfg.Selects(o.Key); ok && !o.IsDir {
			objs = append(objs, o)
		}
	}
}

// progress returns a progress bar on w when w is a terminal, else nil.
func progress(w io.Writer, total int) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	return progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("thumbnails"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100_000_000))
}
