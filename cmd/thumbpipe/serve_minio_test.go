package main

// The compose test: docker-compose.yml is loaded with compose-go, MinIO (the
// real server binary) and `thumbpipe serve` are started with exactly the
// environment and command it declares, only hostnames, ports and volume
// paths rewritten to the test's. A wrong variable name, port, token or
// webhook ID in the compose file makes these tests fail.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"maps"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// composeSecrets are the variables `make compose-env` writes to .env and
// the compose file requires.
var composeSecrets = []string{"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "THUMBPIPE_MINIO_SECRET", "THUMBPIPE_WEBHOOK_TOKEN"}

// composeEnv writes a .env the way `make compose-up` does for a newcomer
// and returns what compose reads from it.
func composeEnv(t *testing.T) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	out, err := exec.Command("make", "-s", "-C", "../..", "compose-env", "COMPOSE_ENV_FILE="+path).CombinedOutput()
	if err != nil {
		t.Fatalf("make compose-env: %v\n%s", err, out)
	}
	env, err := dotenv.Read(path)
	if err != nil {
		t.Fatalf("the .env make compose-env wrote: %v", err)
	}
	return env
}

// loadCompose loads docker-compose.yml with .env's variables and the
// profiles given enabled.
func loadCompose(t *testing.T, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	path, err := filepath.Abs("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: data}},
		Environment: maps.Clone(env),
	}, func(o *loader.Options) { o.SetProjectName("thumbpipe", true); o.Profiles = profiles })
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

// loadComposeErr loads docker-compose.yml and returns the loader's error.
func loadComposeErr(env map[string]string) error {
	path, _ := filepath.Abs("../../docker-compose.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: data}},
		Environment: maps.Clone(env),
	}, func(o *loader.Options) { o.SetProjectName("thumbpipe", true) })
	return err
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no %q service", name)
	}
	return s
}

// environment returns a service's environment; a variable without a value
// (passed through from the host) is a mistake here.
func environment(t *testing.T, s types.ServiceConfig) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range s.Environment {
		if v == nil {
			t.Fatalf("service %s: %s has no value", s.Name, k)
		}
		out[k] = *v
	}
	return out
}

// stack is the compose file's two services, run on loopback.
type stack struct {
	t          *testing.T
	minio      *testserver.MinIO
	serveAddr  string
	command    []string
	env        map[string]string // thumbpipe's, rewritten
	healthTest []string
	images     *blob.Bucket
	sizes      []pipeline.Size
	bucketName string
	token      string            // the webhook token from the generated .env
	setupCmd   []string          // the minio-setup service's command
	setupEnv   map[string]string // its environment, rewritten

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
	logs   *testserver.Buffer
}

