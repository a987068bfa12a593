// Package faultblob wraps a *blob.Bucket so that tests can make its calls
// fail on demand or at a seeded random rate: attribute calls, reads, writes,
// closes of writers, lists and deletes. Everything it does not fail goes to
// the wrapped bucket, so a failed write is aborted there exactly as a real
// driver would abort it. A [Hook] runs a function right after a given call,
// so a test can make a race happen at exactly that point.
package faultblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"

	"github.com/thumbpipe/thumbpipe/pipeline/blobwrap"
	"gocloud.dev/gcerrors"
)

// Op is one kind of bucket call that can be made to fail.
type Op string

// The calls faultblob can fail.
const (
	Attributes Op = "attributes"
	Read       Op = "read"  // opening a reader, and each Read on it
	Write      Op = "write" // each Write on a writer
	Close      Op = "close" // closing a writer (the upload is aborted)
	List       Op = "list"
	Delete     Op = "delete"
)

// ErrInjected is the error every injected fault wraps.
var ErrInjected = errors.New("faultblob: injected fault")

// Rule makes calls fail. A call fails when its Op matches, its key starts
// with KeyPrefix, and either the rule still has Times left (Times > 0) or a
// draw from the seeded source falls under Rate.
type Rule struct {
	Op        Op
	KeyPrefix string
	Times     int     // fail this many matching calls, then stop; 0 = use Rate
	Rate      float64 // with Times 0: fail this share of matching calls
	// Code is the error class callers see; default gcerrors.Internal
	// (a storage failure pipeline.Retryable counts as transient).
	Code gcerrors.ErrorCode
}

// Faults is the set of rules a wrapped bucket obeys. Its methods are safe
// for concurrent use, so a test may change the rules while calls run.
type Faults struct {
	mu       sync.Mutex
	rules    []*Rule
	hooks    []*Hook
	rng      *rand.Rand
	injected atomic.Int64
}

// New returns an empty set of faults whose random draws come from seed.
func New(seed uint64) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Add adds a rule.
func (f *Faults) Add(r Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rr := r
	f.rules = append(f.rules, &rr)
}

// Clear removes every rule.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Hook runs Fn once, right after a call has reached the wrapped bucket and
// before its result goes back to the caller: a test's way to make something
// happen between two steps of the code under test (another upload, another
// event). Op is Attributes (Exists too), Read (opening a reader, not each
// Read), Close (a write completing), List or Delete.
type Hook struct {
	Op  Op
	Key string // the exact key (a list's prefix)
	// Skip is how many matching calls to let by before the one Fn follows.
	Skip int
	Fn   func()
}

// AddHook adds a hook. Fn runs without any lock held, so it may use the
// wrapped bucket, or this one.
func (f *Faults) AddHook(h Hook) {
	f.mu.Lock()
	defer f.mu.Unlock()
	hh := h
	f.hooks = append(f.hooks, &hh)
}

// after runs, and drops, the hook that follows this call, if one does.
func (f *Faults) after(op Op, key string) {
	f.mu.Lock()
	var fn func()
	for i, h := range f.hooks {
		if h.Op != op || h.Key != key {
			continue
		}
		if h.Skip > 0 {
			h.Skip--
			continue
		}
		fn = h.Fn
		f.hooks = append(f.hooks[:i:i], f.hooks[i+1:]...)
		break
	}
	f.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// Injected counts the faults injected so far.
func (f *Faults) Injected() int64 { return f.injected.Load() }

type injected struct {
	code gcerrors.ErrorCode
	msg  string
}

func (e *injected) Error() string { return e.msg }
func (e *injected) Unwrap() error { return ErrInjected }

// fail returns an injected error if a rule says this call fails.
func (f *Faults) fail(op Op, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.Op != op || !strings.HasPrefix(key, r.KeyPrefix) {
			continue
		}
		hit := false
		if r.Times > 0 {
			r.Times--
			hit = true
		} else if r.Rate > 0 {
			hit = f.rng.Float64() < r.Rate
		}
		if hit {
			code := r.Code
			if code == gcerrors.OK {
				code = gcerrors.Internal
			}
			f.injected.Add(1)
			return &injected{code: code, msg: fmt.Sprintf("faultblob: injected %s fault on %q (%v)", op, key, code)}
		}
	}
	return nil
}

