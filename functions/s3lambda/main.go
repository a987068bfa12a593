// Command s3lambda is thumbpipe's AWS Lambda function: it makes the
// thumbnails of images uploaded to an S3 bucket and deletes them when their
// source is deleted. It is built as `bootstrap` for the provided.al2023
// runtime:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc,grpcnotrace -trimpath -ldflags="-s -w" -o bootstrap ./functions/s3lambda
//
// deploy/sam/template.yaml deploys it with its bucket and triggers.
//
// # Events
//
// The function accepts S3 notifications invoked directly (ObjectCreated:*
// makes the thumbnails, ObjectRemoved:* deletes them), S3 notifications
// delivered through SQS (answered with partial batch failures, so that one
// bad message does not redeliver the batch) and s3:TestEvent (acknowledged).
// Object keys are URL-decoded from the event and checked before use, and
// bucket names must follow S3's naming rules (and be in the handler's
// allow-list when it has one; empty: every validly named bucket, the
// trigger and the role deciding which reach the function). One invocation
// handles at most DefaultMaxRecords records: a bigger payload is
// acknowledged unread, a bigger SQS batch fails unread.
//
// # Errors
//
// A permanent failure (a corrupt or oversized image, a source already gone)
// is logged and acknowledged. A transient one (storage unavailable, a
// timeout) fails the invocation — or the SQS message — so that Lambda
// retries it; after the retries the event goes to the on-failure
// destination. Logs are JSON lines carrying the request ID.
//
// # Configuration
//
// The THUMBPIPE_* variables internal/envconfig lists for s3lambda, read
// once at start; an invalid configuration stops the function at init, and
// a THUMBPIPE_* variable the function does not read is warned about. Buckets are opened as
// s3://<name> in the function's region (AWS_REGION) and kept open across
// warm invocations. The S3 client honours AWS_ENDPOINT_URL_S3 (and
// AWS_ENDPOINT_URL), which points it at MinIO or LocalStack; with either set,
// requests use path-style addressing, which those servers need.
// THUMBPIPE_OUTPUT_BUCKET, when set, is s3://<name> of a separate bucket for
// the thumbnails. When GOMEMLIMIT is unset, the Go heap is kept within 90% of
// the function's memory; when THUMBPIPE_MAX_DECODE_MEMORY is unset, an image
// whose decode needs more than half the function's memory, by its header,
// is refused (a permanent failure) before it is decoded.
package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	_ "gocloud.dev/blob/s3blob"
	_ "gocloud.dev/pubsub/awssnssqs" // awssns:// and awssqs:// event topics

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
	"github.com/thumbpipe/thumbpipe/internal/events"
)

func main() {
	log := newLogger(os.Stdout, os.Getenv)
	if limit := memoryLimit(os.Getenv); limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	for _, w := range envconfig.Unknown(envconfig.S3Lambda, os.Environ()) {
		log.Warn(w)
	}
	h, err := fromEnv(os.Getenv, log)
	if err != nil {
		log.Error("invalid configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// fromEnv builds the handler from the environment. It reads configuration
// only: no bucket is opened until the first event.
func fromEnv(getenv func(string) string, log *slog.Logger) (*handler, error) {
	st, err := envconfig.Read(envconfig.S3Lambda, getenv)
	if err != nil {
		return nil, err
	}
	bucketURL := s3URL(getenv)
	out := ""
	if st.OutputBucket != "" {
		if out, err = outputURL(st.OutputBucket, bucketURL); err != nil {
			return nil, err
		}
	}
	h := newHandler(st.Pipeline, &buckets.Cache{}, bucketURL, log, st.Buckets...)
	// newHandler's thumbnails go into each source's bucket; these into out.
	h.setOutput(out)
	pub, err := events.New(st.EventsTopic) // connects on the first event
	if err != nil {
		return nil, err
	}
	h.setEvents(pub)
	h.maxRecords = st.MaxRecords
	return h, nil
}

// s3URL returns the function that turns an event's bucket name into the
// URL it is opened with: s3://<name>, path-style when an endpoint override
// (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) is set. The S3 client reads the
// override and the region from the environment itself.
func s3URL(getenv func(string) string) func(name string) string {
	q := url.Values{}
	if getenv("AWS_ENDPOINT_URL_S3") != "" || getenv("AWS_ENDPOINT_URL") != "" {
		q.Set("use_path_style", "true")
	}
	return func(name string) string {
		return (&url.URL{Scheme: "s3", Host: name, RawQuery: q.Encode()}).String()
	}
}

// outputURL checks THUMBPIPE_OUTPUT_BUCKET: s3://<name> is opened like an
// event's bucket; a URL with its own query is used as it is.
func outputURL(raw string, bucketURL func(string) string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || door.S3BucketName(u.Host) != nil || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("THUMBPIPE_OUTPUT_BUCKET %q: want s3://<bucket name>", raw)
	}
	if u.RawQuery != "" {
		return raw, nil
	}
	return bucketURL(u.Host), nil
}

// newLogger returns the function's JSON logger, with Lambda's field names
// (timestamp, level, message) and the level from AWS_LAMBDA_LOG_LEVEL, which
// Lambda sets from the function's ApplicationLogLevel.
func newLogger(w *os.File, getenv func(string) string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(getenv("AWS_LAMBDA_LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lambdacontext.ReplaceAttr}))
}

// memoryLimit returns the Go heap limit for the function: 90% of its memory
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB), so that the garbage collector
// works harder before Lambda runs out of memory; 0 when GOMEMLIMIT is set
// or the size is unknown.
func memoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mb <= 0 {
		return 0
	}
	return mb << 20 / 10 * 9
}
