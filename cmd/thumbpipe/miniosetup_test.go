package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
)

func TestLocateMinIO(t *testing.T) {
	tests := []struct {
		endpoint, template string
		want               minioTarget
		wantErr            bool
	}{
		{"", "s3://{bucket}?endpoint=http://minio:9000&use_path_style=true&disable_https=true&region=us-east-1",
			minioTarget{"minio:9000", false, "us-east-1"}, false},
		{"", "s3://{bucket}?endpoint=https://s3.example.com&region=eu-west-1",
			minioTarget{"s3.example.com", true, "eu-west-1"}, false},
		{"http://127.0.0.1:9100", "s3://{bucket}?endpoint=http://minio:9000",
			minioTarget{"127.0.0.1:9100", false, "us-east-1"}, false},
		{"minio:9000", "s3://{bucket}?disable_https=true", minioTarget{"minio:9000", false, "us-east-1"}, false},
		{"minio:9000", "", minioTarget{"minio:9000", true, "us-east-1"}, false},
		{"", "s3://{bucket}?region=us-east-1", minioTarget{}, true},
		{"", "", minioTarget{}, true},
		{"ftp://minio:21", "", minioTarget{}, true},
	}
	for _, tc := range tests {
		got, err := locateMinIO(tc.endpoint, tc.template)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("locateMinIO(%q, %q) = %+v, %v; want %+v, error %v", tc.endpoint, tc.template, got, err, tc.want, tc.wantErr)
		}
	}
}

// startNotifyingMinIO starts MinIO with webhook targets for each id (the
// endpoints need not answer: events wait in the queue dir).
func startNotifyingMinIO(t *testing.T, ids ...string) *testserver.MinIO {
	t.Helper()
	env := map[string]string{}
	for _, id := range ids {
		env["MINIO_NOTIFY_WEBHOOK_ENABLE_"+id] = "on"
		env["MINIO_NOTIFY_WEBHOOK_ENDPOINT_"+id] = fmt.Sprintf("http://127.0.0.1:%d/webhook", testserver.FreePort(t))
		env["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_"+id] = t.TempDir()
	}
	return testserver.StartMinIO(t, testserver.MinIOOptions{Env: env})
}

func setupEnv(m *testserver.MinIO) map[string]string {
	user, pass := m.Credentials()
	return map[string]string{
		"THUMBPIPE_BUCKET_URL":  "s3://{bucket}?endpoint=" + m.Endpoint() + "&use_path_style=true&disable_https=true&region=us-east-1",
		"AWS_ACCESS_KEY_ID":     user,
		"AWS_SECRET_ACCESS_KEY": pass,
		"THUMBPIPE_LOG_FORMAT":  "json",
	}
}

// queues describes a bucket's queue configurations, sorted.
func queues(t *testing.T, m *testserver.MinIO, bucket string) []string {
	t.Helper()
	cfg, err := m.Client().GetBucketNotification(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range cfg.QueueConfigs {
		var ev []string
		for _, e := range q.Events {
			ev = append(ev, string(e))
		}
		sort.Strings(ev)
		var rules []string
		if q.Filter != nil {
			for _, r := range q.Filter.S3Key.FilterRules {
				rules = append(rules, r.Name+"="+r.Value)
			}
		}
		// MinIO fills in its region; the target is what matters.
		a, _ := notification.NewArnFromString(q.Queue)
		out = append(out, fmt.Sprintf("%s %s %s", a.AccountID, strings.Join(ev, ","), strings.Join(rules, ",")))
	}
	sort.Strings(out)
	return out
}

func TestMinIOSetup(t *testing.T) {
	m := startNotifyingMinIO(t, "THUMBPIPE", "AUDIT")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	envm := setupEnv(m)
	const both = "s3:ObjectCreated:*,s3:ObjectRemoved:*"

	// A configuration of someone else's that setup must keep.
	m.CreateBucket(t, "existing")
	other := notification.NewConfig(notification.NewArn("minio", "sqs", "", "AUDIT", "webhook"))
	other.AddEvents(notification.ObjectAccessedAll)
	var cfg notification.Configuration
	cfg.AddQueue(other)
	// MinIO answers before it has registered its webhook targets: ask again
	// while it does not know the AUDIT target yet.
	err := m.Client().SetBucketNotification(ctx, "existing", cfg)
	for deadline := time.Now().Add(30 * time.Second); err != nil && minio.ToErrorResponse(err).Code == "InvalidArgument" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		err = m.Client().SetBucketNotification(ctx, "existing", cfg)
	}
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		args    []string
		changed string // in the logs of the run
		want    map[string][]string
	}{
		{"first run creates", []string{"--buckets", "images, existing"}, `"notification_changed":true`, map[string][]string{
			"images":   {"THUMBPIPE " + both + " "},
			"existing": {"AUDIT s3:ObjectAccessed:* ", "THUMBPIPE " + both + " "},
		}},
		{"second run changes nothing", []string{"--buckets", "images,existing"}, `"notification_changed":false`, map[string][]string{
			"images":   {"THUMBPIPE " + both + " "},
			"existing": {"AUDIT s3:ObjectAccessed:* ", "THUMBPIPE " + both + " "},
		}},
		{"filters replace the old configuration", []string{"--buckets", "images", "--notify-prefix", "uploads/", "--notify-suffix", ".jpg"},
			`"notification_changed":true`, map[string][]string{
				"images": {"THUMBPIPE " + both + " prefix=uploads/,suffix=.jpg"},
			}},
		{"filters again change nothing", []string{"--buckets", "images", "--notify-prefix", "uploads/", "--notify-suffix", ".jpg"},
			`"notification_changed":false`, map[string][]string{
				"images": {"THUMBPIPE " + both + " prefix=uploads/,suffix=.jpg"},
			}},
	}
	for _, st := range steps {
		_, stderr, err := runCmd(ctx, t, envm, append([]string{"minio-setup"}, st.args...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", st.name, err, stderr)
		}
		if !strings.Contains(stderr, st.changed) {
			t.Errorf("%s: logs lack %s:\n%s", st.name, st.changed, stderr)
		}
		for bucket, want := range st.want {
			if got := queues(t, m, bucket); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s notifications = %q, want %q", st.name, bucket, got, want)
			}
		}
	}
}

