package buckets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestLazyThumbnailer: the Thumbnailer is made once, on first use, even
// under concurrent calls; a failure to open the output bucket or an invalid
// config is returned and not kept.
func TestLazyThumbnailer(t *testing.T) {
	ctx := context.Background()
	out := memblob.OpenBucket(nil)
	defer out.Close()
	down := errors.New("storage unavailable")
	var opens atomic.Int32
	var fail atomic.Bool
	fail.Store(true)
	open := OpenerFunc(func(_ context.Context, url string) (*blob.Bucket, error) {
		opens.Add(1)
		if url != "mem://thumbs" {
			t.Errorf("opened %s, want the output bucket", url)
		}
		if fail.Load() {
			return nil, down
		}
		return out, nil
	})
	cfg := pipeline.DefaultConfig()
	l := NewLazyThumbnailer(cfg, "mem://thumbs", open)
	if got := l.OutputURL(); got != "mem://thumbs" {
		t.Errorf("OutputURL = %q, want mem://thumbs", got)
	}
	if l.Made() || opens.Load() != 0 {
		t.Fatal("made before first use")
	}
	if th, err := l.Get(ctx); !errors.Is(err, down) || th != nil {
		t.Fatalf("Get = %v, %v; want the open error", th, err)
	}
	if l.Made() {
		t.Error("a failure was kept")
	}

	fail.Store(false)
	var wg sync.WaitGroup
	got := make([]*pipeline.Thumbnailer, 8)
	for i := range got {
		wg.Go(func() {
			th, err := l.Get(ctx)
			if err != nil {
				t.Error(err)
			}
			got[i] = th
		})
	}
	wg.Wait()
	for _, th := range got {
		if th == nil || th != got[0] {
			t.Fatalf("Get returned different Thumbnailers: %v", got)
		}
	}
	if n := opens.Load(); n != 2 {
		t.Errorf("opened the output bucket %d times, want 2 (the failure, then once)", n)
	}
	if !l.Made() {
		t.Error("Made = false after Get")
	}

	bad := pipeline.DefaultConfig()
	bad.Sizes = nil
	lb := NewLazyThumbnailer(bad, "mem://thumbs", open)
	if _, err := lb.Get(ctx); err == nil {
		t.Error("an invalid config made a Thumbnailer")
	}
	if lb.Made() {
		t.Error("an invalid config was kept")
	}
}

// TestCacheBounded: the cache keeps at most Max buckets open, closes the
// least recently used beyond that, and keeps a Thumbnailer's output bucket
// outside the bound.
func TestCacheBounded(t *testing.T) {
	ctx := context.Background()
	c := &Cache{Max: 2}
	defer c.Close()
	open := func(url string) *blob.Bucket {
		t.Helper()
		b, err := c.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	th, err := NewThumbnailer(ctx, pipeline.DefaultConfig(), "mem://out", c)
	if err != nil {
		t.Fatal(err)
	}
	a := open("mem://a")
	open("mem://b")
	if again := open("mem://a"); again != a {
		t.Error("a second Open of a cached URL opened it again")
	}
	open("mem://c") // evicts b, the least recently used
	if n := c.Len(); n != 3 {
		t.Errorf("%d buckets open, want 2 and the output bucket", n)
	}
	if _, err := a.Attributes(ctx, "x"); err == nil || strings.Contains(err.Error(), "closed") {
		t.Errorf("a, recently used, was closed: %v", err)
	}
	for i := range 20 {
		open(fmt.Sprintf("mem://many-%d", i))
	}
	if n := c.Len(); n != 3 {
		t.Errorf("%d buckets open after 20 more, want 3", n)
	}
	if _, err := a.Attributes(ctx, "x"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("a was not closed once evicted: %v", err)
	}
	// The output bucket stays open: the Thumbnailer still writes to it.
	src := open("mem://src")
	if err := src.WriteAll(ctx, "a.png", pixeltest.PNG(pixeltest.Photo(40, 30, 1)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Process(ctx, src, "a.png"); err != nil {
		t.Errorf("processing into the output bucket after evictions: %v", err)
	}
}

// TestNewThumbnailer: the output URL is opened only when given, and the
// config is judged by where thumbnails go.
func TestNewThumbnailer(t *testing.T) {
	ctx := context.Background()
	noPrefix := pipeline.DefaultConfig()
	noPrefix.Prefix = ""
	tests := []struct {
		name      string
		cfg       pipeline.Config
		outputURL string
		wantOpen  []string
		wantErr   bool
	}{
		{"source bucket", pipeline.DefaultConfig(), "", nil, false},
		{"own bucket", pipeline.DefaultConfig(), "mem://thumbs", []string{"mem://thumbs"}, false},
		{"no prefix, own bucket", noPrefix, "mem://thumbs", []string{"mem://thumbs"}, false},
		{"no prefix, source bucket", noPrefix, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opened []string
			open := OpenerFunc(func(_ context.Context, url string) (*blob.Bucket, error) {
				opened = append(opened, url)
				return memblob.OpenBucket(nil), nil
			})
			th, err := NewThumbnailer(ctx, tc.cfg, tc.outputURL, open)
			if (err != nil) != tc.wantErr || (err == nil) != (th != nil) {
				t.Errorf("NewThumbnailer = %v, %v; want an error: %v", th, err, tc.wantErr)
			}
			if len(opened) != len(tc.wantOpen) || len(opened) > 0 && opened[0] != tc.wantOpen[0] {
				t.Errorf("opened %q, want %q", opened, tc.wantOpen)
			}
		})
	}
}
