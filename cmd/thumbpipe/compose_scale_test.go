package main

// The compose file's scale profile, proven the way the webhook stack is:
// the file is loaded with compose-go, and MinIO and nats-server (the real
// binaries) and thumbpipe's minio-setup and worker commands run with
// exactly the environment and commands it declares, only hostnames, ports
// and volume paths rewritten to the test's.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/minio/minio-go/v7"

	"github.com/thumbpipe/thumbpipe/functions/queue"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// pinnedNATS is the nats-server version the test tools pin.
func pinnedNATS(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../scripts/install-test-tools.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"nats-server\|[^|]+\|v([0-9.]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("scripts/install-test-tools.sh pins no nats-server")
	}
	return string(m[1])
}

// flagValue returns the value after flag in a command, or "".
func flagValue(cmd []string, flag string) string {
	if i := slices.Index(cmd, flag); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

func onNamedVolume(s types.ServiceConfig, path string) bool {
	return slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == path && v.Type == types.VolumeTypeVolume })
}

// TestComposeScaleFile checks what the scale profile declares.
func TestComposeScaleFile(t *testing.T) {
	secrets := composeEnv(t)
	if p := loadCompose(t, secrets); slices.ContainsFunc([]string{"nats", "worker", "minio-setup-nats"}, func(n string) bool { _, ok := p.Services[n]; return ok }) {
		t.Errorf("the default stack runs %v; the queue's services belong to the scale profile", slices.Sorted(maps.Keys(p.Services)))
	}
	p := loadCompose(t, secrets, "scale")
	ms, ns, sn, wk := service(t, p, "minio"), service(t, p, "nats"), service(t, p, "minio-setup-nats"), service(t, p, "worker")
	menv, snenv, wenv := environment(t, ms), environment(t, sn), environment(t, wk)

	if want := "nats:" + pinnedNATS(t) + "-alpine"; ns.Image != want {
		t.Errorf("nats image %q, want %q: the version the tests run", ns.Image, want)
	}
	if !slices.Contains(ns.Command, "--jetstream") || !onNamedVolume(ns, flagValue(ns.Command, "--store_dir")) {
		t.Errorf("nats %q: want --jetstream with --store_dir on a named volume (%+v)", ns.Command, ns.Volumes)
	}
	if ns.HealthCheck == nil || !strings.Contains(strings.Join(ns.HealthCheck.Test, " "), "js-enabled-only=true") {
		t.Errorf("nats healthcheck %+v does not wait for JetStream", ns.HealthCheck)
	}

	setup, err := envconfig.Read(envconfig.MinIOSetup, func(k string) string { return snenv[k] })
	if err != nil {
		t.Fatalf("minio-setup-nats's settings: %v", err)
	}
	if setup.MinIOTarget != envconfig.MinIOTargetNATS {
		t.Errorf("minio-setup-nats points the bucket at %q, want nats", setup.MinIOTarget)
	}
	id := setup.MinIOWebhookID
	for k, want := range map[string]string{"ENABLE": "on", "JETSTREAM": "on", "ADDRESS": "nats:4222", "SUBJECT": "", "QUEUE_DIR": ""} {
		v := menv["MINIO_NOTIFY_NATS_"+k+"_"+id]
		if v == "" || want != "" && v != want {
			t.Errorf("minio: MINIO_NOTIFY_NATS_%s_%s = %q, want %q", k, id, v, want)
		}
	}
	natsQueue := menv["MINIO_NOTIFY_NATS_QUEUE_DIR_"+id]
	if !onNamedVolume(ms, natsQueue) || natsQueue == menv["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_"+id] {
		t.Errorf("the NATS queue dir %q is not a named volume of its own", natsQueue)
	}

	st, err := envconfig.Read(envconfig.Worker, func(k string) string { return wenv[k] })
	if err != nil {
		t.Fatalf("the worker's settings: %v", err)
	}
	if err := workerProblems(st); err != nil {
		t.Errorf("the worker's settings: %v", err)
	}
	var environ []string
	for k, v := range wenv {
		environ = append(environ, k+"="+v)
	}
	if w := envconfig.Unknown(envconfig.Worker, environ); len(w) > 0 {
		t.Errorf("the worker would warn about its environment: %q", w)
	}
	sub, err := queue.ParseNATS(st.Subscription)
	if err != nil {
		t.Fatalf("the worker's subscription: %v", err)
	}
	if sub.URL != "nats://nats:4222" || sub.Subject != menv["MINIO_NOTIFY_NATS_SUBJECT_"+id] {
		t.Errorf("the worker consumes %s subject %q; MinIO publishes to %s subject %q", sub.URL, sub.Subject,
			menv["MINIO_NOTIFY_NATS_ADDRESS_"+id], menv["MINIO_NOTIFY_NATS_SUBJECT_"+id])
	}
	if len(wk.Ports) != 0 {
		t.Errorf("the worker publishes %v: replicas cannot share a host port", wk.Ports)
	}
	for dep, cond := range map[string]string{"minio": types.ServiceConditionHealthy, "nats": types.ServiceConditionHealthy,
		"minio-setup-nats": types.ServiceConditionCompletedSuccessfully} {
		if d, ok := wk.DependsOn[dep]; !ok || d.Condition != cond {
			t.Errorf("worker depends_on %s = %+v, want %s", dep, d, cond)
		}
	}
	if d, ok := sn.DependsOn["minio-setup"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("minio-setup-nats depends_on = %+v: it must run after minio-setup, which points the bucket at the webhook", sn.DependsOn)
	}
	if wenv["AWS_ACCESS_KEY_ID"] != environment(t, service(t, p, "minio-setup"))["THUMBPIPE_MINIO_USER"] || wenv["AWS_SECRET_ACCESS_KEY"] == menv["MINIO_ROOT_PASSWORD"] {
		t.Error("the worker does not run as the user minio-setup creates")
	}
	if hc := wk.HealthCheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/thumbpipe", "worker", "--healthcheck"}) {
		t.Errorf("worker healthcheck %+v", wk.HealthCheck)
	}
}

