package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// The marker: metadata every thumbnail carries. Any object that has
// MetaSource is a thumbnail and is never thumbnailed again, wherever it lies.
const (
	// MetaSource is the source key, path-escaped.
	MetaSource = "thumbpipe-source"
	// MetaETag is the source's ETag when the thumbnail was made.
	MetaETag = "thumbpipe-source-etag"
	// MetaConfig is Config.Hash of the settings that made the thumbnail.
	MetaConfig = "thumbpipe-config"
)

// Status says what happened to one thumbnail.
type Status string

// Statuses of a [Variant].
const (
	Written    Status = "written"
	UpToDate   Status = "up-to-date"
	WouldWrite Status = "would-write" // dry run: stale or missing, not written
)

// Variant is one thumbnail of a source.
type Variant struct {
	Size   Size
	Key    string
	Status Status
	// Width, Height and Bytes describe a thumbnail written in this call.
	Width, Height int
	Bytes         int
}

// Result is what processing one source did. Either Skipped says why the
// source was left alone, or Variants has one entry per configured size.
type Result struct {
	Key      string
	Skipped  string
	Variants []Variant
	// SourceBytes counts the bytes of the source read to decode it: 0 when
	// it was not decoded (the few bytes sniffed for the format don't count).
	SourceBytes int64
}

// Written counts the variants written in this call.
func (r Result) Written() int {
	n := 0
	for _, v := range r.Variants {
		if v.Status == Written {
			n++
		}
	}
	return n
}

// Thumbnailer makes and deletes the thumbnails of objects in a bucket.
// It is safe for concurrent use.
type Thumbnailer struct {
	cfg Config
	out *blob.Bucket
}

// NewThumbnailer validates cfg for out and returns a Thumbnailer. out is the
// bucket thumbnails go to; nil means each source's own bucket. The caller
// owns out.
func NewThumbnailer(cfg Config, out *blob.Bucket) (*Thumbnailer, error) {
	if err := cfg.ValidateFor(out != nil); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	sizes := append([]Size(nil), cfg.Sizes...)
	// Largest first: the order thumbnails are made and reported in.
	sort.SliceStable(sizes, func(i, j int) bool {
		return sizes[i].Width*sizes[i].Height > sizes[j].Width*sizes[j].Height
	})
	cfg.Sizes = sizes
	return &Thumbnailer{cfg: cfg, out: out}, nil
}

// Config returns the validated config, with Sizes largest first.
func (t *Thumbnailer) Config() Config { return t.cfg }

func (t *Thumbnailer) output(src *blob.Bucket) *blob.Bucket {
	if t.out != nil {
		return t.out
	}
	return src
}

// Process makes the thumbnails of key in bucket. A source that the guards
// or the include/exclude rules leave alone comes back with Result.Skipped
// set and a nil error; thumbnails already made from the same source version
// and config are not rewritten. Errors are *Error values; see [Retryable].
func (t *Thumbnailer) Process(ctx context.Context, bucket *blob.Bucket, key string) (Result, error) {
	res, err := t.process(ctx, bucket, key, false)
	if err != nil {
		return res, &Error{Op: "process", Key: key, Err: err}
	}
	return res, nil
}

// Plan reports what Process would do with key without decoding the source
// or writing anything: variants that are stale or missing come back as
// WouldWrite. It reads the source's attributes and first bytes only (they
// decide its format and so its thumbnails' keys).
func (t *Thumbnailer) Plan(ctx context.Context, bucket *blob.Bucket, key string) (Result, error) {
	res, err := t.process(ctx, bucket, key, true)
	if err != nil {
		return res, &Error{Op: "plan", Key: key, Err: err}
	}
	return res, nil
}

