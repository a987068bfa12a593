package miniohook_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/thumbpipe/thumbpipe/functions/miniohook"
	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

func ExampleNew() {
	ctx := context.Background()
	cache := &buckets.Cache{}
	defer cache.Close()
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		panic(err)
	}
	h, err := miniohook.New(miniohook.Config{
		Token:     "s3cret",
		BucketURL: "mem://{bucket}", // e.g. s3://{bucket}?endpoint=http://minio:9000&use_path_style=true&...
		Buckets:   []string{"images"},
		Logger:    slog.New(slog.DiscardHandler),
	}, th, cache)
	if err != nil {
		panic(err)
	}

	// An upload, then MinIO's notification with its escaped key.
	images, _ := cache.Open(ctx, "mem://images")
	images.WriteAll(ctx, "uploads/my photo+1.jpg", pixeltest.JPEG(pixeltest.Photo(640, 480, 1), 85), nil)
	body := `{"EventName":"s3:ObjectCreated:Put","Key":"images/uploads/my photo+1.jpg","Records":[{
		"eventName":"s3:ObjectCreated:Put",
		"s3":{"bucket":{"name":"images"},"object":{"key":"uploads%2Fmy+photo%2B1.jpg"}}}]}`
	req := httptest.NewRequest("POST", "/webhook", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer s3cret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))

	attrs, _ := images.Attributes(ctx, "thumbnails/200x200/uploads/my photo+1.jpg")
	fmt.Println(attrs.ContentType, attrs.Metadata[pipeline.MetaSource])
	// Output:
	// 200 {"records":[{"bucket":"images","key":"uploads/my photo+1.jpg","event":"s3:ObjectCreated:Put","outcome":"processed","variants":1}]}
	// image/jpeg uploads%2Fmy%20photo+1.jpg
}
