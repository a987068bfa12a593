package faultblob_test

import (
	"context"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest/faultblob"
)

// TestHook checks that a hook runs once, after the call it names (past the
// ones it skips) and before the caller sees the result.
func TestHook(t *testing.T) {
	ctx := context.Background()
	base := memblob.OpenBucket(nil)
	defer base.Close()
	f := faultblob.New(1)
	b := faultblob.Wrap(base, f)
	if err := base.WriteAll(ctx, "k", []byte("v1"), nil); err != nil {
		t.Fatal(err)
	}
	runs := 0
	f.AddHook(faultblob.Hook{Op: faultblob.Read, Key: "k", Skip: 1, Fn: func() {
		runs++
		// The reader is already open on v1.
		if err := b.WriteAll(ctx, "k", []byte("v2"), nil); err != nil {
			t.Error(err)
		}
	}})
	for i, want := range []string{"v1", "v1", "v2"} {
		got, err := b.ReadAll(ctx, "k")
		if err != nil || string(got) != want {
			t.Fatalf("read %d: %q, %v; want %q", i, got, err, want)
		}
	}
	if runs != 1 {
		t.Errorf("hook ran %d times, want once", runs)
	}
	gone := false
	f.AddHook(faultblob.Hook{Op: faultblob.Attributes, Key: "k", Fn: func() { gone = base.Delete(ctx, "k") == nil }})
	if ok, err := b.Exists(ctx, "k"); err != nil || !ok || !gone {
		t.Fatalf("Exists = %v, %v (hook ran: %v); want true, from before the hook deleted it", ok, err, gone)
	}
	if ok, err := b.Exists(ctx, "k"); err != nil || ok {
		t.Errorf("after the hook: Exists = %v, %v; want false", ok, err)
	}
}
