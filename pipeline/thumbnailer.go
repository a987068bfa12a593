package pipeline

import (
	"context"
	"errors"
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
	// ColorNote says why the source's embedded colour profile was ignored
	// (refused as invalid or unsupported, or not fitting the image): the
	// thumbnails were made as if it had none. "" otherwise.
	ColorNote string
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
//
// Process ends with thumbnails of the source as it is when it returns: if
// the source changed while its thumbnails were made (a newer upload, whose
// own event may already have been handled), it starts over, at most
// maxRounds times; if the source was deleted meanwhile, the thumbnails just
// written are removed again.
func (t *Thumbnailer) Process(ctx context.Context, bucket *blob.Bucket, key string) (Result, error) {
	res, err := t.process(ctx, bucket, key)
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
	p, err := t.plan(ctx, bucket, key)
	if err != nil {
		return p.res, &Error{Op: "plan", Key: key, Err: err}
	}
	return p.res, nil
}

// ErrSourceChanging means the source changed every time its thumbnails were
// made, maxRounds times in a row. Each change is an upload with an event of
// its own, which makes the thumbnails of the version that stays.
var ErrSourceChanging = errors.New("source keeps changing while its thumbnails are made")

// maxRounds bounds how many times Process makes the thumbnails of a source
// that changes under it.
const maxRounds = 3

// process is plan, render and write, then a check that the source is still
// the version the thumbnails were made from.
func (t *Thumbnailer) process(ctx context.Context, bucket *blob.Bucket, key string) (Result, error) {
	var read int64 // source bytes read over every round
	for round := 1; ; round++ {
		p, err := t.plan(ctx, bucket, key)
		if err != nil || len(p.todo) == 0 {
			p.res.SourceBytes = read
			return p.res, err
		}
		err = t.render(ctx, bucket, key, &p)
		read += p.res.SourceBytes
		p.res.SourceBytes = read
		if err != nil {
			return p.res, err
		}
		now, err := bucket.Attributes(ctx, key)
		switch {
		case err == nil && sourceVersion(now) == p.version:
			return p.res, nil
		case gcerrors.Code(err) == gcerrors.NotFound:
			// Deleted while its thumbnails were made: its delete event may
			// have come and gone, so remove them here.
			if _, err := t.removeThumbnails(ctx, p.out, key); err != nil {
				return p.res, err
			}
			if back, err := bucket.Exists(ctx, key); err != nil || !back {
				if err == nil {
					err = fmt.Errorf("%w: deleted while its thumbnails were made", ErrSourceGone)
				}
				return p.res, err
			}
		case err != nil:
			return p.res, fmt.Errorf("check the source after writing: %w", err)
		}
		if round == maxRounds {
			return p.res, fmt.Errorf("%w: %d rounds", ErrSourceChanging, round)
		}
	}
}

// plan is what Process decides from a source's attributes and first bytes
// alone: the guards, the format, the thumbnails' keys and which of them are
// stale or missing.
type plan struct {
	res     Result
	attrs   *blob.Attributes
	version string        // of the source, as the thumbnails' marker records it
	format  pixels.Format // of the thumbnails
	hashes  []string      // Config.Hash of each variant
	todo    []int         // indexes into res.Variants still to write
	out     *blob.Bucket
}

func (t *Thumbnailer) plan(ctx context.Context, bucket *blob.Bucket, key string) (plan, error) {
	p := plan{res: Result{Key: key}}
	if err := t.cfg.checkSource(key); err != nil {
		return p, err
	}
	// Guard, layer 1: the key alone.
	if ok, why := t.cfg.Selects(key); !ok {
		p.res.Skipped = why
		return p, nil
	}
	attrs, err := bucket.Attributes(ctx, key)
	if err != nil {
		return p, sourceErr(err)
	}
	// Guard, layer 2: the marker, before a byte of the body is read.
	if src, ok := attrs.Metadata[MetaSource]; ok {
		p.res.Skipped = "carries the thumbpipe marker: it is the thumbnail of " + unescape(src)
		return p, nil
	}
	if attrs.Size == 0 {
		return p, fmt.Errorf("%w: the object is empty (0 bytes)", ErrCorrupt)
	}
	if attrs.Size > t.cfg.MaxBytes {
		return p, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, attrs.Size, t.cfg.MaxBytes)
	}
	p.attrs, p.version = attrs, sourceVersion(attrs)

	// The format comes from the bytes, so read just enough of them to know
	// where the thumbnails go and whether they are already there.
	head, err := readHead(ctx, bucket, key, pixels.SniffLen)
	if err != nil {
		return p, sourceErr(err)
	}
	format := pixels.Sniff(head)
	if format == pixels.Unknown {
		return p, fmt.Errorf("%w: the bytes are not %s (whatever the name or Content-Type says)", ErrUnsupported, pixels.Readable())
	}
	p.format = t.cfg.OutputFormat(format)
	p.out = t.output(bucket)
	p.hashes = make([]string, len(t.cfg.Sizes))
	for i, s := range t.cfg.Sizes {
		v := Variant{Size: s, Key: t.cfg.VariantKey(key, s, p.format), Status: UpToDate}
		p.hashes[i] = t.cfg.Hash(s, p.format)
		fresh, err := t.fresh(ctx, p.out, v.Key, key, p.version, p.hashes[i])
		if err != nil {
			return p, err
		}
		if !fresh {
			v.Status = WouldWrite
			p.todo = append(p.todo, len(p.res.Variants))
		}
		p.res.Variants = append(p.res.Variants, v)
	}
	return p, nil
}

