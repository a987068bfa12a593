// Package envconfig is the registry of thumbpipe's settings: every
// THUMBPIPE_* environment variable any program reads is listed once in
// [Vars], with its flag, default, parser, documentation and the programs
// that read it. The README's configuration section, the SAM template and
// the gcloud deploy script are checked against it, and a test fails when
// code outside this package reads a THUMBPIPE_* variable.
//
// # Precedence
//
// A flag given on the command line wins, even when it is given empty; then
// the environment; then the default. An empty value means the default
// (--output-bucket= clears THUMBPIPE_OUTPUT_BUCKET, --sizes= gives 200x200).
//
// # Use
//
// A program registers its flags with [Flags], parses them, and reads its
// [Settings] with [Read], which reports every problem at once. A program
// without flags passes os.Getenv to Read. At start every program logs
// [Unknown]'s warnings about THUMBPIPE_* variables nobody reads (a typo such
// as THUMBPIPE_SIZE names THUMBPIPE_SIZES).
package envconfig

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// Prefix starts the name of every variable.
const Prefix = "THUMBPIPE_"

// Program is a set of programs that read a variable.
type Program uint

// The programs, as [Var.Programs] names them.
const (
	Process    Program = 1 << iota // thumbpipe process
	Backfill                       // thumbpipe backfill
	Watch                          // thumbpipe watch
	Serve                          // thumbpipe serve, the MinIO door
	MinIOSetup                     // thumbpipe minio-setup (serve --minio-setup reads its settings too)
	S3Lambda                       // functions/s3lambda, the AWS Lambda door
	GCSFunc                        // functions/gcsfunc, the Cloud Functions door
	Manifest                       // thumbpipe manifest
	Failures                       // thumbpipe failures
	Prune                          // thumbpipe prune
	Worker                         // thumbpipe worker, the queue door

	// CommandLine is thumbpipe's bucket commands.
	CommandLine = Process | Backfill | Watch | Manifest | Failures | Prune
	// Doors is the programs that turn bucket events into thumbnails.
	Doors = Serve | S3Lambda | GCSFunc | Worker
	// Thumbnailers is every program that makes thumbnails: each reads the
	// pipeline's settings.
	Thumbnailers = CommandLine | Doors
	// Command is every program of the thumbpipe command.
	Command = CommandLine | Serve | Worker | MinIOSetup
)

var programNames = []struct {
	p    Program
	name string
}{
	{Process, "process"}, {Backfill, "backfill"}, {Watch, "watch"}, {Serve, "serve"},
	{MinIOSetup, "minio-setup"}, {S3Lambda, "s3lambda"}, {GCSFunc, "gcsfunc"}, {Worker, "worker"},
	{Manifest, "manifest"}, {Failures, "failures"}, {Prune, "prune"},
}

// String names the programs in p, comma-separated.
func (p Program) String() string {
	var names []string
	for _, n := range programNames {
		if p&n.p != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ", ")
}

// Groups of variables, in the order the README documents them.
const (
	GroupPipeline    = "pipeline"
	GroupCommandLine = "command line"
	GroupDoors       = "doors"
	GroupServe       = "serve"
	GroupMinIOSetup  = "minio-setup"
)

// Var is one environment variable.
type Var struct {
	Name string // THUMBPIPE_SIZES
	// Flag is the flag that mirrors it (sizes for --sizes), or "" when no
	// program has one.
	Flag string
	// Default is the value used when neither the flag nor the variable
	// gives one; "" when the setting's zero value is its default.
	Default string
	// DefaultDoc says what an empty Default means, e.g. "CPUs".
	DefaultDoc string
	// Doc says what the variable does, in Markdown.
	Doc      string
	Programs Program
	Group    string
	set      func(s *Settings, v string) error
}

