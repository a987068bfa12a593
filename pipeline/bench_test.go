package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// benchJPEGs holds camera-like baseline JPEGs, made once per process.
var benchJPEGs = sync.OnceValue(func() map[string][]byte {
	return map[string][]byte{
		"12MP": pixeltest.JPEG(pixeltest.Photo(4000, 3000, 12), 90),
		"24MP": pixeltest.JPEG(pixeltest.Photo(6000, 4000, 24), 90),
	}
})

// BenchmarkProcess makes one 200x200 thumbnail of a 12 MP and a 24 MP JPEG
// through Process on memblob, the whole path: read, sniff, header, decode,
// resize, encode, write. Each iteration writes afresh (a new source ETag).
func BenchmarkProcess(b *testing.B) {
	for _, name := range []string{"12MP", "24MP"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			data := benchJPEGs()[name]
			bucket := memblob.OpenBucket(nil)
			defer bucket.Close()
			th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				key := fmt.Sprintf("src/%d.jpg", i)
				b.StopTimer()
				if err := bucket.WriteAll(ctx, key, data, nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := th.Process(ctx, bucket, key)
				if err != nil || res.Written() != 1 {
					b.Fatalf("%+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}

// BenchmarkManifest measures what the manifest adds to Process, in one
// run: "process" is the whole path for a 12 MP JPEG (manifest included),
// "placeholder" the BlurHash and dominant colour of its 200x150 thumbnail,
// and "manifest" rewriting the manifest of thumbnails already there (the
// placeholder, the JSON and one write), so the ratios read off directly.
func BenchmarkManifest(b *testing.B) {
	ctx := context.Background()
	data := benchJPEGs()["12MP"]
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := bucket.WriteAll(ctx, "src.jpg", data, nil); err != nil {
		b.Fatal(err)
	}
	res, err := th.Process(ctx, bucket, "src.jpg")
	if err != nil {
		b.Fatal(err)
	}
	thumb, err := bucket.ReadAll(ctx, res.Variants[0].Key)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("process", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			key := fmt.Sprintf("src/%d.jpg", i)
			b.StopTimer()
			if err := bucket.WriteAll(ctx, key, data, nil); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if res, err := th.Process(ctx, bucket, key); err != nil || res.Written() != 1 || res.Manifest == nil {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
	b.Run("placeholder", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := pipeline.Placeholder(thumb); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("manifest", func(b *testing.B) {
		mkey := th.Config().ManifestKey("src.jpg")
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := bucket.Delete(ctx, mkey); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if res, err := th.Process(ctx, bucket, "src.jpg"); err != nil || res.Written() != 0 || res.Manifest == nil {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
}
