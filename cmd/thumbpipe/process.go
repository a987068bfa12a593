package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// target is what every bucket command works on: the bucket and a
// Thumbnailer for the settings the flags and environment give.
type target struct {
	cache    buckets.Cache
	bucket   *blob.Bucket
	th       *pipeline.Thumbnailer
	settings envconfig.Settings
	// events publishes the completion events (nil: none), naming the
	// bucket as name.
	events *events.Publisher
	name   string
}

// bucketFlags registers the flags of the settings the command fs is named
// after reads (--bucket and the pipeline's; backfill's --prefix and
// --concurrency) and returns a function that, after parsing, reads them
// and opens what they name.
func bucketFlags(fs *flag.FlagSet, e env) func(ctx context.Context) (*target, error) {
	p := programs[fs.Name()]
	getenv := envconfig.Flags(fs, p, e.getenv)
	return func(ctx context.Context) (*target, error) {
		st, err := envconfig.Read(p, getenv)
		if err != nil {
			return nil, err
		}
		u, err := bucketURL(st.Bucket)
		if err != nil {
			return nil, err
		}
		t := &target{settings: st, name: bucketName(u)}
		if t.events, err = events.New(st.EventsTopic); err != nil {
			return nil, err
		}
		if t.bucket, err = t.cache.Open(ctx, u); err != nil {
			return nil, err
		}
		if t.th, err = buckets.NewThumbnailer(ctx, st.Pipeline, st.OutputBucket, &t.cache); err != nil {
			t.cache.Close()
			return nil, err
		}
		return t, nil
	}
}

// Close flushes the completion events and closes the buckets.
func (t *target) Close() error { return errors.Join(t.events.Close(), t.cache.Close()) }

// door returns the door the command's events go through, publishing the
// completion events.
func (t *target) door(dryRun bool) *door.Door {
	return eventsDoor(t.th, t.bucket, dryRun, t.events, t.name)
}

// bucketName names a bucket URL's bucket in completion events: its host
// (s3://photos), else its last path element (file:///srv/photos).
func bucketName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.Host != "" {
		return u.Host
	}
	if b := path.Base(u.Path); b != "/" && b != "." {
		return b
	}
	return u.Scheme
}

// bucketDoor returns the door the command line's events go through: every
// event is about bucket b (Event.Bucket stays empty), the door's one line
// per event is not logged (the commands print their own), and with dryRun
// nothing is written.
func bucketDoor(th *pipeline.Thumbnailer, b *blob.Bucket, dryRun bool) *door.Door {
	return eventsDoor(th, b, dryRun, nil, "")
}

// eventsDoor is bucketDoor publishing the completion events through pub
// (nil: none), which name the bucket as name.
func eventsDoor(th *pipeline.Thumbnailer, b *blob.Bucket, dryRun bool, pub *events.Publisher, name string) *door.Door {
	d, err := door.New(door.Config{
		Thumbnailer: th,
		Open:        buckets.OpenerFunc(func(context.Context, string) (*blob.Bucket, error) { return b, nil }),
		DryRun:      dryRun,
		Logger:      slog.New(slog.DiscardHandler),
		Events:      pub,
		EventBucket: name,
	})
	if err != nil {
		panic(err) // the opener is set: cannot fail
	}
	return d
}

func runProcess(ctx context.Context, args []string, e env) error {
	fs := newFlags("process", "--bucket URL [flags] KEY...", e)
	open := bucketFlags(fs, e)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: process needs at least one KEY", errUsage)
	}
	t, err := open(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	d := t.door(false)
	failed := 0
	for _, key := range fs.Args() {
		o := d.Handle(ctx, door.Event{Key: key, Action: door.Created})
		report(e.stdout, o)
		if o.Failed() || o.Status == door.Refused {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d keys failed: %w", failed, fs.NArg(), errQuiet)
	}
	return nil
}

// report prints one line per thumbnail an event made or removed, or one
// line saying why its source was skipped or failed.
func report(w io.Writer, o door.Outcome) {
	switch {
	case o.Err != nil:
		fmt.Fprintf(w, "failed      %s: %v\n", o.Key, reason(o.Err))
	case o.Failed():
		fmt.Fprintf(w, "failed      %s: %s\n", o.Key, o.Reason)
	case o.Status == door.Skipped:
		fmt.Fprintf(w, "skipped     %s: %s\n", o.Key, o.Reason)
	case o.Action == door.Removed:
		for _, k := range o.Removed {
			fmt.Fprintf(w, "%-11s %s\n", "deleted", k)
		}
	default:
		for _, v := range o.Variants {
			if v.Status == pipeline.Written {
				fmt.Fprintf(w, "%-11s %s (%dx%d, %d bytes)\n", v.Status, v.Key, v.Width, v.Height, v.Bytes)
			} else {
				fmt.Fprintf(w, "%-11s %s\n", v.Status, v.Key)
			}
		}
	}
}

// reason is err without the *pipeline.Error wrapper, whose key the line
// already names.
func reason(err error) error {
	var pe *pipeline.Error
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// dirURL returns the file:// URL of a directory, creating it if needed.
func dirURL(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("bucket folder: %w", err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}