// Settings are every setting the registry reads. Each program uses the
// fields of the variables it reads ([Var.Programs]); the others keep their
// zero value.
type Settings struct {
	// Pipeline is the core's config (THUMBPIPE_SIZES ... THUMBPIPE_CACHE_CONTROL).
	Pipeline pipeline.Config
	// OutputBucket is the URL of a separate bucket for thumbnails; empty
	// means the source bucket.
	OutputBucket string

	// Bucket is the command line's bucket URL or directory.
	Bucket string
	// BackfillPrefix limits backfill to keys under it.
	BackfillPrefix string
	// Concurrency is how many objects backfill processes at once; 0 means
	// one per CPU.
	Concurrency int

	// Subscription is the URL of the subscription the worker consumes.
	Subscription string

	// Buckets is the doors' allow-list of bucket names; empty means every
	// bucket that sends events (serve requires a list).
	Buckets []string
	// EventsTopic is the topic URL completion events are published to;
	// empty means none are.
	EventsTopic string
	// MaxEventAge drops events older than it; 0 never drops.
	MaxEventAge time.Duration
	// MaxAttempts is how many times one MinIO event is tried before it is
	// dropped.
	MaxAttempts int
	// MaxRecords bounds the records of one request or invocation.
	MaxRecords int

	// Listen is the address serve listens on.
	Listen string
	// WebhookToken is the bearer token MinIO sends.
	WebhookToken string
	// BucketURL turns a bucket name into a URL: {bucket} stands for it.
	BucketURL string
	// Workers bounds the requests processed at once; 0 means one per CPU.
	Workers int
	// MaxBodyBytes bounds a webhook request's body.
	MaxBodyBytes int64
	// MemoryLimit, when positive, is the Go heap's soft limit serve sets
	// (debug.SetMemoryLimit); 0 leaves GOMEMLIMIT's.
	MemoryLimit int64
	// ProcessTimeout bounds the work on one request.
	ProcessTimeout time.Duration
	// ReadHeaderTimeout and ReadTimeout bound how long a client may take
	// to send a request's headers and the whole request.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// MetricsListen, when set, is the address /metrics is served on
	// instead of Listen.
	MetricsListen string
	// MetricsToken, when set, is the bearer token /metrics asks for.
	MetricsToken string
	// LogFormat is "json", "text" or "auto".
	LogFormat string

	// MinIOEndpoint is MinIO's URL; empty means the bucket URL's endpoint.
	MinIOEndpoint string
	// MinIOWebhookID is the <ID> of MinIO's MINIO_NOTIFY_WEBHOOK_*_<ID>
	// (or MINIO_NOTIFY_NATS_*_<ID>).
	MinIOWebhookID string
	// MinIOTarget is the kind of MinIO's notification target: "webhook"
	// or "nats".
	MinIOTarget string
	// NotifyPrefix and NotifySuffix filter the keys MinIO notifies about.
	NotifyPrefix, NotifySuffix string
	// MinIOWait is how long minio-setup waits for MinIO to answer.
	MinIOWait time.Duration
	// MinIOUser, when set, is the MinIO user minio-setup creates for
	// thumbpipe, with MinIOUserSecret as its secret key: it may read the
	// buckets and write and delete only under the output prefix.
	MinIOUser, MinIOUserSecret string
}

// Log formats of THUMBPIPE_LOG_FORMAT.
const (
	LogJSON = "json"
	LogText = "text"
	LogAuto = "auto" // JSON unless stderr is a terminal
)

// MinIO notification targets of THUMBPIPE_MINIO_TARGET.
const (
	MinIOTargetWebhook = "webhook"
	MinIOTargetNATS    = "nats"
)

// ExampleToken is the webhook token the documentation shows; serve refuses it.
const ExampleToken = "local-dev-token-change-me"

