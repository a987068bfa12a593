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
