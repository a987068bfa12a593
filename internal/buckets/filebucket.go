package buckets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/thumbpipe/thumbpipe/pipeline/blobwrap"

	"github.com/thumbpipe/thumbpipe/pipeline"
)

// ErrSymlink means a key's path in a file:// bucket goes through a symbolic
// link, which could lead out of the bucket's folder. It wraps
// [pipeline.ErrUnsafeKey], so it is permanent.
var ErrSymlink = fmt.Errorf("%w: its path goes through a symbolic link", pipeline.ErrUnsafeKey)

// attrsExt is the suffix of the file in which fileblob keeps an object's
// attributes, beside the object's own file.
const attrsExt = ".attrs"

// OpenBucket opens the bucket at url as blob.OpenBucket does, except that a
// file:// bucket is confined to its folder: every call on a key first checks,
// with os.Lstat, that no folder on the key's path under the bucket's root,
// nor the key's file or its ".attrs" file, is a symbolic link, and refuses
// the key with [ErrSymlink] otherwise (and keys [pipeline.CheckKey] refuses,
// with its error). Nothing is then read, written or deleted through a link,
// wherever it points. The root itself may be a link.
//
// The check and the file's use are two steps: a link made in between, by
// someone who may write into the folder, is not caught. It guards against
// links that are in the folder already (a copied or unpacked tree, a folder
// shared with others), not against a concurrent writer of the folder.
func OpenBucket(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	b, err := blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "file" {
		return b, nil
	}
	root, err := filepath.EvalSymlinks(filepath.FromSlash(u.Path))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bucket folder %s: %w", u.Path, err)
	}
	return blob.NewBucket(&confined{b: b, root: root}), nil
}

// confined is a driver over a fileblob bucket that refuses keys whose path
// goes through a symbolic link.
type confined struct {
	b    *blob.Bucket
	root string
}

// check refuses key unless CheckKey accepts it and no component of its path
// under the root (its folders, its file, its attributes file) is a link.
// Keys CheckKey accepts are stored by fileblob at root/key unescaped (on
// Windows, with some characters escaped inside a name, never a separator),
// so the components are the key's "/"-separated segments.
func (c *confined) check(key string) error {
	if err := pipeline.CheckKey(key); err != nil {
		return err
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	p := c.root
	for i, seg := range segs {
		p = filepath.Join(p, seg)
		names := []string{p}
		if i == len(segs)-1 {
			names = append(names, p+attrsExt)
		}
		for _, name := range names {
			fi, err := os.Lstat(name)
			if errors.Is(err, fs.ErrNotExist) {
				if i < len(segs)-1 {
					return nil // nothing below a missing folder is a link yet
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("key %q: %w", key, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				rel, _ := filepath.Rel(c.root, name)
				return fmt.Errorf("%w (%s); a file bucket does not follow links", ErrSymlink, filepath.ToSlash(rel))
			}
		}
	}
	return nil
}

func (c *confined) ErrorCode(err error) gcerrors.ErrorCode {
	if errors.Is(err, pipeline.ErrUnsafeKey) {
		return gcerrors.InvalidArgument
	}
	return gcerrors.Code(err)
}

func (c *confined) As(i any) bool                 { return c.b.As(i) }
func (c *confined) ErrorAs(err error, i any) bool { return c.b.ErrorAs(err, i) }
func (c *confined) Close() error                  { return c.b.Close() }

func (c *confined) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	if err := c.check(key); err != nil {
		return nil, err
	}
	a, err := c.b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return blobwrap.Attributes(a), nil
}

// ListPaged lists what fileblob lists: it walks the folder without following
// links into folders. A link to a file is listed, and refused when read.
func (c *confined) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	return blobwrap.ListPaged(ctx, c.b, opts)
}

func (c *confined) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	if err := c.check(key); err != nil {
		return nil, err
	}
	r, err := c.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, err
	}
	return reader{r}, nil
}

type reader struct{ r *blob.Reader }

func (r reader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r reader) Close() error               { return r.r.Close() }
func (r reader) As(i any) bool              { return r.r.As(i) }
func (r reader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

// NewTypedWriter writes through fileblob with a context that the returned
// writer's caller cancels to abort the write, as with any driver.
func (c *confined) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	if err := c.check(key); err != nil {
		return nil, err
	}
	return c.b.NewWriter(ctx, key, &blob.WriterOptions{
		ContentType: contentType, CacheControl: opts.CacheControl,
		ContentDisposition: opts.ContentDisposition, ContentEncoding: opts.ContentEncoding,
		ContentLanguage: opts.ContentLanguage, Metadata: opts.Metadata,
		DisableContentTypeDetection: true, IfNotExist: opts.IfNotExist,
	})
}

func (c *confined) Copy(ctx context.Context, dst, src string, _ *driver.CopyOptions) error {
	if err := errors.Join(c.check(dst), c.check(src)); err != nil {
		return err
	}
	return c.b.Copy(ctx, dst, src, nil)
}

func (c *confined) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	if err := c.check(key); err != nil {
		return err
	}
	return c.b.Delete(ctx, key)
}

func (c *confined) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	if err := c.check(key); err != nil {
		return "", err
	}
	return c.b.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: opts.Expiry, Method: opts.Method, ContentType: opts.ContentType,
		EnforceAbsentContentType: opts.EnforceAbsentContentType})
}