// startStack starts MinIO and serve as docker-compose.yml declares them.
func startStack(t *testing.T) *stack {
	t.Helper()
	secrets := composeEnv(t)
	p := loadCompose(t, secrets)
	ms, tp, su := service(t, p, "minio"), service(t, p, "thumbpipe"), service(t, p, "minio-setup")
	menv, tenv, senv := environment(t, ms), environment(t, tp), environment(t, su)

	// The serve port comes first: MinIO's webhook endpoint points at it.
	s := &stack{t: t, serveAddr: fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)), command: tp.Command,
		token: secrets["THUMBPIPE_WEBHOOK_TOKEN"], setupCmd: su.Command}
	settings, err := envconfig.Read(envconfig.Serve, func(k string) string { return tenv[k] })
	if err != nil {
		t.Fatalf("the compose file's serve settings: %v", err)
	}
	listen := settings.Listen
	_, lport, err := netSplit(listen)
	if err != nil {
		t.Fatalf("THUMBPIPE_LISTEN %q: %v", listen, err)
	}
	if !publishes(tp, lport) {
		t.Fatalf("thumbpipe listens on %s but publishes %v", lport, tp.Ports)
	}
	toServe := "thumbpipe:" + lport
	for k, v := range menv {
		v = strings.ReplaceAll(v, toServe, s.serveAddr)
		for _, vol := range ms.Volumes {
			if v == vol.Target {
				v = t.TempDir()
			}
		}
		menv[k] = v
	}
	opts := testserver.MinIOOptions{RootUser: menv["MINIO_ROOT_USER"], RootPassword: menv["MINIO_ROOT_PASSWORD"], Env: menv}
	s.minio = testserver.StartMinIO(t, opts)

	apiPort := ""
	for _, port := range ms.Ports {
		if !slices.Contains(ms.Command, ":"+strconv.Itoa(int(port.Target))) { // not the console
			apiPort = strconv.Itoa(int(port.Target))
		}
	}
	for k, v := range tenv {
		tenv[k] = strings.ReplaceAll(v, "minio:"+apiPort, s.minio.Addr())
	}
	for k, v := range senv {
		senv[k] = strings.ReplaceAll(v, "minio:"+apiPort, s.minio.Addr())
	}
	s.setupEnv = senv
	tenv["THUMBPIPE_LISTEN"] = s.serveAddr
	tenv["THUMBPIPE_LOG_FORMAT"] = "json"
	s.env = tenv
	// The AWS SDK reads the process environment: the compose file's wins
	// over the isolation defaults.
	s.minio.SetAWSEnv(t)
	for k, v := range tenv {
		t.Setenv(k, v)
	}
	if tp.HealthCheck != nil {
		s.healthTest = tp.HealthCheck.Test
	}

	cfg, err := envconfig.Load(os.Getenv)
	if err != nil {
		t.Fatalf("the compose file's pipeline config: %v", err)
	}
	s.sizes = cfg.Sizes
	s.bucketName = envconfig.SplitList(tenv["THUMBPIPE_BUCKETS"])[0]
	cache := &buckets.Cache{}
	t.Cleanup(func() { cache.Close() })
	s.images, err = cache.Open(context.Background(), buckets.Expand(tenv["THUMBPIPE_BUCKET_URL"], s.bucketName))
	if err != nil {
		t.Fatal(err)
	}
	// As compose orders them: the one-shot setup, then serve.
	if logs := s.setup(); !strings.Contains(logs, `"notification_changed":true`) || !strings.Contains(logs, `"msg":"minio user ready"`) {
		t.Errorf("minio-setup did not set the notification and the user:\n%s", logs)
	}
	s.start()
	return s
}

// setup runs the minio-setup service's command with its environment and
// returns its logs.
func (s *stack) setup() string {
	s.t.Helper()
	var logs testserver.Buffer
	env := maps.Clone(s.setupEnv)
	env["THUMBPIPE_LOG_FORMAT"] = "json"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, s.setupCmd, func(k string) string { return env[k] }, io.Discard, &logs); err != nil {
		s.t.Fatalf("minio-setup %q: %v\n%s", s.setupCmd, err, logs.String())
	}
	return logs.String()
}

func netSplit(addr string) (host, port string, err error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", "", fmt.Errorf("no port in %q", addr)
	}
	return addr[:i], addr[i+1:], nil
}

func publishes(s types.ServiceConfig, port string) bool {
	for _, p := range s.Ports {
		if strconv.Itoa(int(p.Target)) == port {
			return true
		}
	}
	return false
}

// start runs the compose command (serve --minio-setup) in-process.
func (s *stack) start() {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel, s.done, s.logs = cancel, make(chan error, 1), &testserver.Buffer{}
	done, logs := s.done, s.logs
	s.mu.Unlock()
	go func() { done <- run(ctx, s.command, os.Getenv, io.Discard, logs) }()
	t.Cleanup(s.stop)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := testserver.WaitHTTP(wctx, s.base()+"/healthz"); err != nil {
		t.Fatalf("serve did not start: %v\n%s", err, logs)
	}
}