// TestComposeScaleStack runs the scale profile with two workers and
// uploads through MinIO: every upload gets its thumbnails through NATS.
func TestComposeScaleStack(t *testing.T) {
	secrets := composeEnv(t)
	p := loadCompose(t, secrets, "scale")
	ms, su, sn, wk := service(t, p, "minio"), service(t, p, "minio-setup"), service(t, p, "minio-setup-nats"), service(t, p, "worker")
	menv, senv, snenv, wenv := environment(t, ms), environment(t, su), environment(t, sn), environment(t, wk)

	nats := testserver.StartNATS(t)
	webhook := fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)) // nothing listens: the webhook must get nothing
	for k, v := range menv {
		v = strings.ReplaceAll(strings.ReplaceAll(v, "nats:4222", nats.Addr()), "thumbpipe:8080", webhook)
		for _, vol := range ms.Volumes {
			if v == vol.Target {
				v = t.TempDir()
			}
		}
		menv[k] = v
	}
	m := testserver.StartMinIO(t, testserver.MinIOOptions{RootUser: menv["MINIO_ROOT_USER"], RootPassword: menv["MINIO_ROOT_PASSWORD"], Env: menv})
	for _, env := range []map[string]string{senv, snenv, wenv} {
		for k, v := range env {
			env[k] = strings.ReplaceAll(strings.ReplaceAll(v, "minio:9000", m.Addr()), "nats:4222", nats.Addr())
		}
		env["THUMBPIPE_LOG_FORMAT"] = "json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// As compose orders them: the webhook's setup, then the switch to NATS.
	for _, svc := range []struct {
		cmd  []string
		env  map[string]string
		want string
	}{{su.Command, senv, ":webhook"}, {sn.Command, snenv, ":nats"}} {
		var logs testserver.Buffer
		if err := run(ctx, svc.cmd, func(k string) string { return svc.env[k] }, io.Discard, &logs); err != nil {
			t.Fatalf("%q: %v\n%s", svc.cmd, err, logs.String())
		}
		if !strings.Contains(logs.String(), svc.want+`"`) {
			t.Errorf("%q did not point the bucket at the %s target:\n%s", svc.cmd, svc.want, logs.String())
		}
	}

	// The AWS SDK reads the process environment: the worker's credentials.
	m.SetAWSEnv(t)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} {
		t.Setenv(k, wenv[k])
	}
	type worker struct {
		addr string
		done chan error
		logs *testserver.Buffer
	}
	wctx, stop := context.WithCancel(context.Background())
	var workers []worker
	for range 2 {
		w := worker{addr: fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)), done: make(chan error, 1), logs: &testserver.Buffer{}}
		env := maps.Clone(wenv)
		env["THUMBPIPE_LISTEN"] = w.addr
		go func() { w.done <- run(wctx, wk.Command, func(k string) string { return env[k] }, io.Discard, w.logs) }()
		if err := testserver.WaitHTTP(ctx, "http://"+w.addr+"/healthz"); err != nil {
			t.Fatalf("worker did not start: %v\n%s", err, w.logs)
		}
		workers = append(workers, w)
	}
	defer func() {
		stop()
		for _, w := range workers {
			if err := <-w.done; err != nil {
				t.Errorf("worker: %v\n%s", err, w.logs)
			}
		}
	}()
	if err := run(ctx, wk.HealthCheck.Test[2:], func(k string) string {
		if k == "THUMBPIPE_LISTEN" {
			return workers[0].addr
		}
		return wenv[k]
	}, io.Discard, io.Discard); err != nil {
		t.Errorf("the worker's healthcheck: %v", err)
	}

	bucket := envconfig.SplitList(wenv["THUMBPIPE_BUCKETS"])[0]
	settings, err := envconfig.Read(envconfig.Worker, func(k string) string { return wenv[k] })
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	for i := range n {
		data := pixeltest.JPEG(pixeltest.Photo(900, 600, uint64(i)), 85)
		if _, err := m.Client().PutObject(ctx, bucket, fmt.Sprintf("uploads/%d.jpg", i), bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatal(err)
		}
	}
	total := func(name string) float64 {
		var sum float64
		for _, w := range workers {
			v, err := metricValue("http://"+w.addr, name)
			if err != nil {
				t.Fatal(err)
			}
			sum += v
		}
		return sum
	}
	awaitFor(t, "thumbnails of every upload", 60*time.Second, func() bool {
		for i := range n {
			for _, sz := range settings.Pipeline.Sizes {
				if _, err := m.Client().StatObject(ctx, bucket, "thumbnails/"+sz.Box()+fmt.Sprintf("/uploads/%d.jpg", i), minio.StatObjectOptions{}); err != nil {
					return false
				}
			}
		}
		return true
	})
	written := float64(n * len(settings.Pipeline.Sizes))
	// The thumbnails' own events and each source's manifest's are skipped.
	awaitFor(t, "the thumbnails' and manifests' own events", 30*time.Second, func() bool {
		return total(`thumbpipe_events_total{outcome="skipped"}`) == written+n
	})
	for o, want := range map[string]float64{"processed": n, "failed_transient": 0, "refused": 0} {
		if got := total(`thumbpipe_events_total{outcome="` + o + `"}`); got != want {
			t.Errorf("events{outcome=%q} over both workers = %v, want %v", o, got, want)
		}
	}
	if got := total("thumbpipe_variants_written_total"); got != written {
		t.Errorf("variants written = %v, want %v", got, written)
	}
}
