package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// The function answers each kind of payload: an S3 notification with what
// it did per record, the S3 test event with an acknowledgement, and an SQS
// batch with the messages to redeliver (none here).
func Example() {
	ctx := context.Background()
	buckets := &memBuckets{}
	src, _ := buckets.Open(ctx, "mem://photos")
	_ = src.WriteAll(ctx, "uploads/cat.jpg", pixeltest.JPEG(pixeltest.Photo(64, 48, 1), 85), nil)

	cfg := pipeline.DefaultConfig() // one size, 200x200
	h := newHandler(cfg, buckets, func(name string) string { return "mem://" + name }, slog.New(slog.DiscardHandler))
	fn := lambda.NewHandler(h.Handle)

	for _, payload := range []string{
		`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"photos"},"object":{"key":"uploads/cat.jpg"}}}]}`,
		`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"photos"}`,
		`{"Records":[{"messageId":"m1","eventSource":"aws:sqs","body":"{\"Records\":[]}"}]}`,
	} {
		out, err := fn.Invoke(ctx, []byte(payload))
		fmt.Println(string(out), err)
	}
	// Output:
	// {"records":[{"bucket":"photos","key":"uploads/cat.jpg","action":"created","thumbnails":["thumbnails/200x200/uploads/cat.jpg"],"written":1}]} <nil>
	// {"testEvent":true,"records":[]} <nil>
	// {"batchItemFailures":[]} <nil>
}