func (t *Thumbnailer) process(ctx context.Context, bucket *blob.Bucket, key string, planOnly bool) (Result, error) {
	res := Result{Key: key}
	if err := CheckKey(key); err != nil {
		return res, err
	}
	// Guard, layer 1: the key alone.
	if ok, why := t.cfg.Selects(key); !ok {
		res.Skipped = why
		return res, nil
	}
	attrs, err := bucket.Attributes(ctx, key)
	if err != nil {
		return res, sourceErr(err)
	}
	// Guard, layer 2: the marker, before a byte of the body is read.
	if src, ok := attrs.Metadata[MetaSource]; ok {
		res.Skipped = "carries the thumbpipe marker: it is the thumbnail of " + unescape(src)
		return res, nil
	}
	if attrs.Size == 0 {
		return res, fmt.Errorf("%w: the object is empty (0 bytes)", ErrCorrupt)
	}
	if attrs.Size > t.cfg.MaxBytes {
		return res, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, attrs.Size, t.cfg.MaxBytes)
	}
	version := sourceVersion(attrs)

	// The format comes from the bytes, so read just enough of them to know
	// where the thumbnails go and whether they are already there.
	head, err := readHead(ctx, bucket, key, pixels.SniffLen)
	if err != nil {
		return res, sourceErr(err)
	}
	format := pixels.Sniff(head)
	if format == pixels.Unknown {
		return res, fmt.Errorf("%w: the bytes are not JPEG, PNG, GIF, WebP, TIFF or BMP (whatever the name or Content-Type says)", ErrUnsupported)
	}
	outFormat := t.cfg.OutputFormat(format)
	out := t.output(bucket)
	var todo []int // indexes into res.Variants still to write
	hashes := make([]string, len(t.cfg.Sizes))
	for i, s := range t.cfg.Sizes {
		v := Variant{Size: s, Key: t.cfg.VariantKey(key, s, outFormat), Status: UpToDate}
		hashes[i] = t.cfg.Hash(s, outFormat)
		fresh, err := t.fresh(ctx, out, v.Key, key, version, hashes[i])
		if err != nil {
			return res, err
		}
		if !fresh {
			v.Status = WouldWrite
			todo = append(todo, len(res.Variants))
		}
		res.Variants = append(res.Variants, v)
	}
	if len(todo) == 0 || planOnly {
		return res, nil
	}

	// The body streams into the decoder: only the header is held whole, so
	// the memory a JPEG needs follows the thumbnail, not the file.
	rd, err := bucket.NewReader(ctx, key, nil)
	if err != nil {
		return res, sourceErr(err)
	}
	defer rd.Close()
	src := &sourceReader{r: rd, limit: t.cfg.MaxBytes}
	cfg, stream, err := pixels.ReadConfig(src)
	res.SourceBytes = src.n
	if err := src.check(err); err != nil {
		return res, err
	}
	if cfg.Pixels() > t.cfg.MaxPixels {
		return res, fmt.Errorf("%w: %s declares %dx%d = %d pixels, the limit is %d",
			ErrTooManyPixels, cfg.Format, cfg.Width, cfg.Height, cfg.Pixels(), t.cfg.MaxPixels)
	}
	// Decode once, at the smallest size that still covers every box still
	// to write, in the image's stored orientation.
	var boxW, boxH int
	for _, i := range todo {
		w, h := storedBox(res.Variants[i].Size, cfg.Orientation)
		boxW, boxH = max(boxW, w), max(boxH, h)
	}
	img, err := pixels.DecodeFrom(stream, cfg, boxW, boxH)
	res.SourceBytes = src.n
	if err := src.check(err); err != nil {
		return res, err
	}
	cacheControl := t.cfg.CacheControl
	if cacheControl == "" {
		cacheControl = attrs.CacheControl
	}
	for _, i := range todo {
		v := &res.Variants[i]
		// Resize before turning upright: there is less to turn.
		w, h := storedBox(v.Size, cfg.Orientation)
		thumb := pixels.Orient(pixels.Resize(img, w, h, v.Size.Mode), cfg.Orientation)
		var buf bytes.Buffer
		if err := pixels.Encode(&buf, thumb, outFormat, t.cfg.JPEGQuality); err != nil {
			return res, err
		}
		meta := map[string]string{
			MetaSource: url.PathEscape(key),
			MetaETag:   version,
			MetaConfig: hashes[i],
		}
		opts := &blob.WriterOptions{ContentType: outFormat.ContentType(), CacheControl: cacheControl, Metadata: meta}
		if err := write(ctx, out, v.Key, buf.Bytes(), opts); err != nil {
			return res, fmt.Errorf("write %q: %w", v.Key, err)
		}
		v.Status = Written
		v.Width, v.Height, v.Bytes = thumb.Bounds().Dx(), thumb.Bounds().Dy(), buf.Len()
	}
	return res, nil
}

