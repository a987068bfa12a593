package door

import (
	"context"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
)

// TestOutcomeRecords: an Outcome carries the manifest of a created source,
// the manifest removed with a removed one, and the failure record of a
// permanent failure, counting the attempts that failed transiently before.
func TestOutcomeRecords(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, func(c *Config) { c.MaxAttempts = 10 })
	if err := r.src.WriteAll(ctx, "a.jpg", photo, nil); err != nil {
		t.Fatal(err)
	}
	o := r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "e1"})
	if o.Status != Done || o.Manifest == nil || o.Manifest.Bucket != "photos" || o.Manifest.Source.Key != "a.jpg" ||
		len(o.Manifest.Variants) != 1 || o.Manifest.Variants[0].Key != "thumbnails/200x200/a.jpg" || o.Failure != nil {
		t.Fatalf("created: %+v, manifest %+v", o, o.Manifest)
	}
	// A duplicate: up to date, with the same manifest.
	dup := r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Created, ID: "e1"})
	if dup.Status != UpToDate || dup.Manifest == nil || dup.Manifest.BlurHash != o.Manifest.BlurHash || !dup.Manifest.Time.Equal(o.Manifest.Time) {
		t.Errorf("duplicate: %+v, manifest %+v", dup, dup.Manifest)
	}

	if err := r.src.Delete(ctx, "a.jpg"); err != nil {
		t.Fatal(err)
	}
	o = r.d.Handle(ctx, Event{Bucket: "photos", Key: "a.jpg", Action: Removed, ID: "e2"})
	if o.Status != Done || o.Manifest == nil || o.Manifest.Source.Key != "a.jpg" || len(o.Removed) != 1 {
		t.Errorf("removed: %+v, manifest %+v", o, o.Manifest)
	}

	// A corrupt upload whose first two reads fail transiently.
	if err := r.src.WriteAll(ctx, "b.jpg", photo[:len(photo)/3], nil); err != nil {
		t.Fatal(err)
	}
	r.faults.Add(faultblob.Rule{Op: faultblob.Read, KeyPrefix: "b.jpg", Times: 2})
	ev := Event{Bucket: "photos", Key: "b.jpg", Action: Created, ID: "e3"}
	for i := 1; i <= 2; i++ {
		if o := r.d.Handle(ctx, ev); o.Status != FailedTransient || o.Failure != nil {
			t.Fatalf("attempt %d: %+v", i, o)
		}
	}
	o = r.d.Handle(ctx, ev)
	if o.Status != FailedPermanent || o.Failure == nil || o.Failure.Attempts != 3 || o.Failure.Class != "corrupt" ||
		o.Failure.Bucket != "photos" || o.Manifest != nil {
		t.Fatalf("attempt 3: %+v, failure %+v", o, o.Failure)
	}
	th, err := r.d.Thumbnailer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := th.ReadFailure(ctx, r.src, "b.jpg")
	if err != nil || stored.Attempts != 3 || stored.Bucket != "" {
		t.Errorf("stored failure record %+v, %v; want 3 attempts, no bucket", stored, err)
	}

	// A dry run writes neither.
	dry := newRig(t, func(c *Config) { c.DryRun = true })
	if err := dry.src.WriteAll(ctx, "c.jpg", photo[:len(photo)/3], nil); err != nil {
		t.Fatal(err)
	}
	if o := dry.d.Handle(ctx, Event{Bucket: "photos", Key: "c.jpg", Action: Created}); o.Failure != nil || o.Manifest != nil {
		t.Errorf("dry run: %+v", o)
	}
	if ok, err := dry.src.Exists(ctx, pipeline.DefaultConfig().FailureKey("c.jpg")); err != nil || ok {
		t.Errorf("a dry run wrote a failure record: %v, %v", ok, err)
	}
}
