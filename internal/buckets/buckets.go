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
	b, err := blob.OpenBucket(ctx, url)
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

// NewThumbnailer returns a Thumbnailer for cfg, opening cfg.OutputBucket
// through c when it is set.
func NewThumbnailer(ctx context.Context, cfg pipeline.Config, c *Cache) (*pipeline.Thumbnailer, error) {
	var out *blob.Bucket
	if cfg.OutputBucket != "" {
		var err error
		if out, err = c.Open(ctx, cfg.OutputBucket); err != nil {
			return nil, err
		}
	}
	return pipeline.NewThumbnailer(cfg, out)
}