// Wrap returns a bucket that passes every call to b unless f fails it.
// Closing the returned bucket does not close b.
func Wrap(b *blob.Bucket, f *Faults) *blob.Bucket {
	return blob.NewBucket(&bucket{b: b, f: f})
}

type bucket struct {
	b *blob.Bucket
	f *Faults
}

func (d *bucket) ErrorCode(err error) gcerrors.ErrorCode {
	var inj *injected
	if errors.As(err, &inj) {
		return inj.code
	}
	return gcerrors.Code(err)
}

func (d *bucket) As(i any) bool                 { return d.b.As(i) }
func (d *bucket) ErrorAs(err error, i any) bool { return d.b.ErrorAs(err, i) }
func (d *bucket) Close() error                  { return nil }

func (d *bucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	if err := d.f.fail(Attributes, key); err != nil {
		return nil, err
	}
	a, err := d.b.Attributes(ctx, key)
	d.f.after(Attributes, key)
	if err != nil {
		return nil, err
	}
	return blobwrap.Attributes(a), nil
}

func (d *bucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	if err := d.f.fail(List, opts.Prefix); err != nil {
		return nil, err
	}
	page, err := blobwrap.ListPaged(ctx, d.b, opts)
	d.f.after(List, opts.Prefix)
	return page, err
}

func (d *bucket) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	if err := d.f.fail(Read, key); err != nil {
		return nil, err
	}
	r, err := d.b.NewRangeReader(ctx, key, offset, length, nil)
	d.f.after(Read, key)
	if err != nil {
		return nil, err
	}
	return &reader{r: r, key: key, f: d.f}, nil
}

type reader struct {
	r   *blob.Reader
	key string
	f   *Faults
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.f.fail(Read, r.key); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
func (r *reader) Close() error { return r.r.Close() }
func (r *reader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}
func (r *reader) As(i any) bool { return r.r.As(i) }

func (d *bucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := d.b.NewWriter(ctx, key, &blob.WriterOptions{
		ContentType: contentType, CacheControl: opts.CacheControl,
		ContentDisposition: opts.ContentDisposition, ContentEncoding: opts.ContentEncoding,
		ContentLanguage: opts.ContentLanguage, Metadata: opts.Metadata,
		DisableContentTypeDetection: true, IfNotExist: opts.IfNotExist,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return &writer{w: w, cancel: cancel, key: key, f: d.f}, nil
}

type writer struct {
	w      *blob.Writer
	cancel context.CancelFunc
	key    string
	f      *Faults
}

func (w *writer) Write(p []byte) (int, error) {
	if err := w.f.fail(Write, w.key); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// Close aborts the upload underneath when a fault is injected, as a real
// storage service does when the final request of an upload fails.
func (w *writer) Close() error {
	defer w.cancel()
	if err := w.f.fail(Close, w.key); err != nil {
		w.cancel()
		_ = w.w.Close()
		return err
	}
	err := w.w.Close()
	w.f.after(Close, w.key)
	return err
}

func (d *bucket) Copy(ctx context.Context, dst, src string, _ *driver.CopyOptions) error {
	if err := d.f.fail(Write, dst); err != nil {
		return err
	}
	return d.b.Copy(ctx, dst, src, nil)
}

func (d *bucket) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	if err := d.f.fail(Delete, key); err != nil {
		return err
	}
	err := d.b.Delete(ctx, key)
	d.f.after(Delete, key)
	return err
}

func (d *bucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	return "", errors.New("faultblob: signed URLs are not supported")
}

var _ io.ReadCloser = (*reader)(nil)
