package gcsfunc

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestDeliveries replays what Eventarc does with at-least-once delivery
// (the same event concurrently, an older generation's event after a newer
// one, a finalized event for an object since deleted) and checks that one
// correct set of thumbnails remains, that of the object as it is now, and
// that every delivery is acknowledged.
func TestDeliveries(t *testing.T) {
	const key = "uploads/d.jpg"
	landscape := pixeltest.JPEG(pixeltest.Photo(160, 120, 1), 85) // 64x64 fit: 64x48
	portrait := pixeltest.JPEG(pixeltest.Photo(120, 160, 2), 85)  // 64x64 fit: 48x64
	fin, del := TypeFinalized, TypeDeleted

	type step struct {
		put        []byte   // upload this as the key first
		remove     bool     // delete the key first
		deliver    []string // then deliver events of these types, in order...
		concurrent bool     // ...or all at once
	}
	tests := []struct {
		name  string
		steps []step
		wantW int // width of the 64x64 thumbnail (which version it shows); 0: no thumbnails
	}{
		{"duplicate, concurrent", []step{{put: landscape, deliver: []string{fin, fin, fin, fin, fin, fin}, concurrent: true}}, 64},
		{"out of order: the older generation's event arrives last", []step{{put: landscape}, {put: portrait, deliver: []string{fin, fin}}}, 48},
		{"redelivered after an overwrite", []step{{put: landscape, deliver: []string{fin}}, {put: portrait, deliver: []string{fin, del, fin}}}, 48},
		{"finalized event for an object already deleted", []step{{put: landscape, deliver: []string{fin}}, {remove: true, deliver: []string{del, fin, del}}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, smallConfig(), nil)
			ctx := context.Background()
			for _, s := range tc.steps {
				if s.put != nil {
					r.put(t, key, s.put)
				}
				if s.remove {
					if err := r.bucket.Delete(ctx, key); err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				for _, typ := range s.deliver {
					e := objectEvent(t, typ, "thumbpipe-demo", key, nil)
					deliver := func() {
						if err := r.h.handle(ctx, e); err != nil {
							t.Errorf("%s event: %v, want it acknowledged", typ, err)
						}
					}
					if s.concurrent {
						wg.Go(deliver)
					} else {
						deliver()
					}
				}
				wg.Wait()
			}
			thumbs := listPrefix(t, r.bucket, "thumbnails/")
			if tc.wantW == 0 {
				if len(thumbs) != 0 {
					t.Fatalf("thumbnails %q remain of a deleted object", thumbs)
				}
				return
			}
			if want := []string{"thumbnails/32x32/" + key, "thumbnails/64x64/" + key}; strings.Join(thumbs, ",") != strings.Join(want, ",") {
				t.Fatalf("thumbnails %q, want %q", thumbs, want)
			}
			img := pipelinetest.CheckVariant(t, r.bucket, "thumbnails/64x64/"+key, key, "image/jpeg", 64, 64, false)
			if w := img.Bounds().Dx(); w != tc.wantW {
				t.Errorf("the 64x64 thumbnail is %d wide, want %d: it shows another version of the object", w, tc.wantW)
			}
			pipelinetest.CheckVariant(t, r.bucket, "thumbnails/32x32/"+key, key, "image/jpeg", 32, 32, true)
			src, err := r.bucket.Attributes(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range thumbs {
				a, err := r.bucket.Attributes(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				if e := a.Metadata["thumbpipe-source-etag"]; e == "" || !strings.Contains(src.ETag, e) {
					t.Errorf("%s names source ETag %q, the source's is %s", k, e, src.ETag)
				}
			}
		})
	}
}

// listPrefix lists the keys under prefix, in order.
func listPrefix(t *testing.T, b *blob.Bucket, prefix string) []string {
	t.Helper()
	var out []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, obj.Key)
	}
}
