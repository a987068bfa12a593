package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
)

// notifyEvents are the events thumbpipe asks MinIO for.
var notifyEvents = []notification.EventType{notification.ObjectCreatedAll, notification.ObjectRemovedAll}

func runMinIOSetup(ctx context.Context, args []string, e env) error {
	fs := newFlags("minio-setup", "[flags]", e)
	getenv := envconfig.Flags(fs, envconfig.MinIOSetup, e.getenv)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: minio-setup takes no arguments, got %q", errUsage, fs.Args())
	}
	st, err := envconfig.Read(envconfig.MinIOSetup, getenv)
	log := newLogger(e.stderr, st.LogFormat) // the default format if it did not parse
	for _, w := range e.warnings {
		log.Warn(w)
	}
	if len(st.Buckets) == 0 {
		err = errors.Join(err, errors.New("THUMBPIPE_BUCKETS (or --buckets) is required"))
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return minioSetup(ctx, st, e.getenv, log)
}

// minioTarget is where MinIO is and how to reach it.
type minioTarget struct {
	host   string // host:port
	secure bool
	region string
}

// locateMinIO finds MinIO from --minio-endpoint or the endpoint and region
// of the bucket URL template.
func locateMinIO(endpoint, template string) (minioTarget, error) {
	t := minioTarget{region: "us-east-1"}
	disableHTTPS := false
	if template != "" {
		u, err := url.Parse(buckets.Expand(template, "bucket"))
		if err != nil {
			return t, fmt.Errorf("%w: bucket URL %q: %v", errUsage, template, err)
		}
		q := u.Query()
		if endpoint == "" {
			endpoint = q.Get("endpoint")
		}
		if r := q.Get("region"); r != "" {
			t.region = r
		}
		disableHTTPS = q.Get("disable_https") == "true"
	}
	if endpoint == "" {
		return t, fmt.Errorf("%w: MinIO's endpoint is unknown: set THUMBPIPE_MINIO_ENDPOINT or an endpoint= parameter in THUMBPIPE_BUCKET_URL", errUsage)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		// A bare host:port.
		t.host, t.secure = endpoint, !disableHTTPS
		return t, nil
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return t, fmt.Errorf("%w: MinIO endpoint %q: scheme must be http or https", errUsage, endpoint)
	}
	t.host, t.secure = u.Host, u.Scheme == "https"
	return t, nil
}

// minioSetup creates the buckets st names that are missing and points
// their notifications at the webhook, idempotently. MinIO's credentials are
// the ones s3blob reads, from getenv.
func minioSetup(ctx context.Context, st envconfig.Settings, getenv func(string) string, log *slog.Logger) error {
	target, err := locateMinIO(st.MinIOEndpoint, st.BucketURL)
	if err != nil {
		return err
	}
	wait := st.MinIOWait
	accessKey, secretKey := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if accessKey == "" || secretKey == "" {
		return fmt.Errorf("%w: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must hold MinIO's credentials", errUsage)
	}
	client, err := minio.New(target.host, &minio.Options{
		Creds:  credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure: target.secure,
		Region: target.region,
	})
	if err != nil {
		return fmt.Errorf("minio client: %w", err)
	}
	if err := waitMinIO(ctx, client, wait); err != nil {
		return err
	}
	arn := notification.NewArn("minio", "sqs", "", st.MinIOWebhookID, "webhook")
	for _, name := range st.Buckets {
		created, err := ensureBucket(ctx, client, name, target.region)
		if err != nil {
			return err
		}
		// MinIO answers before it has registered its webhook targets, so a
		// target it does not know yet is asked for again until the wait
		// runs out; a target that is really missing then fails with a hint.
		deadline := time.Now().Add(wait)
		changed, err := ensureNotification(ctx, client, name, arn, st.NotifyPrefix, st.NotifySuffix)
		for errors.Is(err, errNoTarget) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			changed, err = ensureNotification(ctx, client, name, arn, st.NotifyPrefix, st.NotifySuffix)
		}
		if err != nil {
			return err
		}
		log.Info("minio bucket ready", "bucket", name, "created", created, "notification_changed", changed, "arn", arn.String(),
			"prefix", st.NotifyPrefix, "suffix", st.NotifySuffix)
	}
	return nil
}

// errNoTarget means MinIO refused a notification because it has no webhook
// target of that ID (yet).
var errNoTarget = errors.New("MinIO has no such webhook target")

// waitMinIO waits until MinIO answers an authenticated request.
func waitMinIO(ctx context.Context, client *minio.Client, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	delay := 100 * time.Millisecond
	for {
		_, err := client.ListBuckets(ctx)
		if err == nil {
			return nil
		}
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.StatusCode == 403 {
			return fmt.Errorf("minio at %s refused the credentials: %w", client.EndpointURL(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("minio at %s did not answer within %v: %w", client.EndpointURL(), wait, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func ensureBucket(ctx context.Context, client *minio.Client, name, region string) (bool, error) {
	ok, err := client.BucketExists(ctx, name)
	if err != nil {
		return false, fmt.Errorf("bucket %s: %w", name, err)
	}
	if ok {
		return false, nil
	}
	if err := client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: region}); err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			return false, nil
		}
		return false, fmt.Errorf("create bucket %s: %w", name, err)
	}
	return true, nil
}

// ensureNotification makes the bucket's queue configurations for arn
// exactly one, for notifyEvents with the filters; other configurations are
// kept. It reports whether it changed anything.
func ensureNotification(ctx context.Context, client *minio.Client, bucket string, arn notification.Arn, prefix, suffix string) (bool, error) {
	cur, err := client.GetBucketNotification(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("bucket %s: get notification: %w", bucket, err)
	}
	var ours []notification.QueueConfig
	kept := cur
	kept.QueueConfigs = nil
	for _, q := range cur.QueueConfigs {
		if sameTarget(q.Queue, arn) {
			ours = append(ours, q)
		} else {
			kept.QueueConfigs = append(kept.QueueConfigs, q)
		}
	}
	if len(ours) == 1 && ours[0].Equal(notifyEvents, prefix, suffix) {
		return false, nil
	}
	want := notification.NewConfig(arn)
	want.AddEvents(notifyEvents...)
	if prefix != "" {
		want.AddFilterPrefix(prefix)
	}
	if suffix != "" {
		want.AddFilterSuffix(suffix)
	}
	if want.Filter != nil && len(want.Filter.S3Key.FilterRules) == 0 {
		want.Filter = nil
	}
	kept.AddQueue(want)
	if err := client.SetBucketNotification(ctx, bucket, kept); err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidArgument" {
			return false, fmt.Errorf("bucket %s: set notification to %s: %w: %w (is MINIO_NOTIFY_WEBHOOK_ENABLE_%s=on set on the MinIO server?)",
				bucket, arn, errNoTarget, err, arn.AccountID)
		}
		return false, fmt.Errorf("bucket %s: set notification to %s: %w", bucket, arn, err)
	}
	return true, nil
}

// sameTarget reports whether a queue ARN as MinIO returns it (with its
// region filled in) names the same webhook target as arn.
func sameTarget(queue string, arn notification.Arn) bool {
	a, err := notification.NewArnFromString(queue)
	if err != nil {
		return false
	}
	return slices.Equal([]string{a.Partition, a.Service, a.AccountID, a.Resource},
		[]string{arn.Partition, arn.Service, arn.AccountID, arn.Resource})
}
