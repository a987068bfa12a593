package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/pipeline"
)

// runManifest prints the manifest of one source as JSON.
func runManifest(ctx context.Context, args []string, e env) error {
	fs := newFlags("manifest", "--bucket URL [flags] KEY", e)
	open := bucketFlags(fs, e)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: manifest needs exactly one KEY", errUsage)
	}
	key := fs.Arg(0)
	t, err := open(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	m, err := t.th.ReadManifest(ctx, t.bucket, key)
	if errors.Is(err, pipeline.ErrNoRecord) {
		if f, ferr := t.th.ReadFailure(ctx, t.bucket, key); ferr == nil {
			return fmt.Errorf("%q has no manifest: it failed (%s, %s): %s", key, f.Class, f.Time.Format(time.RFC3339), f.Reason)
		}
		return fmt.Errorf("%q has no manifest: not processed yet, not selected, or not a source", key)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// runFailures lists the failure records, one line each, or one JSON
// object a line with --json.
func runFailures(ctx context.Context, args []string, e env) error {
	fs := newFlags("failures", "--bucket URL [--prefix P] [--json] [flags]", e)
	open := bucketFlags(fs, e)
	prefix := fs.String("prefix", "", "list only the failures of sources under this key prefix")
	asJSON := fs.Bool("json", false, "print each failure record as one line of JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	t, err := open(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	enc := json.NewEncoder(e.stdout)
	if !*asJSON {
		fmt.Fprintln(tw, "KEY\tCLASS\tATTEMPTS\tTIME\tREASON")
	}
	n := 0
	err = t.th.Failures(ctx, t.bucket, *prefix, func(f *pipeline.Failure) error {
		n++
		if *asJSON {
			return enc.Encode(f)
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.Key, f.Class, f.Attempts, f.Time.Format(time.RFC3339), oneLine(f.Reason))
		return err
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(e.stderr, "%d failures\n", n)
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runPrune removes the thumbnails and records whose source is gone or
// that the source's manifest no longer lists.
func runPrune(ctx context.Context, args []string, e env) error {
	fs := newFlags("prune", "--bucket URL [--dry-run] [flags]", e)
	open := bucketFlags(fs, e)
	dryRun := fs.Bool("dry-run", false, "report what would be removed; remove nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	t, err := open(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	res, err := t.th.Prune(ctx, t.bucket, pipeline.PruneOptions{DryRun: *dryRun, Removed: func(key, why string) {
		fmt.Fprintf(e.stdout, "%s %s: %s\n", verb, key, why)
	}})
	fmt.Fprintf(e.stdout, "%s %d, kept %d, remade %d\n", verb, len(res.Removed), res.Kept, len(res.Remade))
	return err
}

// failedSources lists the sources with a failure record under prefix, for
// backfill --retry-failed.
func failedSources(ctx context.Context, th *pipeline.Thumbnailer, b *blob.Bucket, prefix string) ([]*blob.ListObject, error) {
	var objs []*blob.ListObject
	err := th.Failures(ctx, b, prefix, func(f *pipeline.Failure) error {
		objs = append(objs, &blob.ListObject{Key: f.Key})
		return nil
	})
	return objs, err
}
