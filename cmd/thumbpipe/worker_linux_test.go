//go:build linux

package main

// The queue worker as it runs in production: a real MinIO publishing its
// bucket notifications to a real nats-server with JetStream, consumed by
// `thumbpipe worker` processes built from this package.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// The names the queue tests give MinIO's NATS target and JetStream.
const (
	natsTargetID  = "THUMBPIPE"
	natsSubject   = "thumbpipe.events"
	natsStream    = "THUMBPIPE"
	natsConsumer  = "workers"
	queueBucket   = "images"
	queueSizes    = "64x64,32x32"
	workerAckWait = "5s"
)

// queueStack is MinIO → NATS JetStream → worker processes, or, for the
// benchmark, MinIO → its webhook → one serve process.
type queueStack struct {
	t       testing.TB
	minio   *testserver.MinIO
	nats    *testserver.NATS
	bin     string
	env     map[string]string // every worker's
	workers []*workerProc
	images  *blob.Bucket
	sizes   []pipeline.Size
}

// workerProc is one `thumbpipe worker` process, restartable.
type workerProc struct {
	addr string
	proc *testserver.Process
}

func (w *workerProc) base() string { return "http://" + w.addr }

// stackOptions says which stack startQueueStack starts.
type stackOptions struct {
	// QueueDir gives MinIO's target a queue dir, as the compose file does.
	QueueDir bool
	// Webhook starts MinIO's webhook target instead of its NATS target,
	// pointed at WebhookAddr (startServe runs serve there).
	Webhook     bool
	WebhookAddr string
}

// webhookToken is the token of the benchmark's webhook stack.
const webhookToken = "bench-token-0123456789abcdef"

// startQueueStack starts NATS, MinIO with its NATS target, and runs
// minio-setup with THUMBPIPE_MINIO_TARGET=nats (or, with o.Webhook, MinIO
// with its webhook target and minio-setup for it). Workers are started with
// addWorker, serve with startServe.
func startQueueStack(t testing.TB, o stackOptions, settings map[string]string) *queueStack {
	t.Helper()
	var ns *testserver.NATS
	target := "nats"
	menv := map[string]string{}
	if o.Webhook {
		target = "webhook"
		menv["MINIO_NOTIFY_WEBHOOK_ENABLE_"+natsTargetID] = "on"
		menv["MINIO_NOTIFY_WEBHOOK_ENDPOINT_"+natsTargetID] = "http://" + o.WebhookAddr + "/webhook"
		menv["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_"+natsTargetID] = webhookToken
	} else {
		ns = testserver.StartNATS(t)
		menv["MINIO_NOTIFY_NATS_ENABLE_"+natsTargetID] = "on"
		menv["MINIO_NOTIFY_NATS_ADDRESS_"+natsTargetID] = ns.Addr()
		menv["MINIO_NOTIFY_NATS_SUBJECT_"+natsTargetID] = natsSubject
		menv["MINIO_NOTIFY_NATS_JETSTREAM_"+natsTargetID] = "on"
	}
	if o.QueueDir {
		menv["MINIO_NOTIFY_"+strings.ToUpper(target)+"_QUEUE_DIR_"+natsTargetID] = t.TempDir()
	}
	m := testserver.StartMinIO(t, testserver.MinIOOptions{Env: menv})
	s := &queueStack{t: t, minio: m, nats: ns, bin: buildThumbpipe(t)}
	template := strings.Replace(m.BucketURL("BUCKET"), "BUCKET", "{bucket}", 1)
	s.env = map[string]string{
		"THUMBPIPE_BUCKETS":    queueBucket,
		"THUMBPIPE_BUCKET_URL": template,
		"THUMBPIPE_SIZES":      queueSizes,
		"THUMBPIPE_LOG_FORMAT": "json",
	}
	if ns != nil {
		s.env["THUMBPIPE_SUBSCRIPTION"] = fmt.Sprintf("%s/%s/%s?subject=%s&ack_wait=%s", ns.URL(), natsStream, natsConsumer, natsSubject, workerAckWait)
	}
	maps.Copy(s.env, settings)
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		s.env[k] = v
	}
	for _, sz := range strings.Split(s.env["THUMBPIPE_SIZES"], ",") {
		size, err := pipeline.ParseSize(sz)
		if err != nil {
			t.Fatal(err)
		}
		s.sizes = append(s.sizes, size)
	}

	setup := map[string]string{"THUMBPIPE_BUCKETS": queueBucket, "THUMBPIPE_BUCKET_URL": template,
		"THUMBPIPE_MINIO_TARGET": target, "THUMBPIPE_MINIO_WEBHOOK_ID": natsTargetID, "THUMBPIPE_LOG_FORMAT": "json"}
	maps.Copy(setup, s.env)
	delete(setup, "THUMBPIPE_SUBSCRIPTION")
	var logs testserver.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, []string{"minio-setup"}, func(k string) string { return setup[k] }, io.Discard, &logs); err != nil {
		t.Fatalf("minio-setup: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), `"arn":"arn:minio:sqs::`+natsTargetID+`:`+target+`"`) {
		t.Errorf("minio-setup did not point the bucket at the %s target:\n%s", target, logs.String())
	}

	m.SetAWSEnv(t)
	cache := &buckets.Cache{}
	t.Cleanup(func() { cache.Close() })
	var err error
	if s.images, err = cache.Open(context.Background(), buckets.Expand(template, queueBucket)); err != nil {
		t.Fatal(err)
	}
	return s
}

