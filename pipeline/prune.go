package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// PruneOptions tune [Thumbnailer.Prune].
type PruneOptions struct {
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// Removed, when set, is called with each key removed (or, in a dry
	// run, that would be) and why.
	Removed func(key, why string)
}

// PruneResult counts what Prune looked at.
type PruneResult struct {
	// Removed are the keys removed (or that would be, in a dry run).
	Removed []string
	// Kept counts the thumbpipe objects left in place.
	Kept int
	// Remade are the sources whose thumbnails were made again because the
	// source came back while its orphans were removed.
	Remade []string
}

// Prune removes, from under the output prefix, the thumbnails, manifests
// and failure records whose source is gone, and the thumbnails that the
// source's current manifest no longer lists (a size since removed from the
// configuration, an older output format). Objects without the marker are
// never touched.
//
// It is safe while uploads go on: a source's objects are judged against
// its manifest only when the manifest is of the source's current version
// (otherwise its thumbnails are being made, or its event is still on the
// way), a thumbnail written after the manifest is left, and when a source
// turns out to exist again after one of its objects was removed, its
// thumbnails and manifest are made again, as [Thumbnailer.Delete] does.
func (t *Thumbnailer) Prune(ctx context.Context, bucket *blob.Bucket, opts PruneOptions) (PruneResult, error) {
	var res PruneResult
	out := t.output(bucket)
	it := out.List(&blob.ListOptions{Prefix: t.cfg.Prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, &Error{Op: "prune", Key: t.cfg.Prefix, Err: fmt.Errorf("list: %w", err)}
		}
		if o.IsDir {
			continue
		}
		if err := t.pruneOne(ctx, bucket, out, o.Key, opts, &res); err != nil {
			return res, &Error{Op: "prune", Key: o.Key, Err: err}
		}
	}
}

// pruneOne judges one object under the output prefix.
func (t *Thumbnailer) pruneOne(ctx context.Context, bucket, out *blob.Bucket, okey string, opts PruneOptions, res *PruneResult) error {
	a, err := thumbnailAt(ctx, out, okey)
	if a == nil || err != nil {
		return err // gone since the listing: nothing to do
	}
	owner, marked := a.Metadata[MetaSource]
	if !marked {
		return nil // not ours
	}
	source, kind := unescape(owner), a.Metadata[MetaKind]
	why, version, err := t.orphan(ctx, bucket, out, okey, source, kind, a)
	if err != nil || why == "" {
		if why == "" && err == nil {
			res.Kept++
		}
		return err
	}
	res.Removed = append(res.Removed, okey)
	if opts.Removed != nil {
		opts.Removed(okey, why)
	}
	if opts.DryRun {
		return nil
	}
	if err := out.Delete(ctx, okey); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete: %w", err)
	}
	// The source may have been uploaded (again) and processed since it was
	// judged, the object just removed among what that made: make it again.
	now, err := bucket.Attributes(ctx, source)
	switch {
	case gcerrors.Code(err) == gcerrors.NotFound:
		return nil
	case err != nil:
		return fmt.Errorf("check source %q again: %w", source, err)
	case sourceVersion(now) == version:
		return nil
	}
	if _, err := t.process(ctx, bucket, source); err != nil && !errors.Is(err, ErrSourceGone) {
		return fmt.Errorf("remake the thumbnails of %q, uploaded meanwhile: %w", source, err)
	}
	res.Remade = append(res.Remade, source)
	return nil
}

// orphan says why the object at okey, of kind, marked as made from
// source, should go, or "" to keep it. version is the source's version as
// judged ("" when it is gone).
func (t *Thumbnailer) orphan(ctx context.Context, bucket, out *blob.Bucket, okey, source, kind string, a *blob.Attributes) (why, version string, err error) {
	if CheckKey(source) != nil {
		return "", "", nil // a marker no thumbpipe wrote: leave it to a person
	}
	src, err := bucket.Attributes(ctx, source)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return "its source " + source + " is gone", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("check source %q: %w", source, err)
	}
	version = sourceVersion(src)
	switch kind {
	case KindFailure:
		return "", version, nil // goes with a success or with its source
	case KindManifest:
		if okey == t.cfg.ManifestKey(source) {
			return "", version, nil
		}
		return "a manifest of " + source + " not where its manifest is kept", version, nil
	}
	mkey := t.cfg.ManifestKey(source)
	ma, err := thumbnailAt(ctx, out, mkey)
	if ma == nil || err != nil {
		return "", version, err // no manifest yet: nothing to judge by
	}
	if ma.Metadata[MetaETag] != version || a.Metadata[MetaETag] == version && a.ModTime.After(ma.ModTime) {
		// Being made: a newer upload than its manifest, or a thumbnail
		// newer than the manifest of its version.
		return "", version, nil
	}
	var m Manifest
	if err := readRecord(ctx, out, mkey, &m); err != nil {
		if errors.Is(err, ErrNoRecord) {
			return "", version, nil
		}
		return "", version, err
	}
	if m.Source.Version != version {
		return "", version, nil
	}
	for _, v := range m.Variants {
		if v.Key == okey {
			return "", version, nil
		}
	}
	return "not listed in the current manifest of " + source, version, nil
}