func TestMinIOSetupFailures(t *testing.T) {
	m := startNotifyingMinIO(t, "THUMBPIPE")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tests := []struct {
		name string
		edit map[string]string
		args []string
		want string
	}{
		{"unknown webhook target", nil, []string{"--webhook-id", "NOPE", "--minio-wait", "1s"}, "MINIO_NOTIFY_WEBHOOK_ENABLE_NOPE"},
		{"wrong credentials", map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong"}, nil, "refused the credentials"},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": ""}, nil, "AWS_ACCESS_KEY_ID"},
		{"nobody listening", map[string]string{"THUMBPIPE_MINIO_ENDPOINT": fmt.Sprintf("http://127.0.0.1:%d", testserver.FreePort(t))},
			[]string{"--minio-wait", "300ms"}, "did not answer"},
		{"no buckets", map[string]string{"THUMBPIPE_BUCKETS": " , "}, nil, "THUMBPIPE_BUCKETS"},
		{"bad bucket name", nil, []string{"--buckets", "Not_A_Bucket"}, "Not_A_Bucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			envm := setupEnv(m)
			envm["THUMBPIPE_BUCKETS"] = "images"
			for k, v := range tc.edit {
				envm[k] = v
			}
			_, stderr, err := runCmd(ctx, t, envm, append([]string{"minio-setup"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q\n%s", err, tc.want, stderr)
			}
		})
	}
}