// addWorker starts one more worker process and waits until it serves.
func (s *queueStack) addWorker(extra ...string) *workerProc {
	s.t.Helper()
	return s.start("worker", fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(s.t)), extra...)
}

// startServe starts `thumbpipe serve` at addr, where MinIO's webhook
// target points.
func (s *queueStack) startServe(addr string, extra ...string) *workerProc {
	s.t.Helper()
	return s.start("serve", addr, append([]string{"THUMBPIPE_WEBHOOK_TOKEN=" + webhookToken}, extra...)...)
}

// start starts `thumbpipe command` listening on addr.
func (s *queueStack) start(command, addr string, extra ...string) *workerProc {
	w := &workerProc{addr: addr}
	env := []string{"THUMBPIPE_LISTEN=" + w.addr}
	for k, v := range s.env {
		env = append(env, k+"="+v)
	}
	env = append(env, extra...)
	w.proc = testserver.NewProcess(s.t, testserver.ProcessOptions{Name: fmt.Sprintf("%s%d", command, len(s.workers)+1), Bin: s.bin,
		Args: []string{command}, Env: env, ReadyURL: w.base() + "/healthz"})
	w.proc.Start()
	s.workers = append(s.workers, w)
	return w
}

// put uploads a JPEG.
func (s *queueStack) put(key string, data []byte) {
	s.t.Helper()
	if _, err := s.minio.Client().PutObject(context.Background(), queueBucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
		s.t.Errorf("upload %s: %v", key, err)
	}
}

// keys lists the bucket.
func (s *queueStack) keys() []string {
	s.t.Helper()
	var out []string
	for o := range s.minio.Client().ListObjects(context.Background(), queueBucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			s.t.Fatalf("list: %v", o.Err)
		}
		out = append(out, o.Key)
	}
	return out
}

// consumerIdle reports whether the workers' consumer has nothing pending
// and nothing unacknowledged.
func (s *queueStack) consumerIdle() bool {
	s.t.Helper()
	nc, err := nats.Connect(s.nats.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, natsStream, natsConsumer)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
}

// logLine is the part of a worker's JSON log line the tests read.
type logLine struct {
	Msg     string `json:"msg"`
	Message string `json:"message"`
	Key     string `json:"key"`
	Outcome string `json:"outcome"`
	Written *int   `json:"written"`
	Attempt int    `json:"attempt"`
}

// workerLog reads a worker's log, one slice of lines per life.
func workerLog(t *testing.T, w *workerProc) [][]logLine {
	t.Helper()
	f, err := os.Open(w.proc.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lives [][]logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "=== ") && strings.Contains(line, " start: ") {
			lives = append(lives, nil)
			continue
		}
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil && len(lives) > 0 {
			lives[len(lives)-1] = append(lives[len(lives)-1], l)
		}
	}
	return lives
}

