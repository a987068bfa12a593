package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/internal/door/doortest"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestWatchOnceFails checks that watch --once's single pass fails, like
// backfill, when the listing or any object fails.
func TestWatchOnceFails(t *testing.T) {
	good := pixeltest.JPEG(pixeltest.Photo(64, 48, 1), 90)
	tests := []struct {
		name    string
		objects map[string][]byte
		fault   *faultblob.Rule
		wantErr string // "" for success
		quiet   bool   // the error is errQuiet: already reported
		out     string
	}{
		{"all good", map[string][]byte{"a.jpg": good}, nil, "", false, "written     thumbnails/200x200/a.jpg"},
		{"an object fails", map[string][]byte{"a.jpg": good, "bad.jpg": good[:len(good)/2]}, nil,
			"1 objects failed", true, "failed      bad.jpg: corrupt image"},
		{"the listing fails", map[string][]byte{"a.jpg": good}, &faultblob.Rule{Op: faultblob.List, Times: 1},
			"list bucket", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memblob.OpenBucket(nil)
			defer mem.Close()
			for k, v := range tc.objects {
				if err := mem.WriteAll(ctx, k, v, nil); err != nil {
					t.Fatal(err)
				}
			}
			f := faultblob.New(1)
			if tc.fault != nil {
				f.Add(*tc.fault)
			}
			th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var out testserver.Buffer
			w := newWatcher(th, faultblob.Wrap(mem, f), &out)
			err = w.pass(ctx)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("pass: %v; want an error saying %q", err, tc.wantErr)
			}
			if errors.Is(err, errQuiet) != tc.quiet {
				t.Errorf("pass: %v; errQuiet %v, want %v", err, errors.Is(err, errQuiet), tc.quiet)
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("output lacks %q:\n%s", tc.out, out.String())
			}
		})
	}

	// The command exits non-zero too.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.png"), nil)
	out, _, err := runCmd(context.Background(), t, nil, "watch", "--bucket", dir, "--once")
	if !errors.Is(err, errQuiet) || !strings.Contains(out, "failed      bad.png: corrupt image") {
		t.Errorf("watch --once with a bad file: %v\n%s", err, out)
	}
}

// watchDoor delivers the suite's events to watch: whatever the event, watch
// learns of it from its next listing, so each delivery is one pass. Watch
// handles one pass at a time, so concurrent deliveries take turns.
type watchDoor struct {
	mu  sync.Mutex
	w   *watcher
	out *testserver.Buffer
}

func (d *watchDoor) Deliver(t *testing.T, dl doortest.Delivery) doortest.Answer {
	d.mu.Lock()
	defer d.mu.Unlock()
	before := len(d.out.String())
	if _, err := d.w.poll(context.Background(), true); err != nil {
		return doortest.Answer{Retry: true}
	}
	_, listed := d.w.seen[dl.Key]
	_, done := d.w.done[dl.Key]
	// A source still listed but not done, or gone but not yet cleaned up,
	// is tried again by the next pass.
	a := doortest.Answer{Retry: listed != done}
	for line := range strings.Lines(d.out.String()[before:]) {
		switch {
		case strings.HasPrefix(line, "written "):
			a.Written++
		case strings.HasPrefix(line, "failed ") && !a.Retry:
			a.Failed = strings.TrimSpace(line)
		}
	}
	return a
}

// TestWatchDeliveries runs the delivery conformance suite against watch.
func TestWatchDeliveries(t *testing.T) {
	doortest.Run(t, func(t *testing.T, src *blob.Bucket) doortest.Door {
		th, err := pipeline.NewThumbnailer(doortest.Config(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := &testserver.Buffer{}
		return &watchDoor{w: newWatcher(th, src, out), out: out}
	})
}