// stop ends serve as SIGTERM does and waits for it.
func (s *stack) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	if err := <-done; err != nil {
		s.t.Errorf("serve: %v", err)
	}
}

func (s *stack) base() string { return "http://" + s.serveAddr }

func (s *stack) metric(name string) float64 {
	v, err := metricValue(s.base(), name)
	if err != nil {
		s.t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

func (s *stack) outcome(o string) float64 {
	return s.metric(`thumbpipe_events_total{outcome="` + o + `"}`)
}

// put uploads through minio-go, as a user (or the console) would.
func (s *stack) put(key, contentType string, data []byte) {
	s.t.Helper()
	_, err := s.minio.Client().PutObject(context.Background(), s.bucketName, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		s.t.Fatalf("upload %s: %v", key, err)
	}
}

// variantKeys are the thumbnail keys of key for every configured size.
func (s *stack) variantKeys(key, ext string) []string {
	var out []string
	for _, sz := range s.sizes {
		out = append(out, "thumbnails/"+sz.Box()+"/"+key+ext)
	}
	return out
}

func (s *stack) exists(key string) bool {
	ok, err := s.images.Exists(context.Background(), key)
	if err != nil {
		s.t.Fatalf("exists %s: %v", key, err)
	}
	return ok
}

// waitFor polls until cond holds and returns how long it took.
// settled returns the metric name once it equals want, or its value after
// five seconds: the handler counts an event just after the storage calls a
// test sees, so a counter may lag them by a moment.
func (s *stack) settled(name string, want float64) float64 {
	deadline := time.Now().Add(5 * time.Second)
	got := s.metric(name)
	for got != want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got = s.metric(name)
	}
	return got
}

func awaitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// fitDims is the size a w×h image takes in box (fit, never upscaled).
func fitDims(sz pipeline.Size, w, h int) (int, int) {
	scale := math.Min(float64(sz.Width)/float64(w), float64(sz.Height)/float64(h))
	if scale >= 1 {
		return w, h
	}
	return max(1, int(math.Round(float64(w)*scale))), max(1, int(math.Round(float64(h)*scale)))
}

func TestComposeFile(t *testing.T) {
	secrets := composeEnv(t)
	p := loadCompose(t, secrets)
	ms, tp := service(t, p, "minio"), service(t, p, "thumbpipe")
	if !regexp.MustCompile(`^minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$`).MatchString(ms.Image) {
		t.Errorf("minio image %q is not a pinned release", ms.Image)
	}
	if ms.HealthCheck == nil || len(ms.HealthCheck.Test) == 0 {
		t.Error("minio has no healthcheck")
	}
	if d, ok := tp.DependsOn["minio"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("thumbpipe depends_on minio = %+v, want condition service_healthy", tp.DependsOn)
	}
	if tp.Build == nil {
		t.Error("thumbpipe is not built from the repository")
	}
	if !publishes(ms, "9001") {
		t.Errorf("the console (9001) is not published: %v", ms.Ports)
	}
	menv, tenv := environment(t, ms), environment(t, tp)
	st, err := envconfig.Read(envconfig.MinIOSetup, func(k string) string { return tenv[k] })
	if err != nil {
		t.Fatalf("the compose file's minio-setup settings: %v", err)
	}
	id := st.MinIOWebhookID
	for _, k := range []string{"ENABLE", "ENDPOINT", "AUTH_TOKEN", "QUEUE_DIR"} {
		if menv["MINIO_NOTIFY_WEBHOOK_"+k+"_"+id] == "" {
			t.Errorf("minio lacks MINIO_NOTIFY_WEBHOOK_%s_%s", k, id)
		}
	}
	queue := menv["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_"+id]
	if !slices.ContainsFunc(ms.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == queue && v.Type == types.VolumeTypeVolume }) {
		t.Errorf("the webhook queue dir %q is not on a named volume: %+v", queue, ms.Volumes)
	}
	if menv["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_"+id] != tenv["THUMBPIPE_WEBHOOK_TOKEN"] {
		t.Error("MinIO and thumbpipe do not share the webhook token")
	}

	// Secrets: none has a default in the file; every one comes from the
	// .env that make compose-env writes, random and unreadable to others.
	if err := loadComposeErr(nil); err == nil || !strings.Contains(err.Error(), "make compose-env") {
		t.Errorf("without .env the compose file loads (%v); want an error that says to run make compose-env", err)
	}
	for _, k := range composeSecrets {
		if err := loadComposeErr(without(secrets, k)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("without %s the compose file loads (%v); want an error naming it", k, err)
		}
	}
	again := composeEnv(t)
	for _, k := range composeSecrets[1:] {
		if v := secrets[k]; len(v) < 32 || v == again[k] {
			t.Errorf("%s = %q: want at least 32 random characters, different on every new .env (the next was %q)", k, v, again[k])
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(secrets)), slices.Sorted(slices.Values(composeSecrets))) {
		t.Errorf(".env holds %v, want %v", slices.Sorted(maps.Keys(secrets)), composeSecrets)
	}
	if got := menv["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_"+id]; got != secrets["THUMBPIPE_WEBHOOK_TOKEN"] {
		t.Errorf("the webhook token %q is not the generated one", got)
	}
	for _, svc := range p.Services {
		for k, v := range environment(t, svc) {
			if strings.Contains(strings.ToLower(v), "minioadmin") || strings.Contains(v, "local-dev-token-change-me") {
				t.Errorf("service %s: %s = %q is a published default", svc.Name, k, v)
			}
		}
		for _, port := range svc.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %d on %q, want 127.0.0.1 only", svc.Name, port.Target, port.HostIP)
			}
		}
	}
	if tenv["AWS_ACCESS_KEY_ID"] == menv["MINIO_ROOT_USER"] || tenv["AWS_SECRET_ACCESS_KEY"] == menv["MINIO_ROOT_PASSWORD"] {
		t.Error("thumbpipe runs with MinIO's root credentials")
	}
	su := service(t, p, "minio-setup")
	senv := environment(t, su)
	if senv["THUMBPIPE_MINIO_USER"] != tenv["AWS_ACCESS_KEY_ID"] || senv["THUMBPIPE_MINIO_USER_SECRET"] != tenv["AWS_SECRET_ACCESS_KEY"] {
		t.Error("thumbpipe's credentials are not the user minio-setup creates")
	}
	if d, ok := tp.DependsOn["minio-setup"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("thumbpipe depends_on minio-setup = %+v, want condition service_completed_successfully", tp.DependsOn)
	}
	if slices.Contains(tp.Command, "--minio-setup") {
		t.Errorf("serve %q runs the setup itself, with credentials that cannot", tp.Command)
	}

	// The image: multi-stage, static, non-root, and the healthcheck runs
	// its entrypoint.
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(df)
	if n := strings.Count(dockerfile, "\nFROM "); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a builder and a runtime", n)
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER nonroot", `ENTRYPOINT ["/thumbpipe"]`} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if hc := tp.HealthCheck; hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/thumbpipe" {
		t.Errorf("thumbpipe healthcheck %+v does not run the image's /thumbpipe", tp.HealthCheck)
	}
}

