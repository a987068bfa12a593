package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// More marker metadata. A manifest and a failure record carry the marker
// too (MetaSource, MetaETag), so that neither is ever processed as a source,
// and MetaKind says which they are.
const (
	// MetaKind is "manifest" or "failure" on those records; thumbnails
	// do not have it.
	MetaKind = "thumbpipe-kind"
	// MetaWidth and MetaHeight are a thumbnail's own pixels, so that the
	// manifest of a thumbnail that was not rewritten needs no decode.
	MetaWidth  = "thumbpipe-width"
	MetaHeight = "thumbpipe-height"
	// MetaSourceSize is the source's size as shown, "WxH", with its
	// format: "jpeg 4000x3000".
	MetaSourceSize = "thumbpipe-source-size"
)

// Kinds of record, as MetaKind names them.
const (
	KindManifest = "manifest"
	KindFailure  = "failure"
)

// Where the records lie under the output prefix. A box is "<W>x<H>", so
// neither folder can hold a thumbnail.
const (
	ManifestDir = "manifests/"
	FailureDir  = "failures/"
)

// ManifestKey returns where the manifest of source key is stored:
// <Prefix>manifests/<key>.json, or, when that would be longer than
// [MaxKeyBytes], <Prefix>manifests/sha256/<hex of the key's SHA-256>.json.
func (c Config) ManifestKey(key string) string { return c.recordKey(ManifestDir, key) }

// FailureKey returns where the failure record of source key is stored:
// <Prefix>failures/<key>.json, or <Prefix>failures/sha256/<hex>.json for a
// key too long for that, as [Config.ManifestKey].
func (c Config) FailureKey(key string) string { return c.recordKey(FailureDir, key) }

func (c Config) recordKey(dir, key string) string {
	k := c.Prefix + dir + key + ".json"
	if len(k) > MaxKeyBytes {
		sum := sha256.Sum256([]byte(key))
		k = c.Prefix + dir + "sha256/" + hex.EncodeToString(sum[:]) + ".json"
	}
	return k
}

// ErrNoRecord means a source has no manifest (or failure record).
var ErrNoRecord = errors.New("no record")

// ManifestStatusComplete is Manifest.Status when every variant listed is
// written.
const ManifestStatusComplete = "complete"

// ReadManifest returns the manifest of source key: from the output bucket,
// or bucket when the Thumbnailer has none. A source without one is
// ErrNoRecord.
func (t *Thumbnailer) ReadManifest(ctx context.Context, bucket *blob.Bucket, key string) (*Manifest, error) {
	var m Manifest
	if err := readRecord(ctx, t.output(bucket), t.cfg.ManifestKey(key), &m); err != nil {
		return nil, &Error{Op: "read manifest", Key: key, Err: err}
	}
	return &m, nil
}

// ReadFailure returns the failure record of source key, or ErrNoRecord.
func (t *Thumbnailer) ReadFailure(ctx context.Context, bucket *blob.Bucket, key string) (*Failure, error) {
	var f Failure
	if err := readRecord(ctx, t.output(bucket), t.cfg.FailureKey(key), &f); err != nil {
		return nil, &Error{Op: "read failure record", Key: key, Err: err}
	}
	return &f, nil
}

func readRecord(ctx context.Context, b *blob.Bucket, rkey string, v any) error {
	data, err := b.ReadAll(ctx, rkey)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w at %q", ErrNoRecord, rkey)
	}
	if err != nil {
		return fmt.Errorf("read %q: %w", rkey, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%q is not a thumbpipe record: %w", rkey, err)
	}
	return nil
}