// Vars lists every THUMBPIPE_* variable any program reads.
var Vars = []Var{
	// The pipeline's.
	{Name: "THUMBPIPE_SIZES", Flag: "sizes", Default: "200x200", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "comma-separated boxes `WxH[:mode][:format]`: the mode `fit` (inside the box, keep the aspect ratio; the default) or `fill` (cover the box and crop the centre to exactly `WxH`), the format `auto`, `jpeg`, `png`, `gif`, `webp` (or any other format written) for this size's thumbnails instead of `THUMBPIPE_FORMAT`'s, e.g. `200x200:fill:webp,1200x1200`. Images are never enlarged.",
		set: func(s *Settings, v string) error {
			var sizes []pipeline.Size
			for _, item := range SplitList(v) {
				sz, err := pipeline.ParseSize(item)
				if err != nil {
					return err
				}
				sizes = append(sizes, sz)
			}
			s.Pipeline.Sizes = sizes
			return nil
		}},
	{Name: "THUMBPIPE_FORMAT", Flag: "format", Default: "auto", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "`auto` keeps JPEG, PNG, GIF and WebP as they are and writes every other format (HEIC, AVIF, TIFF, BMP) as JPEG; or `jpeg`, `png`, `gif`, `webp` (or any other format written) for every size that names none",
		set: func(s *Settings, v string) error { s.Pipeline.Format = strings.ToLower(v); return nil }},
	{Name: "THUMBPIPE_JPEG_QUALITY", Flag: "jpeg-quality", Default: "85", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "JPEG quality, 1–100. Transparent images written as JPEG are flattened on `THUMBPIPE_BACKGROUND`.",
		set: func(s *Settings, v string) error { return setInt(&s.Pipeline.JPEGQuality, v) }},
	{Name: "THUMBPIPE_WEBP_QUALITY", Flag: "webp-quality", Default: "80", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "lossy WebP quality, 1–100; only WebP thumbnails' settings hash holds it",
		set: func(s *Settings, v string) error { return setInt(&s.Pipeline.WebPQuality, v) }},
	{Name: "THUMBPIPE_WEBP_LOSSLESS", Flag: "webp-lossless", Default: "false", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "`true` writes WebP thumbnails losslessly (larger; for graphics and screenshots), ignoring `THUMBPIPE_WEBP_QUALITY`",
		set: func(s *Settings, v string) error { return setBool(&s.Pipeline.WebPLossless, v) }},
	{Name: "THUMBPIPE_AVIF_QUALITY", Flag: "avif-quality", Default: "50", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "AVIF quality, 1–100 (AVIF looks as good as JPEG at lower numbers)",
		set: func(s *Settings, v string) error { return setInt(&s.Pipeline.AVIFQuality, v) }},
	{Name: "THUMBPIPE_BACKGROUND", Flag: "background", Default: "white", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "the colour transparent images are flattened on when written as JPEG, which has no alpha: `#rrggbb`, `#rgb`, `white` or `black`. PNG, GIF and WebP thumbnails keep their transparency. Only a colour other than white enters JPEG thumbnails' settings hash",
		set: func(s *Settings, v string) (err error) {
			s.Pipeline.Background, err = pipeline.ParseBackground(v)
			return err
		}},
	{Name: "THUMBPIPE_COLOR", Flag: "color", Default: "srgb", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "`srgb` converts a source's embedded colour profile (Display P3, Adobe RGB, CMYK…) to sRGB and writes none; `keep` keeps the pixel values and embeds the source's RGB profile in JPEG, PNG, WebP and AVIF thumbnails. Only `keep` enters the thumbnails' settings hash, so switching remakes every thumbnail once",
		set: func(s *Settings, v string) (err error) {
			s.Pipeline.Color, err = pixels.ParseColor(strings.ToLower(v))
			return err
		}},
	{Name: "THUMBPIPE_METADATA", Flag: "metadata", Default: "none", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "`none` writes no EXIF, XMP or IPTC from the source (no GPS, no serial numbers); `copyright` keeps only the creator and rights fields (EXIF Artist and Copyright, XMP `dc:creator` and `dc:rights`, IPTC By-line and Copyright Notice) in JPEG, PNG, WebP and AVIF thumbnails. Orientation is applied to the pixels and never written. Only `copyright` enters the settings hash of those formats, so switching remakes them once and leaves GIF thumbnails alone",
		set: func(s *Settings, v string) (err error) {
			s.Pipeline.Metadata, err = pixels.ParseMetadata(strings.ToLower(v))
			return err
		}},
	{Name: "THUMBPIPE_OUTPUT_PREFIX", Flag: "output-prefix", Default: "thumbnails/", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "where thumbnails go; keys under it are never processed",
		set: func(s *Settings, v string) error { s.Pipeline.Prefix = v; return nil }},
	{Name: "THUMBPIPE_OUTPUT_BUCKET", Flag: "output-bucket", DefaultDoc: "(the source bucket)", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "URL of a separate bucket for thumbnails — the strongest recursion guard (the Lambda takes `s3://name`, the Cloud Function `gs://name`)",
		set: func(s *Settings, v string) error { s.OutputBucket = v; return nil }},
	{Name: "THUMBPIPE_INCLUDE", Flag: "include", DefaultDoc: "(every key)", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "comma-separated key globs a source must match; `**` crosses folders (`uploads/**`, `**/*.jpg`)",
		set: func(s *Settings, v string) error { s.Pipeline.Include = SplitList(v); return nil }},
	{Name: "THUMBPIPE_EXCLUDE", Flag: "exclude", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "comma-separated key globs never processed",
		set: func(s *Settings, v string) error { s.Pipeline.Exclude = SplitList(v); return nil }},
	{Name: "THUMBPIPE_MAX_BYTES", Flag: "max-bytes", Default: "50MiB", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "largest source read (bytes, or with `KiB`/`MiB`/`GiB`)",
		set: func(s *Settings, v string) error { return setBytes(&s.Pipeline.MaxBytes, v) }},
	{Name: "THUMBPIPE_MAX_PIXELS", Flag: "max-pixels", Default: "50000000", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "largest image decoded, width × height, checked from the header before any pixel is decoded",
		set: func(s *Settings, v string) error { return setInt64(&s.Pipeline.MaxPixels, v) }},
	{Name: "THUMBPIPE_MAX_DECODE_MEMORY", Flag: "max-decode-memory", Default: "256MiB", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "most memory one decode may need (bytes, or with `KiB`/`MiB`/`GiB`), estimated from the header; an image over it is refused before decoding. `serve` shares it among the requests in flight. On Lambda, when unset: half the function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), 256 MiB of 512 MB",
		set: func(s *Settings, v string) error { return setBytes(&s.Pipeline.MaxDecodeMemory, v) }},
	{Name: "THUMBPIPE_CACHE_CONTROL", Flag: "cache-control", DefaultDoc: "(the source's)", Group: GroupPipeline, Programs: Thumbnailers,
		Doc: "Cache-Control written on every thumbnail",
		set: func(s *Settings, v string) error { s.Pipeline.CacheControl = v; return nil }},

	// The command line's.
	{Name: "THUMBPIPE_BUCKET", Flag: "bucket", DefaultDoc: "(required)", Group: GroupCommandLine, Programs: CommandLine,
		Doc: "the bucket: a directory or a bucket URL (`file:///dir`, `mem://`, `s3://name`, `gs://name`)",
		set: func(s *Settings, v string) error { s.Bucket = v; return nil }},
	{Name: "THUMBPIPE_BACKFILL_PREFIX", Flag: "prefix", Group: GroupCommandLine, Programs: Backfill,
		Doc: "`backfill` processes only sources under this key prefix",
		set: func(s *Settings, v string) error { s.BackfillPrefix = v; return nil }},
	{Name: "THUMBPIPE_CONCURRENCY", Flag: "concurrency", DefaultDoc: "CPUs", Group: GroupCommandLine, Programs: Backfill | Worker,
		Doc: "objects `backfill` processes at once; messages `worker` handles at once",
		set: func(s *Settings, v string) error { return setPositive(&s.Concurrency, v) }},

	// The doors'.
	{Name: "THUMBPIPE_EVENTS_TOPIC", Flag: "events-topic", DefaultDoc: "(no events)", Group: GroupDoors, Programs: Thumbnailers,
		Doc: "topic URL the completion events (CloudEvents: thumbnails created, failed, deleted) are published to: `awssns:///ARN?region=R`, `awssqs://sqs.R.amazonaws.com/ACCOUNT/QUEUE?region=R`, `gcppubsub://projects/P/topics/T`, `nats://host:4222/SUBJECT` (JetStream) or `mem://name`",
		set: func(s *Settings, v string) error {
			if _, err := events.New(v); err != nil {
				return err
			}
			s.EventsTopic = v
			return nil
		}},
	{Name: "THUMBPIPE_BUCKETS", Flag: "buckets", DefaultDoc: "(every bucket; required by `serve`)", Group: GroupDoors, Programs: Doors | MinIOSetup,
		Doc: "comma-separated buckets whose events are accepted; others are refused (and the buckets `minio-setup` creates)",
		set: func(s *Settings, v string) error { s.Buckets = SplitList(v); return nil }},
	{Name: "THUMBPIPE_SUBSCRIPTION", Flag: "subscription", DefaultDoc: "(required)", Group: GroupDoors, Programs: Worker,
		Doc: "what `worker` consumes: `nats://host:4222/STREAM/CONSUMER?subject=S` (a JetStream durable consumer; the worker creates both), `awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE?raw=true`, `gcppubsub://projects/P/subscriptions/S`, or `mem://topic`",
		set: func(s *Settings, v string) error { s.Subscription = v; return nil }},
	{Name: "THUMBPIPE_MAX_EVENT_AGE", Flag: "max-event-age", Default: "24h", Group: GroupDoors, Programs: Serve | GCSFunc | Worker,
		Doc: "events older than this are dropped with an ERROR log instead of being retried (`0`: never); run `thumbpipe backfill` afterwards",
		set: func(s *Settings, v string) error { return setDuration(&s.MaxEventAge, v, true) }},
	{Name: "THUMBPIPE_MAX_ATTEMPTS", Flag: "max-attempts", Default: "100", Group: GroupDoors, Programs: Serve | Worker,
		Doc: "attempts at one MinIO event before it is dropped with an ERROR log; `worker` drops it after as many failures of its own, and a JetStream consumer the worker creates delivers a message at most this often",
		set: func(s *Settings, v string) error { return setPositive(&s.MaxAttempts, v) }},
	{Name: "THUMBPIPE_MAX_RECORDS", Flag: "max-records", Default: "100", Group: GroupDoors, Programs: Serve | S3Lambda | Worker,
		Doc: "most records one webhook request, Lambda invocation or queue message may carry",
		set: func(s *Settings, v string) error { return setPositive(&s.MaxRecords, v) }},

	// serve's.
	{Name: "THUMBPIPE_LISTEN", Flag: "listen", Default: ":8080", Group: GroupServe, Programs: Serve | Worker,
		Doc: "address `serve` listens on; `worker` serves `/healthz` and `/metrics` there",
		set: func(s *Settings, v string) error { s.Listen = v; return nil }},
	{Name: "THUMBPIPE_WEBHOOK_TOKEN", Flag: "token", DefaultDoc: "(required)", Group: GroupServe, Programs: Serve,
		Doc: "bearer token, at least 16 characters and not the documented example; the same as MinIO's `MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>` (`--insecure-no-auth` runs without one). Prefer the variable: flags show in `ps`.",
		set: func(s *Settings, v string) error { s.WebhookToken = v; return nil }},
	{Name: "THUMBPIPE_BUCKET_URL", Flag: "bucket-url", DefaultDoc: "(required)", Group: GroupServe, Programs: Serve | Worker | MinIOSetup,
		Doc: "blob URL template, `{bucket}` = the event's bucket, e.g. `s3://{bucket}?endpoint=http://minio:9000&use_path_style=true&disable_https=true&region=us-east-1` (`gs://{bucket}` for Cloud Storage notifications); its endpoint and region also locate MinIO for `minio-setup`",
		set: func(s *Settings, v string) error { s.BucketURL = v; return nil }},
	{Name: "THUMBPIPE_WORKERS", Flag: "workers", DefaultDoc: "CPUs", Group: GroupServe, Programs: Serve,
		Doc: "requests processed at once; more get 503",
		set: func(s *Settings, v string) error { return setPositive(&s.Workers, v) }},
	{Name: "THUMBPIPE_MAX_BODY_BYTES", Flag: "max-body", Default: "1MiB", Group: GroupServe, Programs: Serve,
		Doc: "largest webhook body (413 above)",
		set: func(s *Settings, v string) error {
			if err := setBytes(&s.MaxBodyBytes, v); err != nil {
				return err
			}
			if s.MaxBodyBytes < 1 {
				return fmt.Errorf("%q is not a positive byte count", v)
			}
			return nil
		}},
	{Name: "THUMBPIPE_MEMORY_LIMIT", Flag: "memory-limit", DefaultDoc: "(`GOMEMLIMIT`, else none)", Group: GroupServe, Programs: Serve | Worker,
		Doc: "the Go heap's soft limit (bytes, or with `KiB`/`MiB`/`GiB`), set as `GOMEMLIMIT` would: keep it under the container's memory. The decodes in flight share `THUMBPIPE_MAX_DECODE_MEMORY`: a request whose image does not fit waits for memory, then gets 503 (`worker`: the message comes back later)",
		set: func(s *Settings, v string) error {
			if err := setBytes(&s.MemoryLimit, v); err != nil {
				return err
			}
			if s.MemoryLimit < 1 {
				return fmt.Errorf("%q is not a positive byte count", v)
			}
			return nil
		}},
	{Name: "THUMBPIPE_PROCESS_TIMEOUT", Flag: "process-timeout", Default: "2m", Group: GroupServe, Programs: Serve | Worker,
		Doc: "longest time spent on one request (`worker`: on one message)",
		set: func(s *Settings, v string) error { return setDuration(&s.ProcessTimeout, v, false) }},
	{Name: "THUMBPIPE_READ_HEADER_TIMEOUT", Flag: "read-header-timeout", Default: "10s", Group: GroupServe, Programs: Serve,
		Doc: "longest time a client may take to send a request's headers",
		set: func(s *Settings, v string) error { return setDuration(&s.ReadHeaderTimeout, v, false) }},
	{Name: "THUMBPIPE_READ_TIMEOUT", Flag: "read-timeout", Default: "30s", Group: GroupServe, Programs: Serve,
		Doc: "longest time a client may take to send a whole request (the write timeout follows it)",
		set: func(s *Settings, v string) error { return setDuration(&s.ReadTimeout, v, false) }},
	{Name: "THUMBPIPE_METRICS_LISTEN", Flag: "metrics-listen", DefaultDoc: "(the main port)", Group: GroupServe, Programs: Serve,
		Doc: "address `/metrics` is served on instead of the main port, e.g. `127.0.0.1:9090`; the main port then answers 404 there",
		set: func(s *Settings, v string) error { s.MetricsListen = v; return nil }},
	{Name: "THUMBPIPE_METRICS_TOKEN", Flag: "metrics-token", DefaultDoc: "(none)", Group: GroupServe, Programs: Serve | Worker,
		Doc: "bearer token `/metrics` asks for (401 without it). With neither this nor `THUMBPIPE_METRICS_LISTEN`, `/metrics` is open on the main port.",
		set: func(s *Settings, v string) error { s.MetricsToken = v; return nil }},
	{Name: "THUMBPIPE_LOG_FORMAT", Flag: "log-format", Default: LogAuto, Group: GroupServe, Programs: Serve | Worker | MinIOSetup,
		Doc: "`json`, `text`, or `auto` (JSON unless stderr is a terminal)",
		set: func(s *Settings, v string) error {
			switch f := strings.ToLower(v); f {
			case LogJSON, LogText, LogAuto:
				s.LogFormat = f
				return nil
			}
			return fmt.Errorf("%q: want json, text or auto", v)
		}},

	// minio-setup's (serve --minio-setup reads them too).
	{Name: "THUMBPIPE_MINIO_ENDPOINT", Flag: "minio-endpoint", DefaultDoc: "from the bucket URL", Group: GroupMinIOSetup, Programs: Serve | MinIOSetup,
		Doc: "MinIO's URL for `minio-setup`, e.g. `http://minio:9000`",
		set: func(s *Settings, v string) error { s.MinIOEndpoint = v; return nil }},
	{Name: "THUMBPIPE_MINIO_WEBHOOK_ID", Flag: "webhook-id", Default: "THUMBPIPE", Group: GroupMinIOSetup, Programs: Serve | MinIOSetup,
		Doc: "the `<ID>` of `MINIO_NOTIFY_WEBHOOK_*_<ID>` (or `MINIO_NOTIFY_NATS_*_<ID>`): notifications go to `arn:minio:sqs::<ID>:webhook` (or `:nats`)",
		set: func(s *Settings, v string) error { s.MinIOWebhookID = v; return nil }},
	{Name: "THUMBPIPE_MINIO_TARGET", Flag: "minio-target", Default: MinIOTargetWebhook, Group: GroupMinIOSetup, Programs: Serve | MinIOSetup,
		Doc: "the kind of MinIO notification target `minio-setup` points the buckets at: `webhook` (`thumbpipe serve`) or `nats` (MinIO publishes to NATS JetStream, `thumbpipe worker` consumes)",
		set: func(s *Settings, v string) error {
			switch t := strings.ToLower(v); t {
			case MinIOTargetWebhook, MinIOTargetNATS:
				s.MinIOTarget = t
				return nil
			}
			return fmt.Errorf("%q: want webhook or nats", v)
		}},
	{Name: "THUMBPIPE_NOTIFY_PREFIX", Flag: "notify-prefix", Group: GroupMinIOSetup, Programs: Serve | MinIOSetup,
		Doc: "MinIO notifies only about keys with this prefix",
		set: func(s *Settings, v string) error { s.NotifyPrefix = v; return nil }},
	{Name: "THUMBPIPE_NOTIFY_SUFFIX", Flag: "notify-suffix", Group: GroupMinIOSetup, Programs: Serve | MinIOSetup,
		Doc: "MinIO notifies only about keys with this suffix, e.g. `.jpg`",
		set: func(s *Settings, v string) error { s.NotifySuffix = v; return nil }},
	{Name: "THUMBPIPE_MINIO_WAIT", Flag: "minio-wait", Default: "1m", Group: GroupMinIOSetup, Programs: Serve | MinIOSetup,
		Doc: "how long `minio-setup` waits for MinIO to answer",
		set: func(s *Settings, v string) error { return setDuration(&s.MinIOWait, v, true) }},
	{Name: "THUMBPIPE_MINIO_USER", Flag: "minio-user", DefaultDoc: "none", Group: GroupMinIOSetup, Programs: Serve | MinIOSetup,
		Doc: "a MinIO user `minio-setup` creates (or updates) for thumbpipe, allowed to read the buckets and to write and delete only under the output prefix",
		set: func(s *Settings, v string) error { s.MinIOUser = v; return nil }},
	{Name: "THUMBPIPE_MINIO_USER_SECRET", Flag: "minio-user-secret", Group: GroupMinIOSetup, Programs: Serve | MinIOSetup,
		Doc: "the secret key of `THUMBPIPE_MINIO_USER` (at least 8 characters)",
		set: func(s *Settings, v string) error { s.MinIOUserSecret = v; return nil }},
}