// TestMinIOSetupUser: minio-setup creates thumbpipe's own user, which can
// read the bucket and write and delete only under the output prefix, and
// nothing in another bucket; a second run changes nothing.
func TestMinIOSetupUser(t *testing.T) {
	m := startNotifyingMinIO(t, "THUMBPIPE")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	envm := setupEnv(m)
	envm["THUMBPIPE_MINIO_USER"] = "thumbpipe"
	envm["THUMBPIPE_MINIO_USER_SECRET"] = "user-secret-0123456789"
	for range 2 {
		if _, stderr, err := runCmd(ctx, t, envm, "minio-setup", "--buckets", "images"); err != nil || !strings.Contains(stderr, `"msg":"minio user ready"`) {
			t.Fatalf("minio-setup: %v\n%s", err, stderr)
		}
	}
	m.CreateBucket(t, "private")
	root := m.Client()
	for _, o := range []struct{ bucket, key string }{{"images", "uploads/a.jpg"}, {"private", "secret.jpg"}} {
		if _, err := root.PutObject(ctx, o.bucket, o.key, strings.NewReader("data"), 4, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	user, err := minio.New(m.Addr(), &minio.Options{Creds: credentials.NewStaticV4("thumbpipe", "user-secret-0123456789", ""), Region: testserver.MinIORegion})
	if err != nil {
		t.Fatal(err)
	}
	put := func(bucket, key string) error {
		_, err := user.PutObject(ctx, bucket, key, strings.NewReader("thumb"), 5, minio.PutObjectOptions{})
		return err
	}
	read := func(bucket, key string) error {
		o, err := user.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer o.Close()
		_, err = io.ReadAll(o)
		return err
	}
	denied := func(what string, err error) {
		t.Helper()
		if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
			t.Errorf("%s: %v, want AccessDenied", what, err)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	allowed("write under the prefix", put("images", "thumbnails/200x200/uploads/a.jpg"))
	allowed("read a source", read("images", "uploads/a.jpg"))
	allowed("read a thumbnail", read("images", "thumbnails/200x200/uploads/a.jpg"))
	allowed("delete under the prefix", user.RemoveObject(ctx, "images", "thumbnails/200x200/uploads/a.jpg", minio.RemoveObjectOptions{}))
	denied("overwrite a source", put("images", "uploads/a.jpg"))
	denied("write beside the prefix", put("images", "thumbnailsX/a.jpg"))
	denied("delete a source", user.RemoveObject(ctx, "images", "uploads/a.jpg", minio.RemoveObjectOptions{}))
	denied("read another bucket", read("private", "secret.jpg"))
	denied("write another bucket", put("private", "thumbnails/x.jpg"))
	for o := range user.ListObjects(ctx, "private", minio.ListObjectsOptions{Recursive: true}) {
		denied("list another bucket", o.Err)
	}
	// Listing is allowed, so a missing source answers 404, not 403: a
	// delete event's check does not look like an access problem.
	if _, err := user.StatObject(ctx, "images", "uploads/missing.jpg", minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != 404 {
		t.Errorf("stat of a missing source: %v, want 404", err)
	}
}

func TestMinIOSetupUserRefused(t *testing.T) {
	for _, edit := range []map[string]string{
		{"THUMBPIPE_MINIO_USER": "thumbpipe", "THUMBPIPE_MINIO_USER_SECRET": "short"},
		{"THUMBPIPE_MINIO_USER": "thumbpipe"},
		{"THUMBPIPE_MINIO_USER_SECRET": "a-secret-without-a-user"},
	} {
		envm := map[string]string{"THUMBPIPE_BUCKETS": "images", "THUMBPIPE_MINIO_ENDPOINT": "http://127.0.0.1:1",
			"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
		for k, v := range edit {
			envm[k] = v
		}
		if _, _, err := runCmd(context.Background(), t, envm, "minio-setup"); err == nil || !strings.Contains(err.Error(), "THUMBPIPE_MINIO_USER_SECRET") {
			t.Errorf("%v: %v, want a usage error naming THUMBPIPE_MINIO_USER_SECRET", edit, err)
		}
	}
}

// TestMinIOSetupSwitchesTarget: --minio-target nats points the bucket at
// MinIO's NATS target of the same ID instead of its webhook, and back: the
// two are never notified at once, and a repeated run changes nothing.
func TestMinIOSetupSwitchesTarget(t *testing.T) {
	env := map[string]string{
		"MINIO_NOTIFY_WEBHOOK_ENABLE_THUMBPIPE":    "on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_THUMBPIPE":  fmt.Sprintf("http://127.0.0.1:%d/webhook", testserver.FreePort(t)),
		"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_THUMBPIPE": t.TempDir(),
		// No NATS server: with a queue dir MinIO keeps the events until
		// one answers.
		"MINIO_NOTIFY_NATS_ENABLE_THUMBPIPE":    "on",
		"MINIO_NOTIFY_NATS_ADDRESS_THUMBPIPE":   fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)),
		"MINIO_NOTIFY_NATS_SUBJECT_THUMBPIPE":   "thumbpipe.events",
		"MINIO_NOTIFY_NATS_JETSTREAM_THUMBPIPE": "on",
		"MINIO_NOTIFY_NATS_QUEUE_DIR_THUMBPIPE": t.TempDir(),
	}
	m := testserver.StartMinIO(t, testserver.MinIOOptions{Env: env})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	envm := setupEnv(m)
	envm["THUMBPIPE_BUCKETS"] = "images"
	targets := func() []string {
		cfg, err := m.Client().GetBucketNotification(ctx, "images")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range cfg.QueueConfigs {
			a, _ := notification.NewArnFromString(q.Queue)
			out = append(out, a.AccountID+":"+a.Resource)
		}
		return out
	}
	for _, st := range []struct {
		target, changed string
		want            []string
	}{
		{"webhook", `"notification_changed":true`, []string{"THUMBPIPE:webhook"}},
		{"nats", `"notification_changed":true`, []string{"THUMBPIPE:nats"}},
		{"nats", `"notification_changed":false`, []string{"THUMBPIPE:nats"}},
		{"webhook", `"notification_changed":true`, []string{"THUMBPIPE:webhook"}},
	} {
		_, stderr, err := runCmd(ctx, t, envm, "minio-setup", "--minio-target", st.target)
		if err != nil {
			t.Fatalf("--minio-target %s: %v\n%s", st.target, err, stderr)
		}
		if !strings.Contains(stderr, st.changed) {
			t.Errorf("--minio-target %s: logs lack %s:\n%s", st.target, st.changed, stderr)
		}
		// MinIO leaves out of its answer a target it is (re)registering,
		// which a loaded machine shows for a moment: ask until it settles.
		got := targets()
		for deadline := time.Now().Add(10 * time.Second); !slices.Equal(got, st.want) && time.Now().Before(deadline); got = targets() {
			time.Sleep(100 * time.Millisecond)
		}
		if !slices.Equal(got, st.want) {
			t.Errorf("--minio-target %s: the bucket notifies %q, want %q", st.target, got, st.want)
		}
	}
	if _, _, err := runCmd(ctx, t, envm, "minio-setup", "--minio-target", "kafka"); err == nil || !strings.Contains(err.Error(), "THUMBPIPE_MINIO_TARGET") {
		t.Errorf("an unknown target: %v, want an error naming THUMBPIPE_MINIO_TARGET", err)
	}
}
