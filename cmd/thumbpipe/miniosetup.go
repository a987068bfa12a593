package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"
	"github.com/minio/minio-go/v7/pkg/signer"
	"github.com/secure-io/sio-go"
	"golang.org/x/crypto/argon2"

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
// their notifications at the webhook or NATS target st names
// (arn:minio:sqs::<ID>:webhook or :nats), idempotently. The JetStream
// stream is not made here: the workers make it, with the consumer they
// share, so that it is configured in one place. MinIO's credentials are
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
	if user, secret := st.MinIOUser, st.MinIOUserSecret; user != "" && len(secret) < 8 || user == "" && secret != "" {
		return fmt.Errorf("%w: THUMBPIPE_MINIO_USER needs THUMBPIPE_MINIO_USER_SECRET of at least 8 characters, and the secret needs the user", errUsage)
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
	kind := st.MinIOTarget
	if kind == "" {
		kind = envconfig.MinIOTargetWebhook
	}
	arn := notification.NewArn("minio", "sqs", "", st.MinIOWebhookID, kind)
	for _, name := range st.Buckets {
		created, err := ensureBucket(ctx, client, name, target.region)
		if err != nil {
			return err
		}
		// MinIO answers before it has registered its targets, so a
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
	if user := st.MinIOUser; user != "" {
		admin := &minioAdmin{endpoint: client.EndpointURL(), accessKey: accessKey, secretKey: secretKey, region: target.region}
		policy := "thumbpipe-" + user
		if err := admin.ensureUser(ctx, user, st.MinIOUserSecret, policy, userPolicy(st.Buckets, st.Pipeline.Prefix)); err != nil {
			return err
		}
		log.Info("minio user ready", "user", user, "policy", policy, "writes_under", st.Pipeline.Prefix)
	}
	return nil
}

// userPolicy is the IAM policy of thumbpipe's own MinIO user: it may list
// and read the buckets, and write and delete only under the output prefix.
// Listing lets a read of a missing object answer 404 rather than 403.
func userPolicy(buckets []string, outputPrefix string) []byte {
	type statement struct {
		Effect   string
		Action   []string
		Resource []string
	}
	var list, read, write []string
	for _, b := range buckets {
		list = append(list, "arn:aws:s3:::"+b)
		read = append(read, "arn:aws:s3:::"+b+"/*")
		write = append(write, "arn:aws:s3:::"+b+"/"+outputPrefix+"*")
	}
	p, _ := json.Marshal(struct {
		Version   string
		Statement []statement
	}{"2012-10-17", []statement{
		{"Allow", []string{"s3:GetBucketLocation", "s3:ListBucket"}, list},
		{"Allow", []string{"s3:GetObject"}, read},
		{"Allow", []string{"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, write},
	}})
	return p
}

// minioAdmin makes the three calls of MinIO's admin API (/minio/admin/v3)
// that creating a user with a policy takes. MinIO's own client for that API,
// madmin-go, is AGPL-licensed, and the Go module proxy serves no other
// version of it, so it is not linked into thumbpipe; MinIO has no AWS IAM
// API. Requests are signed with Signature V4 as S3 requests are; the new
// user's secret travels encrypted with the admin's secret key, as MinIO
// requires (Argon2id key derivation, then AES-256-GCM in the sio stream
// format).
type minioAdmin struct {
	endpoint             *url.URL
	accessKey, secretKey string
	region               string
}

// ensureUser creates or updates user with secret, stores policy under the
// name policyName and attaches it to the user (replacing any other). Each
// call replaces what it sets, so running it again changes nothing.
func (a *minioAdmin) ensureUser(ctx context.Context, user, secret, policyName string, policy []byte) error {
	req, err := json.Marshal(map[string]string{"secretKey": secret, "status": "enabled"})
	if err != nil {
		return err
	}
	body, err := encryptForMinIO(a.secretKey, req)
	if err != nil {
		return fmt.Errorf("minio user %s: %w", user, err)
	}
	if err := a.do(ctx, "add-user", url.Values{"accessKey": {user}}, body); err != nil {
		return fmt.Errorf("minio user %s: %w", user, err)
	}
	if err := a.do(ctx, "add-canned-policy", url.Values{"name": {policyName}}, policy); err != nil {
		return fmt.Errorf("minio policy %s: %w", policyName, err)
	}
	q := url.Values{"policyName": {policyName}, "userOrGroup": {user}, "isGroup": {"false"}}
	if err := a.do(ctx, "set-user-or-group-policy", q, nil); err != nil {
		return fmt.Errorf("minio user %s: attach policy %s: %w", user, policyName, err)
	}
	return nil
}

// do sends PUT /minio/admin/v3/<call>?<query> with body, signed.
func (a *minioAdmin) do(ctx context.Context, call string, query url.Values, body []byte) error {
	u := *a.endpoint
	u.Path = "/minio/admin/v3/" + call
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req = signer.SignV4(*req, a.accessKey, a.secretKey, "", a.region)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", call, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// encryptForMinIO encrypts data for MinIO's admin API with a key derived
// from password: salt (32 bytes) | algorithm (0 = Argon2id + AES-256-GCM) |
// nonce | the sio stream of data.
func encryptForMinIO(password string, data []byte) ([]byte, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	key := argon2.IDKey([]byte(password), salt, 1, 64*1024, 4, 32)
	stream, err := sio.AES_256_GCM.Stream(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, stream.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(salt)
	out.WriteByte(0x00)
	out.Write(nonce)
	w := stream.EncryptWriter(&out, nonce, nil)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// errNoTarget means MinIO refused a notification because it has no
// target of that kind and ID (yet).
var errNoTarget = errors.New("MinIO has no such notification target")

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

// ensureNotification makes the bucket's queue configurations for
// thumbpipe's ID exactly one, to arn, for notifyEvents with the filters: a
// configuration to the other kind of target of the same ID (the webhook's
// when arn is the NATS target's, and the other way round) is replaced, so
// that switching between `serve` and `worker` never notifies both. Other
// configurations are kept. It reports whether it changed anything.
func ensureNotification(ctx context.Context, client *minio.Client, bucket string, arn notification.Arn, prefix, suffix string) (bool, error) {
	cur, err := client.GetBucketNotification(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("bucket %s: get notification: %w", bucket, err)
	}
	var ours []notification.QueueConfig
	kept := cur
	kept.QueueConfigs = nil
	for _, q := range cur.QueueConfigs {
		if sameID(q.Queue, arn) {
			ours = append(ours, q)
		} else {
			kept.QueueConfigs = append(kept.QueueConfigs, q)
		}
	}
	if len(ours) == 1 && sameTarget(ours[0].Queue, arn) && ours[0].Equal(notifyEvents, prefix, suffix) {
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
			return false, fmt.Errorf("bucket %s: set notification to %s: %w: %w (is MINIO_NOTIFY_%s_ENABLE_%s=on set on the MinIO server?)",
				bucket, arn, errNoTarget, err, strings.ToUpper(arn.Resource), arn.AccountID)
		}
		return false, fmt.Errorf("bucket %s: set notification to %s: %w", bucket, arn, err)
	}
	return true, nil
}

// sameTarget reports whether a queue ARN as MinIO returns it (with its
// region filled in) names the same target as arn.
func sameTarget(queue string, arn notification.Arn) bool {
	a, err := notification.NewArnFromString(queue)
	if err != nil {
		return false
	}
	return slices.Equal([]string{a.Partition, a.Service, a.AccountID, a.Resource},
		[]string{arn.Partition, arn.Service, arn.AccountID, arn.Resource})
}

// sameID reports whether a queue ARN names a webhook or NATS target with
// arn's ID: one of thumbpipe's.
func sameID(queue string, arn notification.Arn) bool {
	a, err := notification.NewArnFromString(queue)
	if err != nil {
		return false
	}
	return a.Partition == arn.Partition && a.Service == arn.Service && a.AccountID == arn.AccountID &&
		(a.Resource == envconfig.MinIOTargetWebhook || a.Resource == envconfig.MinIOTargetNATS)
}