// TestWorkerKill: 500 uploads into MinIO, published to JetStream and
// consumed by three worker processes, one of which is SIGKILLed while it
// works and started again. Every upload gets every thumbnail, whole; no
// thumbnail is made of a thumbnail; and no thumbnail is written twice but
// those of the messages that were in flight in the killed worker.
func TestWorkerKill(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	s := startQueueStack(t, stackOptions{QueueDir: true}, map[string]string{"THUMBPIPE_CONCURRENCY": "2"})
	for range 3 {
		s.addWorker()
	}
	victim := s.workers[1]

	images := make([][]byte, 8)
	for i := range images {
		images[i] = pixeltest.JPEG(pixeltest.Photo(160+8*i, 120, uint64(i)), 85)
	}
	srcKey := func(i int) string { return fmt.Sprintf("uploads/%03d/photo %d.jpg", i%50, i) }
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				s.put(srcKey(i), images[i%len(images)])
			}
		})
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		// Kill the victim once it has done some work and is busy.
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			done, _ := metricValue(victim.base(), `thumbpipe_events_total{outcome="processed"}`)
			busy, _ := metricValue(victim.base(), "thumbpipe_worker_messages_in_flight")
			if done >= float64(n/10) && busy > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		victim.proc.StopWith(syscall.SIGKILL)
	}()
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("%d uploads in %v", n, time.Since(start))
	<-killed
	victim.proc.Start()

	want := n * (1 + len(s.sizes))
	have := 0
	defer func() {
		if t.Failed() {
			t.Logf("the bucket held %d of the %d keys", have, want)
		}
	}()
	awaitFor(t, "every thumbnail", 120*time.Second, func() bool { have = len(s.keys()); return have >= want })
	t.Logf("all %d thumbnails %v after the first upload", n*len(s.sizes), time.Since(start))
	awaitFor(t, "the consumer to be idle", 60*time.Second, s.consumerIdle)

	// 0 missing, 0 partial, no thumbnail of a thumbnail; each source's
	// manifest, written after its thumbnails.
	keys := s.keys()
	var wantKeys []string
	for i := range n {
		wantKeys = append(wantKeys, srcKey(i), "thumbnails/manifests/"+srcKey(i)+".json")
		for _, sz := range s.sizes {
			wantKeys = append(wantKeys, "thumbnails/"+sz.Box()+"/"+srcKey(i))
		}
	}
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		missing, extra := diff(wantKeys, keys), diff(keys, wantKeys)
		t.Errorf("bucket: %d keys missing (%q...), %d extra (%q...)", len(missing), first(missing, 5), len(extra), first(extra, 5))
	}
	ctx := context.Background()
	partial := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, "thumbnails/") || strings.HasPrefix(k, "thumbnails/manifests/") {
			continue
		}
		data, err := s.images.ReadAll(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
			partial++
			t.Errorf("%s: %v", k, err)
		}
	}

	// Writes per source, from every worker's log; the victim's first
	// life tells which messages were in flight when it died.
	written := map[string]int{}
	inFlight := map[string]bool{}
	for _, w := range s.workers {
		lives := workerLog(t, w)
		for li, life := range lives {
			open := map[string]bool{}
			for _, l := range life {
				switch {
				case l.Msg == "received":
					open[l.Message] = true
				case l.Outcome != "" && l.Message != "":
					delete(open, l.Message)
					if l.Written != nil {
						written[l.Key] += *l.Written
					}
				}
			}
			if w == victim && li == 0 {
				maps.Copy(inFlight, open)
			} else if len(open) > 0 {
				t.Errorf("%s life %d: messages received and never finished: %v", w.proc.LogPath(), li+1, open)
			}
		}
	}
	twice := 0
	for k, c := range written {
		if c > len(s.sizes) {
			twice++
			t.Logf("%s: %d thumbnails written for %d sizes", k, c, len(s.sizes))
		}
	}
	t.Logf("%d uploads, 3 workers, one SIGKILLed: %d messages in flight in it, %d sources written twice, %d partial",
		n, len(inFlight), twice, partial)
	if len(inFlight) == 0 {
		t.Error("the victim had no message in flight when it was killed")
	}
	if twice > len(inFlight) {
		t.Errorf("%d sources were written twice, more than the %d messages in flight in the killed worker", twice, len(inFlight))
	}

	// SIGTERM: a worker finishes, flushes and exits cleanly.
	s.workers[0].proc.Stop()
	if lives := workerLog(t, s.workers[0]); !slices.ContainsFunc(lives[len(lives)-1], func(l logLine) bool { return l.Msg == "stopped" }) {
		t.Error("worker 1 did not log a clean stop after SIGTERM")
	}
}

// diff returns the strings of a that b lacks; both sorted.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, ok := slices.BinarySearch(b, s); !ok {
			out = append(out, s)
		}
	}
	return out
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
