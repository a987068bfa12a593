// Package buckets opens buckets by URL and keeps them open, so that a warm
// function or a long-running server opens each bucket once. The drivers
// (s3blob, gcsblob, fileblob, memblob) are linked by the binaries, not here.
package buckets

import (
	"container/list"
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

// DefaultMaxBuckets is how many buckets a Cache keeps open when Max is 0.
const DefaultMaxBuckets = 16

// Cache opens each bucket URL once and keeps at most Max of them open,
// closing the least recently used beyond that, so that events naming many
// buckets cannot make a long-running process hold ever more clients. The
// output bucket a Thumbnailer is made with through NewThumbnailer is kept
// open apart, outside the bound. A bucket closed while a call still uses it
// fails that call, as a storage error the doors retry; Max should exceed
// the buckets in use at once. The zero value is ready to use; it is safe
// for concurrent use.
type Cache struct {
	// Max bounds the buckets kept open. Default DefaultMaxBuckets.
	Max int

	mu     sync.Mutex
	lru    *list.List // of *entry, most recently used first
	byURL  map[string]*list.Element
	pinned map[string]*blob.Bucket
}

type entry struct {
	url string
	b   *blob.Bucket
}

// Open returns the bucket at url, opening it on first use.
func (c *Cache) Open(ctx context.Context, url string) (*blob.Bucket, error) {
	return c.open(ctx, url, false)
}

// open returns the bucket at url; pin keeps it open outside the bound.
func (c *Cache) open(ctx context.Context, url string, pin bool) (*blob.Bucket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byURL == nil {
		c.lru, c.byURL, c.pinned = list.New(), map[string]*list.Element{}, map[string]*blob.Bucket{}
	}
	if b, ok := c.pinned[url]; ok {
		return b, nil
	}
	if e, ok := c.byURL[url]; ok {
		b := e.Value.(*entry).b
		if pin {
			c.lru.Remove(e)
			delete(c.byURL, url)
			c.pinned[url] = b
		} else {
			c.lru.MoveToFront(e)
		}
		return b, nil
	}
	b, err := OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", url, err)
	}
	if pin {
		c.pinned[url] = b
		return b, nil
	}
	c.byURL[url] = c.lru.PushFront(&entry{url: url, b: b})
	max := c.Max
	if max <= 0 {
		max = DefaultMaxBuckets
	}
	for c.lru.Len() > max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byURL, old.Value.(*entry).url)
		old.Value.(*entry).b.Close() // nothing to do about a failed close of a bucket no longer used
	}
	return b, nil
}

// Len reports how many buckets are open.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru == nil {
		return 0
	}
	return c.lru.Len() + len(c.pinned)
}

// Close closes every bucket opened so far.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	closeOne := func(b *blob.Bucket) {
		if err := b.Close(); err != nil && first == nil {
			first = err
		}
	}
	for url, e := range c.byURL {
		closeOne(e.Value.(*entry).b)
		delete(c.byURL, url)
	}
	for url, b := range c.pinned {
		closeOne(b)
		delete(c.pinned, url)
	}
	if c.lru != nil {
		c.lru.Init()
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
		if c, ok := open.(*Cache); ok {
			out, err = c.open(ctx, outputURL, true) // used for as long as the Thumbnailer
		} else {
			out, err = open.Open(ctx, outputURL)
		}
		if err != nil {
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