// fresh reports whether the thumbnail at vkey was made from this version of
// source with the settings hash names. A thumbnail of another source at vkey is an
// ErrCollision: it is never overwritten.
func (t *Thumbnailer) fresh(ctx context.Context, out *blob.Bucket, vkey, source, version, hash string) (bool, error) {
	a, err := thumbnailAt(ctx, out, vkey)
	if a == nil || err != nil {
		return false, err
	}
	owner, marked := a.Metadata[MetaSource]
	if !marked || unescape(owner) != source {
		what := "an object without the thumbpipe marker"
		if marked {
			what = "the thumbnail of " + strconv.Quote(unescape(owner))
		}
		return false, fmt.Errorf("%w: %q holds %s", ErrCollision, vkey, what)
	}
	return a.Metadata[MetaETag] == version && a.Metadata[MetaConfig] == hash, nil
}

// Delete removes every thumbnail of key, in every size and output format.
// A thumbnail is removed only if its marker names key, and none is removed
// while key itself still exists (a late delete event after a new upload).
// It returns the keys it removed.
func (t *Thumbnailer) Delete(ctx context.Context, bucket *blob.Bucket, key string) ([]string, error) {
	removed, err := t.delete(ctx, bucket, key)
	if err != nil {
		return removed, &Error{Op: "delete", Key: key, Err: err}
	}
	return removed, nil
}

func (t *Thumbnailer) delete(ctx context.Context, bucket *blob.Bucket, key string) ([]string, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if ok, _ := t.cfg.Selects(key); !ok {
		return nil, nil
	}
	exists, err := bucket.Exists(ctx, key)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, nil
	}
	out := t.output(bucket)
	var removed []string
	for _, s := range t.cfg.Sizes {
		for _, vkey := range t.cfg.variantKeys(key, s) {
			a, err := thumbnailAt(ctx, out, vkey)
			if err != nil {
				return removed, err
			}
			if a == nil {
				continue
			}
			if owner, ok := a.Metadata[MetaSource]; !ok || unescape(owner) != key {
				continue
			}
			if err := out.Delete(ctx, vkey); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				return removed, fmt.Errorf("delete thumbnail %q: %w", vkey, err)
			}
			removed = append(removed, vkey)
		}
	}
	return removed, nil
}

// thumbnailAt returns the attributes of the object at vkey in out, or nil
// if there is none.
func thumbnailAt(ctx context.Context, out *blob.Bucket, vkey string) (*blob.Attributes, error) {
	a, err := out.Attributes(ctx, vkey)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("check thumbnail %q: %w", vkey, err)
	}
	return a, nil
}

// storedBox returns size's box as it lies in an image stored with the given
// EXIF orientation: width and height swap for the quarter turns.
func storedBox(s Size, orientation int) (w, h int) {
	if pixels.Swaps(orientation) {
		return s.Height, s.Width
	}
	return s.Width, s.Height
}

// sourceVersion names the version of a source object: its ETag, or its
// modification time and size where the storage has no ETag.
func sourceVersion(a *blob.Attributes) string {
	if a.ETag != "" {
		return a.ETag
	}
	return fmt.Sprintf("%d-%d", a.ModTime.UnixNano(), a.Size)
}

// readHead reads the first n bytes of key (fewer if it is shorter).
func readHead(ctx context.Context, b *blob.Bucket, key string, n int64) ([]byte, error) {
	r, err := b.NewRangeReader(ctx, key, 0, n, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// sourceReader reads a source object's body, never more than limit bytes
// whatever the storage sends, and remembers a failed read, so that the
// decoder's view of a cut-off stream ("corrupt") does not hide it.
type sourceReader struct {
	r       io.Reader
	limit   int64
	n       int64 // bytes read
	readErr error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.n > s.limit {
		return 0, s.err()
	}
	if room := s.limit + 1 - s.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF {
		s.readErr = err
	}
	if s.n > s.limit {
		return n, s.err()
	}
	return n, err
}

// err says why reading stopped early: more than limit bytes, or the
// storage's error; nil otherwise.
// check returns the reader's own failure if it had one, else err: a failed
// or overlong read, not a corrupt image, whatever the decoder made of it.
func (s *sourceReader) check(err error) error {
	if rerr := s.err(); rerr != nil {
		return rerr
	}
	return err
}

func (s *sourceReader) err() error {
	if s.n > s.limit {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.limit)
	}
	if s.readErr != nil {
		return fmt.Errorf("read source: %w", s.readErr)
	}
	return nil
}

// write stores data at key so that a failure leaves nothing behind:
// cancelling the writer's context before Close aborts the upload.
func write(ctx context.Context, b *blob.Bucket, key string, data []byte, opts *blob.WriterOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewWriter(ctx, key, opts)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	return w.Close()
}

func sourceErr(err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w: %v", ErrSourceGone, err)
	}
	return err
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