// Failures calls fn with every failure record of a source under prefix, in
// key order, until fn returns an error.
func (t *Thumbnailer) Failures(ctx context.Context, bucket *blob.Bucket, prefix string, fn func(*Failure) error) error {
	out := t.output(bucket)
	dir := t.cfg.Prefix + FailureDir
	it := out.List(&blob.ListOptions{Prefix: dir + prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list failure records: %w", err)
		}
		if o.IsDir || !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		var f Failure
		if err := readRecord(ctx, out, o.Key, &f); err != nil {
			if errors.Is(err, ErrNoRecord) {
				continue // removed by a success since the listing
			}
			return err
		}
		if err := fn(&f); err != nil {
			return err
		}
	}
}

// ErrorClass names the permanent error class of err for a [Failure]:
// "too-large", "too-many-pixels", "too-expensive", "unsupported",
// "corrupt", "collision", "source-changing", "unsafe-key", "key-too-long",
// "source-gone", or "storage" for a request the storage refused.
func ErrorClass(err error) string {
	for _, c := range []struct {
		err   error
		class string
	}{
		{ErrTooLarge, "too-large"}, {ErrTooManyPixels, "too-many-pixels"}, {ErrTooExpensive, "too-expensive"},
		{ErrUnsupported, "unsupported"}, {ErrCorrupt, "corrupt"}, {ErrCollision, "collision"},
		{ErrSourceChanging, "source-changing"}, {ErrUnsafeKey, "unsafe-key"}, {ErrKeyTooLong, "key-too-long"},
		{ErrSourceGone, "source-gone"},
	} {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	return "storage"
}

// RecordFailure writes the failure record of source key, which failed with
// the permanent error err after attempts attempts, where its manifest would
// be (see [Config.FailureKey]), and returns it. It writes nothing, and
// returns nil, for an error worth retrying, for a source that is gone or
// not selected, and for a key no record can be written at (unsafe, too
// long). A later success removes the record. Writing it again for a
// duplicated event is harmless.
func (t *Thumbnailer) RecordFailure(ctx context.Context, bucket *blob.Bucket, key string, err error, attempts int) (*Failure, error) {
	if err == nil || Retryable(err) || errors.Is(err, ErrSourceGone) || errors.Is(err, ErrUnsafeKey) || errors.Is(err, ErrKeyTooLong) {
		return nil, nil
	}
	if t.cfg.checkSource(key) != nil {
		return nil, nil
	}
	if ok, _ := t.cfg.Selects(key); !ok {
		return nil, nil
	}
	attrs, aerr := bucket.Attributes(ctx, key)
	if gcerrors.Code(aerr) == gcerrors.NotFound {
		return nil, nil
	}
	if aerr != nil {
		return nil, &Error{Op: "record failure", Key: key, Err: aerr}
	}
	if _, marked := attrs.Metadata[MetaSource]; marked {
		return nil, nil
	}
	if attempts < 1 {
		attempts = 1
	}
	reason := err
	var pe *Error
	if errors.As(err, &pe) && pe.Key == key {
		reason = pe.Err // the record names the key
	}
	f := &Failure{
		Schema: FailureSchema, Key: key, Version: sourceVersion(attrs),
		Reason: reason.Error(), Class: ErrorClass(err), Attempts: attempts, Time: time.Now().UTC(),
	}
	out := t.output(bucket)
	if werr := writeRecord(ctx, out, t.cfg.FailureKey(key), f, t.recordMeta(key, f.Version, KindFailure, "")); werr != nil {
		return nil, &Error{Op: "record failure", Key: key, Err: werr}
	}
	return f, nil
}

// recordMeta is the marker of a record of source key.
func (t *Thumbnailer) recordMeta(key, version, kind, hash string) map[string]string {
	meta := map[string]string{MetaSource: url.PathEscape(key), MetaETag: version, MetaKind: kind}
	if hash != "" {
		meta[MetaConfig] = hash
	}
	return meta
}

func writeRecord(ctx context.Context, b *blob.Bucket, rkey string, v any, meta map[string]string) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	opts := &blob.WriterOptions{ContentType: "application/json", CacheControl: "no-cache", Metadata: meta}
	if err := write(ctx, b, rkey, data, opts); err != nil {
		return fmt.Errorf("write %q: %w", rkey, err)
	}
	return nil
}

