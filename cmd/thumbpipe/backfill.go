package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

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
	fs := newFlags("backfill", "--bucket URL [--prefix P] [--dry-run] [--retry-failed] [--concurrency N] [--checkpoint FILE [--resume]] [flags]", e)
	open := bucketFlags(fs, e) // with --prefix and --concurrency
	dryRun := fs.Bool("dry-run", false, "report what would be written; write nothing")
	quiet := fs.Bool("quiet", false, "print only failures and the summary")
	checkpoint := fs.String("checkpoint", "", "save the progress to this `file` as the run goes, for --resume after an interruption")
	resume := fs.Bool("resume", false, "continue from the --checkpoint file of an interrupted run instead of from the start")
	retryFailed := fs.Bool("retry-failed", false, "process only the sources with a failure record (see thumbpipe failures)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *resume && *checkpoint == "" {
		return fmt.Errorf("%w: --resume needs --checkpoint FILE, the file the interrupted run saved its progress to", errUsage)
	}
	if *retryFailed && *checkpoint != "" {
		// The failure records are not listed in source-key order, which a
		// checkpoint needs; a retry run is short and harmless to repeat.
		return fmt.Errorf("%w: --retry-failed and --checkpoint cannot be combined", errUsage)
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
	u, _ := bucketURL(t.settings.Bucket) // opened already: it parses
	b := &backfiller{door: t.door(*dryRun), bucket: t.bucket, prefix: t.settings.BackfillPrefix, cfg: t.th.Config(), workers: n}
	if *retryFailed {
		failed, err := failedSources(ctx, t.th, t.bucket, b.prefix)
		if err != nil {
			return err
		}
		b.list = func(yield func(*blob.ListObject, error) bool) {
			for _, o := range failed {
				if !yield(o, nil) {
					return
				}
			}
		}
	}
	var cp *checkpointFile
	if *checkpoint != "" && !*dryRun {
		cp = &checkpointFile{path: *checkpoint, Bucket: u, Prefix: b.prefix}
		if *resume {
			if b.after, err = cp.load(); err != nil {
				return err
			}
			if b.after != "" {
				fmt.Fprintf(e.stderr, "resuming after %q\n", b.after)
			}
		}
		b.save = cp.save
	}
	bar := progress(e.stderr)
	b.observe = func(o door.Outcome) {
		if o.Status != door.Done && o.Status != door.UpToDate && o.Status != door.Skipped || !*quiet {
			report(e.stdout, o)
		}
		if bar != nil {
			bar.Add(1)
		}
	}

	sum, complete, err := b.run(ctx)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(e.stderr)
	}
	fmt.Fprintln(e.stdout, sum)
	if cp != nil && complete {
		if err := cp.remove(); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		if cp != nil {
			return fmt.Errorf("backfill interrupted (run again with --resume to continue): %w", err)
		}
		return fmt.Errorf("backfill interrupted: %w", err)
	}
	if sum.failed > 0 {
		return fmt.Errorf("%d objects failed: %w", sum.failed, errQuiet)
	}
	return nil
}

// DefaultWindow bounds how far a backfill's dispatch runs ahead of its
// oldest unfinished key: the keys it remembers.
const DefaultWindow = 4096

// backfiller makes the thumbnails of every source in a bucket, streaming
// the listing into a bounded pool of workers: its memory does not grow with
// the bucket. It records its progress as a checkpoint, the last key before
// which every key (in listing order) is done, so that a run interrupted and
// resumed repeats at most the keys that were in flight.
type backfiller struct {
	door    *door.Door
	bucket  *blob.Bucket
	prefix  string
	cfg     pipeline.Config
	workers int
	// list lists the keys to process, in key order; nil: the sources
	// under prefix.
	list iter.Seq2[*blob.ListObject, error]
	// window bounds the keys dispatched past the oldest unfinished one.
	// Default DefaultWindow.
	window int
	// after, when set, resumes a run: the keys up to it in listing order
	// are done.
	after string
	// save, when set, records the checkpoint every saveEvery keys and at
	// the end (default 1000).
	save      func(key string) error
	saveEvery int
	// observe, when set, sees every outcome, one at a time.
	observe func(door.Outcome)
}

// job is one key to process, numbered in listing order.
type job struct {
	seq int
	key string
}

// finished is a job's result as the checkpoint needs it.
type finished struct {
	key  string
	done bool // false: failed transiently, to do again
}