// TestOnly lists the THUMBPIPE_* variables that configure the tests and
// tools around thumbpipe, not a program: the test servers' directory and
// logs, the soak test, the benchmark. A name ending in * stands for every
// name it starts. No program reads them, and [Unknown] does not warn
// about them.
var TestOnly = []string{
	"THUMBPIPE_TOOLS_DIR",       // where the integration tests find their servers
	"THUMBPIPE_TESTSERVER_LOGS", // the test servers' logs on the test's output
	"THUMBPIPE_SOAK_*",          // the soak test's size and faults
	"THUMBPIPE_BENCH_DIR",       // where make bench caches its inputs
}

// IsTestOnly reports whether name is one of [TestOnly].
func IsTestOnly(name string) bool {
	for _, t := range TestOnly {
		if p, ok := strings.CutSuffix(t, "*"); ok && strings.HasPrefix(name, p) || name == t {
			return true
		}
	}
	return false
}

// Lookup returns the variable called name.
func Lookup(name string) (Var, bool) {
	for _, v := range Vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

// Names returns the names of the variables p reads, in the order of Vars:
// what a deployment of p sets.
func Names(p Program) []string {
	var names []string
	for _, v := range Vars {
		if v.Programs&p != 0 {
			names = append(names, v.Name)
		}
	}
	return names
}

// Read reads every setting p reads from getenv (os.Getenv, the getenv
// [Flags] returns, or a test's map): the value, or the default when it is
// empty. It validates the pipeline's config for the output bucket the
// settings name, and reports every problem at once. The settings come back
// even with an error, each setting that did not parse left at its default.
//
// For the Lambda function (p is S3Lambda), an unset
// THUMBPIPE_MAX_DECODE_MEMORY is half the function's memory, as
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE gives it, when Lambda sets it.
func Read(p Program, getenv func(string) string) (Settings, error) {
	s, err := read(func(v Var) bool { return v.Programs&p != 0 }, p&Thumbnailers != 0, getenv)
	if p == S3Lambda && strings.TrimSpace(getenv("THUMBPIPE_MAX_DECODE_MEMORY")) == "" {
		if budget := lambdaDecodeMemory(getenv); budget > 0 {
			s.Pipeline.MaxDecodeMemory = budget
		}
	}
	return s, err
}

// lambdaDecodeMemory returns the decode budget of a Lambda function whose
// THUMBPIPE_MAX_DECODE_MEMORY is unset: half its memory
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB), since a decode's estimate
// leaves out the runtime, the resized image and the encoder, and the heap
// may reach twice its live size between collections: 256 MiB of 512 MB,
// the default elsewhere. 0 when the size is unknown.
func lambdaDecodeMemory(getenv func(string) string) int64 {
	mb, err := strconv.ParseInt(strings.TrimSpace(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")), 10, 64)
	if err != nil || mb <= 0 {
		return 0
	}
	return mb << 20 / 2
}

// Load reads the pipeline's config from getenv, as [Read] does for a
// program that makes thumbnails: validated for the output bucket
// THUMBPIPE_OUTPUT_BUCKET names.
func Load(getenv func(string) string) (pipeline.Config, error) {
	s, err := read(func(v Var) bool { return v.Group == GroupPipeline }, true, getenv)
	return s.Pipeline, err
}

// read reads the variables reads selects, validating the pipeline's config
// when thumbnails is true.
func read(reads func(Var) bool, thumbnails bool, getenv func(string) string) (Settings, error) {
	s := Settings{Pipeline: pipeline.DefaultConfig()}
	var errs []error
	for _, v := range Vars {
		if !reads(v) {
			continue
		}
		val := strings.TrimSpace(getenv(v.Name))
		if val == "" {
			val = v.Default
		}
		if val == "" {
			continue
		}
		if err := v.set(&s, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
			if v.Default != "" {
				v.set(&s, v.Default)
			}
		}
	}
	if thumbnails {
		// A value that did not parse left its default, which is valid, so
		// validating the rest still reports every other problem.
		errs = append(errs, s.Pipeline.ValidateFor(s.OutputBucket != ""))
	}
	if err := errors.Join(errs...); err != nil {
		return s, fmt.Errorf("config: %w", err)
	}
	return s, nil
}

// Flags registers on fs a flag for every variable p reads that has one, and
// returns the getenv for [Read] in which a flag given on the command line
// wins over the environment, even when it is given empty. Call the getenv
// after fs is parsed.
func Flags(fs *flag.FlagSet, p Program, getenv func(string) string) func(string) string {
	vals := map[string]*string{}
	flagOf := map[string]string{}
	for _, v := range Vars {
		if v.Flag == "" || v.Programs&p == 0 {
			continue
		}
		def := strings.Trim(strings.ReplaceAll(v.DefaultDoc, "`", ""), "()")
		switch {
		case v.Default != "":
			def = ", default " + strconv.Quote(v.Default)
		case strings.HasPrefix(def, "required"):
			def = ", " + def
		case def != "":
			def = ", default: " + def
		}
		vals[v.Name] = fs.String(v.Flag, "", fmt.Sprintf("%s (env %s%s)", strings.ReplaceAll(v.Doc, "`", ""), v.Name, def))
		flagOf[v.Name] = v.Flag
	}
	return func(name string) string {
		given := false
		if f, ok := flagOf[name]; ok {
			fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == f })
		}
		if given {
			return *vals[name]
		}
		return getenv(name)
	}
}