// removeRecord deletes the record at rkey if there is one; it reports
// whether it did.
func removeRecord(ctx context.Context, b *blob.Bucket, rkey string) (bool, error) {
	err := b.Delete(ctx, rkey)
	switch {
	case err == nil:
		return true, nil
	case gcerrors.Code(err) == gcerrors.NotFound:
		return false, nil
	}
	return false, fmt.Errorf("delete %q: %w", rkey, err)
}

// manifestHash names what a manifest of p lists: its variants' keys and
// settings. With the source version it says whether a manifest is current.
func manifestHash(p *plan) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", ManifestSchema)
	for i, v := range p.res.Variants {
		fmt.Fprintf(h, "%s|%s|%s\n", v.Size, v.Key, p.hashes[i])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// manifest makes sure the manifest of key lists the variants p planned
// and the source version they were made from, writing it when it does
// not, and removes the source's failure record. It returns the manifest.
// smallest is the encoded smallest variant when it was written in this
// call, else nil (it is then read back).
func (t *Thumbnailer) manifest(ctx context.Context, key string, p *plan, smallest []byte) (m *Manifest, wrote bool, err error) {
	mkey := t.cfg.ManifestKey(key)
	hash := manifestHash(p)
	// With thumbnails just written, the manifest is written whatever is
	// there: the calls to find out would cost more than the write.
	if len(p.todo) == 0 {
		a, err := thumbnailAt(ctx, p.out, mkey)
		if err != nil {
			return nil, false, err
		}
		if a != nil {
			owner, marked := a.Metadata[MetaSource]
			if !marked || unescape(owner) != key || a.Metadata[MetaKind] != KindManifest {
				return nil, false, fmt.Errorf("%w: %q holds an object that is not the manifest of %q", ErrCollision, mkey, key)
			}
			if a.Metadata[MetaETag] == p.version && a.Metadata[MetaConfig] == hash {
				var cur Manifest
				if err := readRecord(ctx, p.out, mkey, &cur); err == nil {
					if _, err := removeRecord(ctx, p.out, t.cfg.FailureKey(key)); err != nil {
						return nil, false, err
					}
					return &cur, false, nil
				} else if !errors.Is(err, ErrNoRecord) {
					return nil, false, err
				}
			}
		}
	}
	m, err = t.buildManifest(ctx, key, p, smallest)
	if err != nil {
		return nil, false, err
	}
	if err := writeRecord(ctx, p.out, mkey, m, t.recordMeta(key, p.version, KindManifest, hash)); err != nil {
		return nil, false, err
	}
	if _, err := removeRecord(ctx, p.out, t.cfg.FailureKey(key)); err != nil {
		return m, true, err
	}
	return m, true, nil
}

// buildManifest fills a Manifest from what is in storage: the variants
// written in this call from their result, the others from their
// attributes (and, for a thumbnail older than the size metadata, its
// header).
func (t *Thumbnailer) buildManifest(ctx context.Context, key string, p *plan, smallest []byte) (*Manifest, error) {
	m := &Manifest{
		Schema: ManifestSchema,
		Source: ManifestSource{Key: key, Version: p.version, Format: string(p.srcFormat), Bytes: p.attrs.Size},
		Status: ManifestStatusComplete,
	}
	if p.srcWidth > 0 {
		m.Source.Width, m.Source.Height = p.srcWidth, p.srcHeight
	}
	for i, v := range p.res.Variants {
		mv := ManifestVariant{Box: v.Size.Box(), Mode: string(v.Size.Mode), Key: v.Key, Format: string(v.Format),
			ContentType: v.Format.ContentType(), Width: v.Width, Height: v.Height, Bytes: int64(v.Bytes)}
		if v.Status != Written {
			a := p.vattrs[i] // current, as plan found it
			if a == nil {
				return nil, fmt.Errorf("thumbnail %q is missing", v.Key)
			}
			var err error
			mv.Bytes = a.Size
			mv.Width, _ = strconv.Atoi(a.Metadata[MetaWidth])
			mv.Height, _ = strconv.Atoi(a.Metadata[MetaHeight])
			if mv.Width <= 0 || mv.Height <= 0 {
				if mv.Width, mv.Height, err = thumbnailSize(ctx, p.out, v.Key); err != nil {
					return nil, err
				}
			}
			if m.Source.Width == 0 {
				m.Source.Width, m.Source.Height, _ = parseSourceSize(a.Metadata[MetaSourceSize])
			}
		}
		m.Variants = append(m.Variants, mv)
	}
	if m.Source.Width == 0 {
		w, h, err := t.sourceSize(ctx, p)
		if err != nil {
			return nil, err
		}
		m.Source.Width, m.Source.Height = w, h
	}
	if len(p.res.Variants) > 0 {
		last := p.res.Variants[len(p.res.Variants)-1]
		if smallest == nil {
			var err error
			if smallest, err = readAll(ctx, p.out, last.Key, p.vattrs[len(p.vattrs)-1].Size); err != nil {
				return nil, fmt.Errorf("read thumbnail %q: %w", last.Key, err)
			}
		}
		hash, color, err := Placeholder(smallest)
		if err != nil {
			return nil, fmt.Errorf("placeholder from %q: %w", last.Key, err)
		}
		m.BlurHash, m.DominantColor = hash, color
	}
	m.Time = time.Now().UTC()
	return m, nil
}

// readAll reads the object at key, of size bytes by its attributes, in
// one read where the storage allows.
func readAll(ctx context.Context, b *blob.Bucket, key string, size int64) ([]byte, error) {
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := bytes.NewBuffer(make([]byte, 0, size+1))
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// thumbnailSize reads the header of the thumbnail at vkey.
func thumbnailSize(ctx context.Context, b *blob.Bucket, vkey string) (int, int, error) {
	r, err := b.NewReader(ctx, vkey, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("read thumbnail %q: %w", vkey, err)
	}
	defer r.Close()
	c, _, err := pixels.ReadConfig(r)
	if err != nil {
		return 0, 0, fmt.Errorf("read thumbnail %q: %w", vkey, err)
	}
	return c.Width, c.Height, nil
}

// sourceSize reads the source's header for its size as shown: for a
// manifest of thumbnails made before they recorded it.
func (t *Thumbnailer) sourceSize(ctx context.Context, p *plan) (int, int, error) {
	r, err := p.src.NewReader(ctx, p.res.Key, nil)
	if err != nil {
		return 0, 0, sourceErr(err)
	}
	defer r.Close()
	c, _, err := pixels.ReadConfig(&sourceReader{r: r, limit: t.cfg.MaxBytes})
	if err != nil {
		return 0, 0, err
	}
	w, h := c.Width, c.Height
	if pixels.Swaps(c.Orientation) {
		w, h = h, w
	}
	return w, h, nil
}

// sourceSizeMeta is MetaSourceSize's value.
func sourceSizeMeta(w, h int) string { return fmt.Sprintf("%dx%d", w, h) }

func parseSourceSize(s string) (int, int, bool) {
	ws, hs, ok := strings.Cut(s, "x")
	if !ok {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, false
	}
	return w, h, true
}

// decodeSmall decodes an encoded thumbnail at about box pixels on its
// longer side (JPEGs decode straight at a reduced scale).
func decodeSmall(data []byte, box int) (image.Image, error) {
	c, err := pixels.DecodeConfig(data)
	if err != nil {
		return nil, err
	}
	img, err := pixels.Decode(data, c, box, box)
	if err != nil {
		return nil, err
	}
	return pixels.Resize(img, box, box, pixels.Fit), nil
}