// run processes every source after b.after. It returns the tally and
// whether every key was done (nothing failed transiently, nothing left
// undone); it fails only if the listing or saving the checkpoint does.
func (b *backfiller) run(ctx context.Context) (tally, bool, error) {
	window, saveEvery := b.window, b.saveEvery
	if window <= 0 {
		window = DefaultWindow
	}
	if saveEvery <= 0 {
		saveEvery = 1000
	}
	var (
		mu         sync.Mutex
		sum        tally
		pending    = map[int]finished{} // finished jobs past next
		next       int                  // the oldest job not finished
		checkpoint = b.after
		frozen     bool // a key failed transiently: the checkpoint stays before it
		unsaved    int
		saveErr    error
		slots      = make(chan struct{}, window)
		jobs       = make(chan job)
		wg         sync.WaitGroup
	)
	saveLocked := func() {
		if b.save == nil || saveErr != nil {
			return
		}
		if err := b.save(checkpoint); err != nil {
			saveErr = fmt.Errorf("save the checkpoint: %w", err)
		}
		unsaved = 0
	}
	finish := func(j job, o door.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		sum.add(o)
		if b.observe != nil {
			b.observe(o)
		}
		pending[j.seq] = finished{key: j.key, done: o.Status != door.FailedTransient}
		for {
			f, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-slots
			if frozen = frozen || !f.done; !frozen {
				checkpoint = f.key
				unsaved++
			}
		}
		if unsaved >= saveEvery {
			saveLocked()
		}
	}
	for range b.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				finish(j, b.door.Handle(ctx, door.Event{Key: j.key, Action: door.Created}))
			}
		}()
	}

	var listErr error
	seq := 0
	passed := b.after == ""
	list := b.list
	if list == nil {
		list = sources(ctx, b.bucket, b.prefix, b.cfg)
	}
dispatch:
	for o, err := range list {
		if err != nil {
			if ctx.Err() == nil {
				listErr = err
			}
			break
		}
		if !passed {
			// Skip up to the checkpoint's key, or, if that is gone, up to
			// the first key after it (listings come in key order). A
			// listing that strays from key order (fileblob lists "a/b"
			// before "a-c") only makes keys be done again, never skipped.
			passed = o.Key >= b.after
			if !passed || o.Key == b.after {
				continue
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break dispatch
		}
		select {
		case jobs <- job{seq: seq, key: o.Key}:
			seq++
		case <-ctx.Done():
			<-slots
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	complete := listErr == nil && ctx.Err() == nil && !frozen && next == seq
	if !complete {
		saveLocked()
	}
	return sum, complete, errors.Join(listErr, saveErr)
}

// listPageSize is how many objects one listing call asks for (S3 answers
// at most 1,000): memory holds one page at a time.
const listPageSize = 5000

// sources yields the objects under prefix that cfg selects as sources,
// page by page: outside the output prefix, matching the include globs and
// no exclude glob. Backfill and watch consider only these.
func sources(ctx context.Context, b *blob.Bucket, prefix string, cfg pipeline.Config) iter.Seq2[*blob.ListObject, error] {
	return func(yield func(*blob.ListObject, error) bool) {
		opts := &blob.ListOptions{Prefix: prefix}
		token := blob.FirstPageToken
		for len(token) > 0 {
			page, next, err := b.ListPage(ctx, token, listPageSize, opts)
			if err != nil {
				yield(nil, fmt.Errorf("list bucket: %w", err))
				return
			}
			for _, o := range page {
				if ok, _ := cfg.Selects(o.Key); ok && !o.IsDir && !yield(o, nil) {
					return
				}
			}
			token = next
		}
	}
}

// listSources lists the sources under prefix (see sources) at once.
func listSources(ctx context.Context, b *blob.Bucket, prefix string, cfg pipeline.Config) ([]*blob.ListObject, error) {
	var objs []*blob.ListObject
	for o, err := range sources(ctx, b, prefix, cfg) {
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// checkpointFile is a backfill's saved progress: the bucket and prefix it
// is about, and the key up to which (in listing order) every key is done.
type checkpointFile struct {
	path   string
	Bucket string    `json:"bucket"`
	Prefix string    `json:"prefix"`
	After  string    `json:"after"`
	Time   time.Time `json:"time"`
}

// load returns the key to resume after: "" when there is no checkpoint
// (the previous run finished, or never saved one).
func (c *checkpointFile) load() (string, error) {
	data, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the checkpoint: %w", err)
	}
	var saved checkpointFile
	if err := json.Unmarshal(data, &saved); err != nil {
		return "", fmt.Errorf("checkpoint %s is not one backfill wrote: %w", c.path, err)
	}
	if saved.Bucket != c.Bucket || saved.Prefix != c.Prefix {
		return "", fmt.Errorf("%w: checkpoint %s is about bucket %s, prefix %q, not bucket %s, prefix %q",
			errUsage, c.path, saved.Bucket, saved.Prefix, c.Bucket, c.Prefix)
	}
	return saved.After, nil
}

// save replaces the checkpoint, atomically: an interruption leaves the
// previous one or this one, never a torn file.
func (c *checkpointFile) save(after string) error {
	c.After, c.Time = after, time.Now().UTC()
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}

// remove deletes the checkpoint of a finished run.
func (c *checkpointFile) remove() error {
	if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the checkpoint: %w", err)
	}
	return nil
}

// progress returns a progress bar (of an unknown total) on w when w is a
// terminal, else nil.
func progress(w io.Writer) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	return progressbar.NewOptions(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("thumbnails"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100_000_000))
}