// Unknown returns a warning for each THUMBPIPE_* variable in environ
// ("NAME=value" strings, as os.Environ returns them) that p does not read:
// an unknown name (with the closest known one, as a typo usually is), or a
// setting of another program. [TestOnly] variables are not warned about.
func Unknown(p Program, environ []string) []string {
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, Prefix) || IsTestOnly(name) {
			continue
		}
		v, ok := Lookup(name)
		switch {
		case !ok:
			warnings = append(warnings, fmt.Sprintf("%s is not a thumbpipe setting and is ignored; did you mean %s?", name, closest(name)))
		case v.Programs&p == 0:
			warnings = append(warnings, fmt.Sprintf("%s is a setting of %s, not of %s; it is ignored here", name, v.Programs, p))
		}
	}
	sort.Strings(warnings)
	return warnings
}

// closest returns the registered name nearest to name by edit distance.
func closest(name string) string {
	best, bestD := "", math.MaxInt
	for _, v := range Vars {
		if d := distance(name, v.Name); d < bestD {
			best, bestD = v.Name, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// SplitList splits a comma-separated list, trimming each item and dropping
// empty ones.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// setBool stores true or false (also 1/0, t/f, as strconv.ParseBool reads).
func setBool(dst *bool, v string) error {
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		return fmt.Errorf("%q is neither true nor false", v)
	}
	*dst = b
	return nil
}

func setInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*dst = n
	return nil
}

// setPositive stores a whole number of at least 1.
func setPositive(dst *int, v string) error {
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil || n < 1 {
		return fmt.Errorf("%q is not a positive whole number", v)
	}
	*dst = n
	return nil
}

func setInt64(dst *int64, v string) error {
	n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*dst = n
	return nil
}

// setDuration stores a Go duration ("90s", "2m", "1h"), which must be
// positive, or may be 0 when zero is true.
func setDuration(dst *time.Duration, v string, zero bool) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a duration (e.g. 30s, 2m or 1h)", v)
	case d < 0:
		return fmt.Errorf("%q is negative", v)
	case d == 0 && !zero:
		return fmt.Errorf("%q is not a positive duration", v)
	}
	*dst = d
	return nil
}

// setBytes stores the byte count [ParseBytes] reads from v.
func setBytes(dst *int64, v string) error {
	n, err := ParseBytes(v)
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

// ParseBytes reads a byte count: "1048576", "512KiB", "50MiB", "1GiB",
// with optional _ digit separators ("50_000KiB"). A count beyond int64 is
// refused rather than wrapped around.
func ParseBytes(v string) (int64, error) {
	num, mult := v, int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			num, mult = s, u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(num), "_", ""), 10, 64)
	if errors.Is(err, strconv.ErrRange) || err == nil && (n > math.MaxInt64/mult || n < math.MinInt64/mult) {
		return 0, fmt.Errorf("%q is too large a byte count (the most is %d bytes)", v, int64(math.MaxInt64))
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a byte count (e.g. 52428800 or 50MiB)", v)
	}
	return n * mult, nil
}