// TestComposeStack runs the compose file's stack and drives it over real
// HTTP the way a user does: upload with an S3 client, find thumbnails.
func TestComposeStack(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	composeToken := s.token

	t.Run("HealthcheckCommand", func(t *testing.T) {
		if len(s.healthTest) < 3 {
			t.Fatalf("healthcheck %q", s.healthTest)
		}
		if err := run(ctx, s.healthTest[2:], os.Getenv, io.Discard, io.Discard); err != nil {
			t.Errorf("%q: %v", s.healthTest, err)
		}
	})

	type upload struct {
		key, contentType string
		data             []byte
		w, h             int
		ext, mime        string
	}
	good := []upload{
		{"uploads/my photo+1.jpg", "image/jpeg", pixeltest.JPEG(pixeltest.Photo(1000, 750, 1), 85), 1000, 750, "", "image/jpeg"},
		{"uploads/a+b%2Bc & d.png", "application/octet-stream", pixeltest.PNG(pixeltest.Photo(300, 400, 2)), 300, 400, "", "image/png"},
		{"写真/日本 café.jpg", "image/jpeg", pixeltest.JPEG(pixeltest.Photo(400, 300, 3), 85), 400, 300, "", "image/jpeg"},
		{"deep/er/nested/prefix/anim.gif", "application/octet-stream", pixeltest.GIF(pixeltest.Photo(400, 300, 4)), 400, 300, "", "image/gif"},
	}
	corrupt := upload{key: "uploads/corrupt.jpg", contentType: "image/jpeg", data: pixeltest.JPEG(pixeltest.Photo(300, 300, 5), 85)[:400]}

	t.Run("UploadsGetThumbnails", func(t *testing.T) {
		// Upload everything, then watch every key: latency is from the end
		// of an upload to the moment all its thumbnails are there.
		uploaded := map[string]time.Time{}
		for _, u := range append(good, corrupt) {
			s.put(u.key, u.contentType, u.data)
			uploaded[u.key] = time.Now()
		}
		var latencies []time.Duration
		pending := slices.Clone(good)
		awaitFor(t, "thumbnails of every upload", 60*time.Second, func() bool {
			pending = slices.DeleteFunc(pending, func(u upload) bool {
				if slices.ContainsFunc(s.variantKeys(u.key, u.ext), func(k string) bool { return !s.exists(k) }) {
					return false
				}
				latencies = append(latencies, time.Since(uploaded[u.key]))
				return true
			})
			return len(pending) == 0
		})
		slices.Sort(latencies)
		var sum time.Duration
		for _, l := range latencies {
			sum += l
		}
		t.Logf("upload→thumbnails latency over %d uploads (%d sizes each): mean %v, max %v",
			len(latencies), len(s.sizes), sum/time.Duration(len(latencies)), latencies[len(latencies)-1])

		for _, u := range good {
			src, err := s.images.Attributes(ctx, u.key)
			if err != nil {
				t.Fatal(err)
			}
			for i, vk := range s.variantKeys(u.key, u.ext) {
				attrs, err := s.images.Attributes(ctx, vk)
				if err != nil {
					t.Fatalf("%s: %v", vk, err)
				}
				if attrs.ContentType != u.mime {
					t.Errorf("%s: Content-Type %q, want %q", vk, attrs.ContentType, u.mime)
				}
				if got, _ := url.PathUnescape(attrs.Metadata[pipeline.MetaSource]); got != u.key {
					t.Errorf("%s: %s = %q, want %q", vk, pipeline.MetaSource, attrs.Metadata[pipeline.MetaSource], u.key)
				}
				if attrs.Metadata[pipeline.MetaETag] == "" || !strings.Contains(src.ETag, attrs.Metadata[pipeline.MetaETag]) {
					t.Errorf("%s: %s = %q, source ETag %s", vk, pipeline.MetaETag, attrs.Metadata[pipeline.MetaETag], src.ETag)
				}
				if attrs.Metadata[pipeline.MetaConfig] == "" {
					t.Errorf("%s: no %s", vk, pipeline.MetaConfig)
				}
				data, err := s.images.ReadAll(ctx, vk)
				if err != nil {
					t.Fatal(err)
				}
				cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
				if err != nil {
					t.Fatalf("%s: %v", vk, err)
				}
				if w, h := fitDims(s.sizes[i], u.w, u.h); cfg.Width != w || cfg.Height != h {
					t.Errorf("%s: %dx%d, want %dx%d", vk, cfg.Width, cfg.Height, w, h)
				}
			}
		}
		awaitFor(t, "the corrupt upload to be acknowledged", 30*time.Second, func() bool { return s.outcome("failed_permanent") == 1 })
		for _, vk := range s.variantKeys(corrupt.key, "") {
			if s.exists(vk) {
				t.Errorf("corrupt upload has a thumbnail %s", vk)
			}
		}
	})

	t.Run("ThumbnailsAreNotThumbnailed", func(t *testing.T) {
		written := float64(len(good) * len(s.sizes))
		if got := s.settled("thumbpipe_variants_written_total", written); got != written {
			t.Errorf("variants written = %v, want %v", got, written)
		}
		// Each thumbnail written is an upload MinIO tells us about: skipped.
		// So is each manifest, and the corrupt upload's failure record.
		records := float64(len(good) + 1)
		awaitFor(t, "the thumbnails' own events", 30*time.Second, func() bool { return s.outcome("skipped") == written+records })
		time.Sleep(300 * time.Millisecond)
		for o, want := range map[string]float64{"processed": float64(len(good)), "up_to_date": 0, "skipped": written + records,
			"failed_transient": 0, "unauthorized": 0, "refused": 0} {
			if got := s.outcome(o); got != want {
				t.Errorf("events{outcome=%q} = %v, want %v", o, got, want)
			}
		}
		var keys []string
		it := s.images.List(nil)
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, obj.Key)
		}
		want := []string{corrupt.key, "thumbnails/" + pipeline.FailureDir + corrupt.key + ".json"}
		for _, u := range good {
			want = append(append(want, u.key, "thumbnails/"+pipeline.ManifestDir+u.key+".json"), s.variantKeys(u.key, u.ext)...)
		}
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("bucket holds\n%q\nwant\n%q", keys, want)
		}
	})

	t.Run("DeleteRemovesVariants", func(t *testing.T) {
		u := good[0]
		if err := s.minio.Client().RemoveObject(ctx, s.bucketName, u.key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		d := awaitFor(t, "variants of a deleted source to go", 30*time.Second, func() bool {
			return !slices.ContainsFunc(s.variantKeys(u.key, u.ext), s.exists)
		})
		t.Logf("delete→variants gone: %v", d)
		if got, want := s.settled("thumbpipe_variants_deleted_total", float64(len(s.sizes))), float64(len(s.sizes)); got != want {
			t.Errorf("variants deleted = %v, want %v", got, want)
		}
		if !s.exists(good[1].key) || !s.exists(s.variantKeys(good[1].key, "")[0]) {
			t.Error("another source's files went too")
		}
	})

	t.Run("AuthAndAbuse", func(t *testing.T) {
		hook := s.base() + "/webhook"
		// A bucket thumbpipe must not touch, with an image in it.
		if err := s.minio.Client().MakeBucket(ctx, "private", minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		img := pixeltest.JPEG(pixeltest.Photo(300, 200, 9), 85)
		if _, err := s.minio.Client().PutObject(ctx, "private", "secret.jpg", bytes.NewReader(img), int64(len(img)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		processed0 := s.outcome("processed")
		s.put("probe.jpg", "image/jpeg", img)
		awaitFor(t, "probe thumbnails", 30*time.Second, func() bool { return s.exists(s.variantKeys("probe.jpg", "")[0]) })
		// The probe is counted just after its thumbnails are written.
		before := s.settled(`thumbpipe_events_total{outcome="processed"}`, processed0+1)

		probe := webhookBody("s3:ObjectCreated:Put", s.bucketName, "probe.jpg")
		for _, tc := range []struct{ name, token string }{
			{"no token", ""}, {"wrong token", strings.Repeat("x", len(composeToken))},
			{"shorter token", composeToken[:8]}, {"longer token", composeToken + "0"},
		} {
			if status, body := post(t, hook, tc.token, probe); status != 401 {
				t.Errorf("%s: %d %s, want 401", tc.name, status, body)
			}
		}
		if got := s.outcome("unauthorized"); got != 4 {
			t.Errorf("unauthorized = %v, want 4", got)
		}
		big := `{"Records":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`
		if status, body := post(t, hook, composeToken, big); status != 413 {
			t.Errorf("oversized body: %d %.100s, want 413", status, body)
		}
		if status, body := post(t, hook, composeToken, `{"Records":[{`); status != 400 {
			t.Errorf("malformed body: %d %s, want 400", status, body)
		}
		for _, tc := range []struct{ name, bucket, key string }{
			{"foreign bucket", "private", "secret.jpg"},
			{"dot-dot key", s.bucketName, "../private/secret.jpg"},
			{"dot-dot inside", s.bucketName, "uploads/../probe.jpg"},
			{"control character", s.bucketName, "probe\r.jpg"},
			{"leading slash", s.bucketName, "/uploads/ok.jpg"},
			{"empty segment", s.bucketName, "uploads//ok.jpg"},
			{"backslashes", s.bucketName, `uploads\..\x.jpg`},
		} {
			status, body := post(t, hook, composeToken, webhookBody("s3:ObjectCreated:Put", tc.bucket, tc.key))
			if status != 200 || !strings.Contains(body, `"outcome":"refused"`) {
				t.Errorf("%s: %d %s, want 200 refused", tc.name, status, body)
			}
		}
		objs := s.minio.Client().ListObjects(ctx, "private", minio.ListObjectsOptions{Recursive: true})
		for o := range objs {
			if o.Key != "secret.jpg" {
				t.Errorf("written to the foreign bucket: %s", o.Key)
			}
		}
		if got := s.outcome("processed"); got != before {
			t.Errorf("processed went from %v to %v", before, got)
		}
	})

	t.Run("LeastPrivilege", func(t *testing.T) {
		user, err := minio.New(s.minio.Addr(), &minio.Options{
			Creds:  credentials.NewStaticV4(s.env["AWS_ACCESS_KEY_ID"], s.env["AWS_SECRET_ACCESS_KEY"], ""),
			Region: testserver.MinIORegion,
		})
		if err != nil {
			t.Fatal(err)
		}
		put := func(bucket, key string) error {
			_, err := user.PutObject(ctx, bucket, key, strings.NewReader("x"), 1, minio.PutObjectOptions{})
			return err
		}
		if err := put(s.bucketName, "thumbnails/probe.jpg"); err != nil {
			t.Errorf("thumbpipe's user cannot write under thumbnails/: %v", err)
		}
		if err := user.RemoveObject(ctx, s.bucketName, "thumbnails/probe.jpg", minio.RemoveObjectOptions{}); err != nil {
			t.Errorf("thumbpipe's user cannot delete under thumbnails/: %v", err)
		}
		for what, err := range map[string]error{
			"write a source":       put(s.bucketName, "uploads/planted.jpg"),
			"delete a source":      user.RemoveObject(ctx, s.bucketName, good[1].key, minio.RemoveObjectOptions{}),
			"write another bucket": put("private", "thumbnails/x.jpg"),
			"read another bucket": func() error {
				_, err := user.StatObject(ctx, "private", "secret.jpg", minio.StatObjectOptions{})
				return err
			}(),
			"create a bucket":      user.MakeBucket(ctx, "planted", minio.MakeBucketOptions{}),
			"change notifications": user.RemoveAllBucketNotification(ctx, s.bucketName),
		} {
			if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
				t.Errorf("thumbpipe's user may %s: %v", what, err)
			}
		}
	})

	t.Run("PoisonKeyIsNotRetried", func(t *testing.T) {
		// MinIO stores a 1006-byte key, but not its thumbnails' (1024 at
		// most): the event is acknowledged as permanently failed at once,
		// not answered 5xx and resent forever.
		key := "poison/" + strings.Repeat(strings.Repeat("k", 200)+"/", 4) + strings.Repeat("k", 191) + ".jpg"
		if len(key) != 1006 {
			t.Fatalf("key of %d bytes", len(key))
		}
		before := s.outcome("failed_permanent")
		s.put(key, "image/jpeg", pixeltest.JPEG(pixeltest.Photo(64, 48, 7), 85))
		awaitFor(t, "the poison upload to be acknowledged", 30*time.Second, func() bool { return s.outcome("failed_permanent") == before+1 })
		if got := s.outcome("failed_transient"); got != 0 {
			t.Errorf("failed_transient = %v, want 0", got)
		}
	})

	t.Run("WebhookOutage", func(t *testing.T) {
		s.stop()
		const n = 5
		var keys []string
		for i := range n {
			key := fmt.Sprintf("outage/%d.jpg", i)
			s.put(key, "image/jpeg", pixeltest.JPEG(pixeltest.Photo(320, 240, uint64(100+i)), 85))
			keys = append(keys, key)
		}
		time.Sleep(500 * time.Millisecond)
		for _, k := range keys {
			if s.exists(s.variantKeys(k, "")[0]) {
				t.Fatalf("%s has thumbnails while serve is down", k)
			}
		}
		start := time.Now()
		if logs := s.setup(); !strings.Contains(logs, `"notification_changed":false`) {
			t.Errorf("a second minio-setup changed the notification:\n%s", logs)
		}
		s.start()
		awaitFor(t, "thumbnails of uploads made during the outage", 60*time.Second, func() bool {
			for _, k := range keys {
				for _, vk := range s.variantKeys(k, "") {
					if !s.exists(vk) {
						return false
					}
				}
			}
			return true
		})
		t.Logf("webhook outage: %d uploads queued by MinIO got thumbnails %v after serve restarted", n, time.Since(start))
	})

	t.Run("Throughput", func(t *testing.T) {
		n, w, h := 24, 640, 480
		if raceEnabled {
			n, w, h = 6, 320, 240 // the race detector slows decoding ~10x; the numbers then mean little
		}
		events0 := 0.0
		for _, o := range []string{"processed", "skipped", "up_to_date"} {
			events0 += s.outcome(o)
		}
		start := time.Now()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s.put(fmt.Sprintf("burst/%02d.jpg", i), "image/jpeg", pixeltest.JPEG(pixeltest.Photo(w, h, uint64(200+i)), 85))
			})
		}
		wg.Wait()
		uploaded := time.Since(start)
		awaitFor(t, "thumbnails of a burst of uploads", 120*time.Second, func() bool {
			return s.outcome("processed") >= float64(len(good)+1+n) // + the probe
		})
		elapsed := time.Since(start)
		awaitFor(t, "the burst's thumbnail events", 60*time.Second, func() bool {
			return s.outcome("skipped") >= float64((len(good)+1+n)*len(s.sizes))
		})
		all := time.Since(start)
		events := -events0
		for _, o := range []string{"processed", "skipped", "up_to_date"} {
			events += s.outcome(o)
		}
		t.Logf("throughput: %d uploads of %dx%d JPEGs (uploaded in %v) thumbnailed in %v = %.1f images/s; %v webhook events in %v = %.1f events/s",
			n, w, h, uploaded, elapsed, float64(n)/elapsed.Seconds(), events, all, events/all.Seconds())
		sum := s.metric(`thumbpipe_event_duration_seconds_sum{action="created"}`)
		count := s.metric(`thumbpipe_event_duration_seconds_count{action="created"}`)
		t.Logf("time in the handler per create event (all so far, thumbnails' own events included): mean %.1f ms over %v events",
			1000*sum/count, count)
	})
}

// without returns env without key.
func without(env map[string]string, key string) map[string]string {
	out := maps.Clone(env)
	delete(out, key)
	return out
}
