// Package buckets opens buckets by URL and keeps them open, so that a warm
// function or a long-running server opens each bucket once. The drivers
// (s3blob, gcsblob, fileblob, memblob) are linked by the binaries, not here.
package buckets

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/pipeline"
)

// Opener opens a bucket by URL. A *Cache is one, so that each bucket is
// opened once; tests pass an OpenerFunc.
type Opener interface {
	Open(ctx context.Context, url string) (*blob.Bucket, error)
}

// OpenerFunc is a function used as an Opener.
type OpenerFunc func(ctx context.Context, url string) (*blob.Bucket, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, url string) (*blob.Bucket, error) { return f(ctx, url) }

// Cache opens each bucket URL once. The zero value is ready to use; it is
// safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	buckets map[string]*blob.Bucket
}

// Open returns the bucket at url, opening it on first use.
func (c *Cache) Open(ctx context.Context, url string) (*blob.Bucket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.buckets[url]; ok {
		return b, nil
	}
	b, err := OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", url, err)
	}
	if c.buckets == nil {
		c.buckets = map[string]*blob.Bucket{}
	}
	c.buckets[url] = b
	return b, nil
}

// Close closes every bucket opened so far.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for url, b := range c.buckets {
		if err := b.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.buckets, url)
	}
	return first
}

// Expand turns a bucket name from an event into a URL with a template in
// which {bucket} stands for the name, e.g. "s3://{bucket}?region=eu-west-1".
func Expand(template, bucket string) string {
	return strings.ReplaceAll(template, "{bucket}", bucket)
}

// NewThumbnailer returns a Thumbnailer for cfg that writes thumbnails into
// the bucket at outputURL, opened through open, or into each source's own
// bucket when outputURL is empty.
func NewThumbnailer(ctx context.Context, cfg pipeline.Config, outputURL string, open Opener) (*pipeline.Thumbnailer, error) {
	var out *blob.Bucket
	if outputURL != "" {
		var err error
		if out, err = open.Open(ctx, outputURL); err != nil {
			return nil, err
		}
	}
	return pipeline.NewThumbnailer(cfg, out)
}

// LazyThumbnailer makes a Thumbnailer with NewThumbnailer on first use and
// keeps it, so that a function's start reads configuration only and its
// first event opens the output bucket. A failure is not kept: the next call
// tries again. It is safe for concurrent use.
type LazyThumbnailer struct {
	cfg    pipeline.Config
	output string
	open   Opener

	mu sync.Mutex
	th *pipeline.Thumbnailer
}

// NewLazyThumbnailer returns a LazyThumbnailer for cfg that opens the
// output bucket at outputURL (empty: each source's own bucket) through
// open. It does no I/O.
func NewLazyThumbnailer(cfg pipeline.Config, outputURL string, open Opener) *LazyThumbnailer {
	return &LazyThumbnailer{cfg: cfg, output: outputURL, open: open}
}

// OutputURL returns the URL of the bucket thumbnails go to, or "" for each
// source's own bucket.
func (l *LazyThumbnailer) OutputURL() string { return l.output }

// Get returns the Thumbnailer, making it unless an earlier call did.
func (l *LazyThumbnailer) Get(ctx context.Context) (*pipeline.Thumbnailer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.th != nil {
		return l.th, nil
	}
	th, err := NewThumbnailer(ctx, l.cfg, l.output, l.open)
	if err != nil {
		return nil, err
	}
	l.th = th
	return th, nil
}

// Made reports whether Get has made the Thumbnailer.
func (l *LazyThumbnailer) Made() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.th != nil
}
