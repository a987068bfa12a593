package door_test

import (
	"context"
	"fmt"
	"log/slog"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// A door parses its platform's event into a door.Event, hands it to Handle
// and maps the Outcome onto its platform's answer.
func ExampleDoor_Handle() {
	ctx := context.Background()
	photos := memblob.OpenBucket(nil)
	defer photos.Close()
	photos.WriteAll(ctx, "uploads/cat.jpg", pixeltest.JPEG(pixeltest.Photo(400, 300, 1), 85), nil)

	d, err := door.New(door.Config{
		Pipeline: pipeline.DefaultConfig(),
		Open: buckets.OpenerFunc(func(_ context.Context, url string) (*blob.Bucket, error) {
			return photos, nil // a *buckets.Cache in a real door
		}),
		BucketURL:   func(name string) string { return "s3://" + name },
		Buckets:     []string{"photos"},
		CheckBucket: door.S3BucketName,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	for _, ev := range []door.Event{
		{Bucket: "photos", Key: "uploads/cat.jpg", Action: door.Created},
		{Bucket: "photos", Key: "uploads/cat.jpg", Action: door.Created}, // delivered twice
		{Bucket: "photos", Key: "thumbnails/200x200/uploads/cat.jpg", Action: door.Created},
		{Bucket: "photos?anonymous=true", Key: "uploads/cat.jpg", Action: door.Created},
	} {
		o := d.Handle(ctx, ev)
		fmt.Printf("%s written=%d retry=%v\n", o.Status, o.Written(), o.Retry())
	}
	// Output:
	// done written=1 retry=false
	// up-to-date written=0 retry=false
	// skipped written=0 retry=false
	// refused written=0 retry=false
}