// render reads the source, checks its header against the limits and makes
// the variants p still has to write with [pixels.Render], writing each as
// soon as it is encoded.
func (t *Thumbnailer) render(ctx context.Context, bucket *blob.Bucket, key string, p *plan) error {
	// The body streams into the decoder: only the header is held whole, so
	// the memory a JPEG needs follows the thumbnail, not the file.
	rd, err := bucket.NewReader(ctx, key, nil)
	if err != nil {
		return sourceErr(err)
	}
	defer rd.Close()
	src := &sourceReader{r: rd, limit: t.cfg.MaxBytes}
	cfg, stream, err := pixels.ReadConfig(src)
	p.res.SourceBytes = src.n
	if err := src.check(err); err != nil {
		return err
	}
	if cfg.Pixels() > t.cfg.MaxPixels {
		return fmt.Errorf("%w: %s declares %dx%d = %d pixels, the limit is %d",
			ErrTooManyPixels, cfg.Format, cfg.Width, cfg.Height, cfg.Pixels(), t.cfg.MaxPixels)
	}
	outs := make([]pixels.Output, len(p.todo))
	for j, i := range p.todo {
		s := p.res.Variants[i].Size
		outs[j] = pixels.Output{Width: s.Width, Height: s.Height, Mode: s.Mode, Format: p.format,
			Encode: pixels.EncodeOptions{Quality: t.cfg.JPEGQuality}, Color: t.cfg.Color}
	}
	if need := pixels.RenderMemory(cfg, outs); need > t.cfg.MaxDecodeMemory {
		return fmt.Errorf("%w: decoding %s %dx%d needs about %d bytes (%.1f MiB), the limit is %d (%.1f MiB)",
			ErrTooExpensive, cfg.Format, cfg.Width, cfg.Height, need, mib(need), t.cfg.MaxDecodeMemory, mib(t.cfg.MaxDecodeMemory))
	}
	err = pixels.Render(stream, cfg, outs, func(r pixels.Rendered) error {
		p.res.SourceBytes = src.n
		p.res.ColorNote = r.ColorNote
		// The decoder is done: a failed or overlong read is not an image.
		if err := src.err(); err != nil {
			return err
		}
		return t.writeVariant(ctx, key, p, p.todo[r.Index], r)
	})
	p.res.SourceBytes = src.n
	return src.check(err)
}

// mib is n bytes in MiB, for messages.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// writeVariant stores one rendered thumbnail with its marker.
func (t *Thumbnailer) writeVariant(ctx context.Context, key string, p *plan, i int, r pixels.Rendered) error {
	v := &p.res.Variants[i]
	cacheControl := t.cfg.CacheControl
	if cacheControl == "" {
		cacheControl = p.attrs.CacheControl
	}
	meta := map[string]string{
		MetaSource: url.PathEscape(key),
		MetaETag:   p.version,
		MetaConfig: p.hashes[i],
	}
	opts := &blob.WriterOptions{ContentType: p.format.ContentType(), CacheControl: cacheControl, Metadata: meta}
	if err := write(ctx, p.out, v.Key, r.Data, opts); err != nil {
		return fmt.Errorf("write %q: %w", v.Key, err)
	}
	v.Status = Written
	v.Width, v.Height, v.Bytes = r.Width, r.Height, len(r.Data)
	return nil
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
// If key exists again once they are removed (a new upload whose event was
// handled meanwhile, its thumbnails removed too), its thumbnails are made
// again. It returns the keys it removed.
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
	removed, err := t.removeThumbnails(ctx, t.output(bucket), key)
	if err != nil || len(removed) == 0 {
		return removed, err
	}
	// A new upload may have been processed between the check above and
	// the removal, its thumbnails removed with the old ones: make them again.
	back, err := bucket.Exists(ctx, key)
	if err != nil || !back {
		return removed, err
	}
	if _, err := t.process(ctx, bucket, key); err != nil && !errors.Is(err, ErrSourceGone) {
		// Gone again: its thumbnails went with it, as this delete wants.
		return removed, fmt.Errorf("remake the thumbnails of the new upload: %w", err)
	}
	return removed, nil
}

// removeThumbnails removes every thumbnail in out whose marker names key,
// in every size and output format, and returns the keys it removed.
func (t *Thumbnailer) removeThumbnails(ctx context.Context, out *blob.Bucket, key string) ([]string, error) {
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
