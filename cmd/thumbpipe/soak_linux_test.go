//go:build linux

package main

// The soak: real MinIO, `thumbpipe serve` as a separate process that is
// killed with SIGKILL twice and restarted, N uploads at concurrency 32, then
// overwrites and deletes of live objects (their events still on the way),
// 10 % of the events replayed, and a share of the storage requests between
// serve and MinIO failing. At the end every object must have exactly its
// thumbnails, complete and made from its current version (0 stale), and no
// thumbnail may outlive its source (0 orphans).
//
//	MinIO ──webhook──▶ hookProxy ──▶ serve ──S3──▶ storeProxy (faults) ──▶ MinIO
//
// The knobs are environment variables (see soakSettings); `make soak` runs
// 10,000 uploads, `go test` a few hundred.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/minio/minio-go/v7"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// soakSettings are the soak's knobs, read from THUMBPIPE_SOAK_* variables.
type soakSettings struct {
	n           int           // THUMBPIPE_SOAK_N: uploads (default 200)
	concurrency int           // THUMBPIPE_SOAK_CONCURRENCY: uploads at once (32)
	dupRate     float64       // THUMBPIPE_SOAK_DUP_RATE: share of upload events replayed (0.10)
	faultRate   float64       // THUMBPIPE_SOAK_FAULT_RATE: share of storage requests that fail (0.05)
	kills       int           // THUMBPIPE_SOAK_KILLS: SIGKILLs of serve during the uploads (2)
	overwrite   float64       // THUMBPIPE_SOAK_OVERWRITE_RATE: share of uploads overwritten with another image (0.08)
	deleteRate  float64       // THUMBPIPE_SOAK_DELETE_RATE: share of uploads deleted (0.08)
	down        time.Duration // THUMBPIPE_SOAK_DOWN: how long serve stays dead (2s)
	seed        uint64        // THUMBPIPE_SOAK_SEED: the faults' and the image mix's seed (1)
	timeout     time.Duration // THUMBPIPE_SOAK_TIMEOUT: how long the whole run may take (3m + 1s per upload)
}

func loadSoakSettings(t *testing.T) soakSettings {
	t.Helper()
	s := soakSettings{n: 200, concurrency: 32, dupRate: 0.10, faultRate: 0.05, kills: 2, overwrite: 0.08, deleteRate: 0.08,
		down: 2 * time.Second, seed: 1}
	num := func(name string, dst any) {
		v := os.Getenv(name)
		if v == "" {
			return
		}
		var err error
		switch d := dst.(type) {
		case *int:
			*d, err = strconv.Atoi(v)
		case *uint64:
			*d, err = strconv.ParseUint(v, 10, 64)
		case *float64:
			*d, err = strconv.ParseFloat(v, 64)
		case *time.Duration:
			*d, err = time.ParseDuration(v)
		}
		if err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
	}
	num("THUMBPIPE_SOAK_N", &s.n)
	num("THUMBPIPE_SOAK_CONCURRENCY", &s.concurrency)
	num("THUMBPIPE_SOAK_DUP_RATE", &s.dupRate)
	num("THUMBPIPE_SOAK_FAULT_RATE", &s.faultRate)
	num("THUMBPIPE_SOAK_KILLS", &s.kills)
	num("THUMBPIPE_SOAK_OVERWRITE_RATE", &s.overwrite)
	num("THUMBPIPE_SOAK_DELETE_RATE", &s.deleteRate)
	num("THUMBPIPE_SOAK_DOWN", &s.down)
	num("THUMBPIPE_SOAK_SEED", &s.seed)
	// MinIO delivers a target's events one at a time (and after a failure
	// or an empty queue looks again every 3 s), and the S3 client backs off
	// before it retries a failed request: with 5 % of the requests failing,
	// an upload takes about 0.5 s on 2 cores.
	s.timeout = 3*time.Minute + time.Duration(s.n)*time.Second
	num("THUMBPIPE_SOAK_TIMEOUT", &s.timeout)
	if s.n < 1 || s.concurrency < 1 || s.kills < 0 || s.faultRate < 0 || s.faultRate >= 1 || s.dupRate < 0 || s.dupRate > 1 ||
		s.overwrite < 0 || s.deleteRate < 0 || s.overwrite+s.deleteRate > 1 {
		t.Fatalf("soak settings out of range: %+v", s)
	}
	return s
}

// soakSizes are the thumbnail sizes serve makes in the soak.
const soakSizes = "160x160,48x48:fill"

// soakImage is one image of the soak's mix and what the pipeline makes of
// it, learnt by running the pipeline in-process on a memblob bucket.
type soakImage struct {
	name     string // what it is
	ext      string // the upload key's extension
	data     []byte
	variants []soakVariant // none: refused (corrupt, unsupported)
}

// soakVariant is one thumbnail of a soakImage.
type soakVariant struct {
	suffix        string // the variant key is "<prefix><box>/<source key><suffix>" ...
	prefix        string // ... e.g. prefix "thumbnails/160x160/", suffix ".png" or ""
	width, height int
	bytes         int64
}

func (v soakVariant) key(src string) string { return v.prefix + src + v.suffix }

// soakImages is the mix: real-world fixtures (progressive and CMYK JPEG,
// interlaced PNG, lossy, lossless and alpha WebP), generated photos from
// small to large, a GIF, and a few that must be refused.
func soakImages(t *testing.T, cfg pipeline.Config) (good, bad []soakImage) {
	t.Helper()
	truncated := pixeltest.JPEG(pixeltest.Photo(400, 300, 7), 85)
	imgs := []soakImage{
		{name: "progressive.jpg", ext: ".jpg", data: pixeltest.File("progressive.jpg")},
		{name: "cmyk.jpg", ext: ".jpg", data: pixeltest.File("cmyk.jpg")},
		{name: "interlaced.png", ext: ".png", data: pixeltest.File("interlaced.png")},
		{name: "lossy.webp", ext: ".webp", data: pixeltest.File("lossy.webp")},
		{name: "lossless.webp", ext: ".webp", data: pixeltest.File("lossless.webp")},
		{name: "alpha.webp", ext: ".webp", data: pixeltest.File("alpha.webp")},
		{name: "photo 120x90 jpeg", ext: ".jpg", data: pixeltest.JPEG(pixeltest.Photo(120, 90, 1), 85)},
		{name: "photo 640x480 jpeg", ext: ".jpg", data: pixeltest.JPEG(pixeltest.Photo(640, 480, 2), 85)},
		{name: "photo 1024x768 jpeg", ext: ".jpeg", data: pixeltest.JPEG(pixeltest.Photo(1024, 768, 3), 90)},
		{name: "photo 300x400 png", ext: ".png", data: pixeltest.PNG(pixeltest.Photo(300, 400, 4))},
		{name: "photo 400x300 gif", ext: ".gif", data: pixeltest.GIF(pixeltest.Photo(400, 300, 5))},
		{name: "photo 500x200 png, no extension", ext: "", data: pixeltest.PNG(pixeltest.Photo(500, 200, 6))},
		{name: "truncated jpeg", ext: ".jpg", data: truncated[:len(truncated)/2]},
		{name: "random bytes", ext: ".png", data: bytes.Repeat([]byte("not an image "), 50)},
		{name: "empty", ext: ".jpg", data: nil},
	}
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, img := range imgs {
		b := memblob.OpenBucket(nil)
		const key = "calibrate/the-key"
		k := key + img.ext
		if err := b.WriteAll(ctx, k, img.data, nil); err != nil {
			t.Fatal(err)
		}
		res, err := th.Process(ctx, b, k)
		b.Close()
		if err != nil || res.Skipped != "" {
			if len(bad) == 0 && err == nil {
				t.Fatalf("%s: skipped (%s), want made or refused", img.name, res.Skipped)
			}
			bad = append(bad, img)
			continue
		}
		for _, v := range res.Variants {
			i := strings.Index(v.Key, k)
			if i < 0 {
				t.Fatalf("%s: variant key %q does not hold the source key", img.name, v.Key)
			}
			img.variants = append(img.variants, soakVariant{prefix: v.Key[:i], suffix: v.Key[i+len(k):],
				width: v.Width, height: v.Height, bytes: int64(v.Bytes)})
		}
		good = append(good, img)
	}
	if len(good) < 10 || len(bad) != 3 {
		t.Fatalf("image mix: %d made, %d refused; want ≥10 and 3", len(good), len(bad))
	}
	return good, bad
}

// soakUpload is one upload of the soak, and what became of it.
type soakUpload struct {
	key     string
	img     *soakImage // the object's image at the end
	deleted bool       // deleted after its upload
}

// soakOp is one request of the soak to MinIO: an upload, an overwrite of
// an uploaded object with another image, or its deletion.
type soakOp struct {
	i      int        // index into the uploads
	img    *soakImage // the image to write; nil deletes the object
	upload bool       // the first upload of the object
}

// soakMutations picks, with rng, the uploads that are overwritten and
// deleted once every upload is done. An overwrite uses another image with
// the same extension whose thumbnails have the same keys (so the
// thumbnails in place are the ones to bring up to date); only uploads that
// get thumbnails are picked.
func soakMutations(rng *rand.Rand, s soakSettings, uploads []soakUpload, good []soakImage) []soakOp {
	var ops []soakOp
	for i, u := range uploads {
		if len(u.img.variants) == 0 {
			continue
		}
		switch r := rng.Float64(); {
		case r < s.overwrite:
			var same []*soakImage
			for j := range good {
				if g := &good[j]; g != u.img && g.ext == u.img.ext && sameLayout(g, u.img) {
					same = append(same, g)
				}
			}
			if len(same) > 0 {
				ops = append(ops, soakOp{i: i, img: same[rng.IntN(len(same))]})
			}
		case r < s.overwrite+s.deleteRate:
			ops = append(ops, soakOp{i: i})
		}
	}
	rng.Shuffle(len(ops), func(a, b int) { ops[a], ops[b] = ops[b], ops[a] })
	return ops
}

// sameLayout reports whether two images' thumbnails have the same keys.
func sameLayout(a, b *soakImage) bool {
	return slices.EqualFunc(a.variants, b.variants, func(x, y soakVariant) bool { return x.prefix == y.prefix && x.suffix == y.suffix })
}

// storeProxy sits between serve and MinIO and fails a seeded share of the
// requests: 503 SlowDown, 500 InternalError, a connection dropped before
// the request reaches MinIO, or one dropped after MinIO did the work (the
// client cannot tell that the write happened). It counts thumbnail writes
// that MinIO acknowledged.
type storeProxy struct {
	target *url.URL
	rate   float64
	proxy  *httputil.ReverseProxy

	mu  sync.Mutex
	rng *rand.Rand

	requests, slowDown, internal, dropBefore, dropAfter atomic.Int64
	thumbWrites                                         atomic.Int64 // PUTs under thumbnails/ that MinIO answered 2xx
}

type dropAfterKey struct{}

var errDropAfter = errors.New("dropped after the request was done")

func newStoreProxy(target string, rate float64, seed uint64) *storeProxy {
	u, _ := url.Parse(target)
	p := &storeProxy{target: u, rate: rate, rng: rand.New(rand.NewPCG(seed, 0x50a6))}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // the request is signed for the proxy's host
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method == http.MethodPut && resp.StatusCode/100 == 2 && strings.Contains(resp.Request.URL.Path, "/thumbnails/") {
				p.thumbWrites.Add(1)
			}
			if resp.Request.Context().Value(dropAfterKey{}) != nil {
				io.Copy(io.Discard, resp.Body)
				return errDropAfter
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, errDropAfter) {
				panic(http.ErrAbortHandler) // closes the connection without an answer
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return p
}

func (p *storeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	p.mu.Lock()
	fault, kind := p.rng.Float64() < p.rate, p.rng.IntN(4)
	p.mu.Unlock()
	if !fault {
		p.proxy.ServeHTTP(w, r)
		return
	}
	s3err := func(status int, code string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message><Resource>%s</Resource><RequestId>soak</RequestId></Error>`,
			code, r.URL.Path)
	}
	switch kind {
	case 0:
		p.slowDown.Add(1)
		s3err(http.StatusServiceUnavailable, "SlowDown")
	case 1:
		p.internal.Add(1)
		s3err(http.StatusInternalServerError, "InternalError")
	case 2:
		p.dropBefore.Add(1)
		panic(http.ErrAbortHandler)
	default:
		p.dropAfter.Add(1)
		p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), dropAfterKey{}, true)))
	}
}

func (p *storeProxy) faults() int64 {
	return p.slowDown.Load() + p.internal.Load() + p.dropBefore.Load() + p.dropAfter.Load()
}

// hookProxy sits between MinIO and serve: it counts MinIO's deliveries by
// answer and replays a share of the upload events to serve, as a
// redelivering platform would.
type hookProxy struct {
	serve   string // serve's base URL
	token   string
	dupRate float64
	proxy   *httputil.ReverseProxy

	delivered, failed, replayed atomic.Int64
	failedBy                    sync.Map     // status code -> *atomic.Int64
	first, last                 atomic.Int64 // unix nanoseconds of the first and last delivery
	mu                          sync.Mutex
	seen                        map[string]bool
	replays                     sync.WaitGroup
}

func newHookProxy(serveBase, token string, dupRate float64) *hookProxy {
	u, _ := url.Parse(serveBase)
	h := &hookProxy{serve: serveBase, token: token, dupRate: dupRate, seen: map[string]bool{}}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:      func(r *httputil.ProxyRequest) { r.SetURL(u) },
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) },
	}
	return h
}

func (h *hookProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusRecorder{ResponseWriter: w}
	h.proxy.ServeHTTP(rec, r)
	now := time.Now().UnixNano()
	h.first.CompareAndSwap(0, now)
	h.last.Store(now)
	if rec.status/100 != 2 {
		h.failed.Add(1)
		n, _ := h.failedBy.LoadOrStore(rec.status, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		return
	}
	h.delivered.Add(1)
	key := eventKey(body)
	if key == "" || strings.HasPrefix(key, "thumbnails/") || !replayed(key, h.dupRate) {
		return
	}
	h.mu.Lock()
	again := h.seen[key]
	h.seen[key] = true
	h.mu.Unlock()
	if again {
		return
	}
	h.replays.Go(func() { h.replay(body) })
}

// replay POSTs an event MinIO delivered to serve again, until serve
// answers 2xx (it may be dead or busy at that moment).
func (h *hookProxy) replay(body []byte) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodPost, h.serve+"/webhook", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				h.replayed.Add(1)
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// replayed decides, from the key alone, whether its event is replayed.
func replayed(key string, rate float64) bool {
	f := fnv.New64a()
	io.WriteString(f, key)
	return float64(f.Sum64()%10000) < rate*10000
}

// eventKey is the unescaped key of an event's first record.
func eventKey(body []byte) string {
	var ev struct {
		EventName string
		Records   []struct {
			S3 struct {
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		}
	}
	if json.Unmarshal(body, &ev) != nil || len(ev.Records) == 0 || !strings.Contains(ev.EventName, "ObjectCreated") {
		return ""
	}
	k, _ := url.QueryUnescape(ev.Records[0].S3.Object.Key)
	return k
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// listen serves h on a free loopback port until the test ends.
func listen(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// soakResult is the soak's summary.
type soakResult struct {
	uploads, refused, expected, present, missing int
	overwrites, deletes, stale, orphans          int
	extraKeys, extraWrites, partial, recursion   int
	differs                                      int
	delivered, failedDeliveries, replayed        int64
	failedBy                                     string
	storeRequests, storeFaults                   int64
	kills                                        int
	uploadTime, drainTime                        time.Duration
	peakRSS                                      int64
}

// TestSoak is the soak; see the top of the file.
func TestSoak(t *testing.T) {
	s := loadSoakSettings(t)
	const token, bucket, webhookID = "soak-token-0123456789", "soak", "SOAK"
	ctx := context.Background()

	// The thumbnails serve will make, learnt in-process with its config.
	cfg, err := envconfig.Load(func(k string) string {
		if k == "THUMBPIPE_SIZES" {
			return soakSizes
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	good, bad := soakImages(t, cfg)

	// MinIO → hookProxy → serve; serve → storeProxy → MinIO.
	serve := newServeProc(t, buildThumbpipe(t), map[string]string{
		"THUMBPIPE_WEBHOOK_TOKEN": token,
		"THUMBPIPE_BUCKETS":       bucket,
		"THUMBPIPE_SIZES":         soakSizes,
	})
	hooks := newHookProxy(serve.base(), token, s.dupRate)
	hookAddr := listen(t, hooks)
	queue := t.TempDir()
	m := testserver.StartMinIO(t, testserver.MinIOOptions{Env: map[string]string{
		"MINIO_NOTIFY_WEBHOOK_ENABLE_" + webhookID:      "on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_" + webhookID:    "http://" + hookAddr + "/webhook",
		"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_" + webhookID:  token,
		"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_" + webhookID:   queue,
		"MINIO_NOTIFY_WEBHOOK_QUEUE_LIMIT_" + webhookID: "1000000",
	}})
	m.SetAWSEnv(t)
	store := newStoreProxy(m.Endpoint(), s.faultRate, s.seed)
	storeAddr := listen(t, store)

	setupEnv := map[string]string{
		"THUMBPIPE_BUCKET_URL":       s3Template(m.Endpoint()),
		"THUMBPIPE_BUCKETS":          bucket,
		"THUMBPIPE_MINIO_WEBHOOK_ID": webhookID,
		"AWS_ACCESS_KEY_ID":          "minioadmin",
		"AWS_SECRET_ACCESS_KEY":      "minioadmin",
		"THUMBPIPE_LOG_FORMAT":       "json",
	}
	// minio-setup itself waits for MinIO to register its webhook target.
	if _, stderr, err := runCmd(ctx, t, setupEnv, "minio-setup"); err != nil {
		t.Fatalf("minio-setup: %v\n%s", err, stderr)
	}

	// serve reaches MinIO through the faults.
	serve.env = append(serve.env, "THUMBPIPE_BUCKET_URL="+s3Template("http://"+storeAddr))
	serve.env = append(serve.env, m.Env()...)
	serve.start()

	// The uploads, their images picked by a seeded generator: 3 % refused.
	rng := rand.New(rand.NewPCG(s.seed, 0x1a9e))
	uploads := make([]soakUpload, s.n)
	for i := range uploads {
		img := &good[rng.IntN(len(good))]
		if rng.IntN(100) < 3 {
			img = &bad[rng.IntN(len(bad))]
		}
		uploads[i] = soakUpload{key: fmt.Sprintf("uploads/%02d/img %05d+%s", i%16, i, img.ext), img: img}
	}
	mutations := soakMutations(rng, s, uploads, good)

	start := time.Now()
	var done, uploaded atomic.Int64 // uploads done; when the last one ended (unix ns)
	var uploadErr atomic.Value
	next := make(chan soakOp)
	var wg, uploadsDone sync.WaitGroup
	uploadsDone.Add(s.n)
	for range s.concurrency {
		wg.Go(func() {
			for op := range next {
				key := uploads[op.i].key
				var err error
				for attempt := 0; attempt < 5; attempt++ {
					if op.img == nil {
						err = m.Client().RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
					} else {
						_, err = m.Client().PutObject(ctx, bucket, key, bytes.NewReader(op.img.data), int64(len(op.img.data)),
							minio.PutObjectOptions{ContentType: "application/octet-stream"})
					}
					if err == nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					what := "write"
					if op.img == nil {
						what = "delete"
					}
					uploadErr.CompareAndSwap(nil, fmt.Errorf("%s %s: %w", what, key, err))
				}
				if op.upload {
					uploadsDone.Done()
					if done.Add(1) == int64(s.n) {
						uploaded.Store(time.Now().UnixNano())
					}
				}
			}
		})
	}
	go func() {
		for i, u := range uploads {
			next <- soakOp{i: i, img: u.img, upload: true}
		}
		// Then overwrite and delete objects whose events may still be
		// queued or being handled.
		uploadsDone.Wait()
		for _, op := range mutations {
			next <- op
		}
		close(next)
	}()

	// Kill serve with SIGKILL at even steps of the events MinIO is to
	// deliver (one per upload and one per thumbnail), and start it again.
	events := 0
	for _, u := range uploads {
		events += 1 + len(u.img.variants)
	}
	kills := 0
	for k := 1; k <= s.kills; k++ {
		at := int64(events * k / (s.kills + 1))
		for hooks.delivered.Load() < at {
			if time.Since(start) > s.timeout {
				t.Fatalf("only %d of %d events delivered after %v", hooks.delivered.Load(), events, s.timeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
		serve.kill()
		kills++
		t.Logf("serve killed with SIGKILL after %d uploads, %d events handled", done.Load(), hooks.delivered.Load())
		time.Sleep(s.down)
		serve.start()
	}
	wg.Wait()
	uploadTime := time.Unix(0, uploaded.Load()).Sub(start)
	if err, _ := uploadErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	// One thumbnail write per size for every version of an object, and one
	// of its manifest (or failure record).
	writes := 0
	for _, u := range uploads {
		writes += len(u.img.variants) + 1
	}
	var overwrites, deletes int
	for _, op := range mutations {
		if op.img == nil {
			uploads[op.i].deleted = true
			deletes++
		} else {
			uploads[op.i].img = op.img
			overwrites++
			writes += len(op.img.variants) + 1
		}
	}
	t.Logf("after the uploads: %d objects overwritten, %d deleted", overwrites, deletes)

	// Drained: MinIO's queue is empty, every replay answered, and no
	// delivery for a moment.
	images := openSoakBucket(t, m.BucketURL(bucket))
	drained := func() bool {
		return queued(t, queue) == 0 && time.Since(time.Unix(0, hooks.last.Load())) > 2*time.Second
	}
	deadline := start.Add(s.timeout)
	for !drained() {
		if time.Now().After(deadline) {
			t.Errorf("MinIO's queue still holds %d events after %v", queued(t, queue), s.timeout)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	hooks.replays.Wait()
	drainTime := time.Since(start)

	res := soakCount(t, images, uploads)
	res.uploads, res.kills, res.uploadTime, res.drainTime = s.n, kills, uploadTime, drainTime
	res.overwrites, res.deletes = overwrites, deletes
	res.delivered, res.failedDeliveries, res.replayed = hooks.delivered.Load(), hooks.failed.Load(), hooks.replayed.Load()
	var by []string
	hooks.failedBy.Range(func(k, v any) bool {
		by = append(by, fmt.Sprintf("%d×%d", v.(*atomic.Int64).Load(), k))
		return true
	})
	slices.Sort(by)
	res.failedBy = strings.Join(by, ", ")
	res.storeRequests, res.storeFaults = store.requests.Load(), store.faults()
	res.extraWrites = int(store.thumbWrites.Load()) - writes
	res.peakRSS = serve.peakRSS()
	table := soakTable(s, res, store)
	t.Logf("soak summary:\n%s", table)
	if testing.Verbose() {
		fmt.Print(table)
	}

	if res.missing != 0 || res.partial != 0 || res.stale != 0 || res.orphans != 0 || res.recursion != 0 || res.extraKeys != 0 {
		t.Errorf("missing %d, partial %d, stale %d, orphans %d, thumbnails of thumbnails %d, unexpected keys %d: want 0 each",
			res.missing, res.partial, res.stale, res.orphans, res.recursion, res.extraKeys)
	}
	if s.overwrite > 0 && overwrites == 0 || s.deleteRate > 0 && deletes == 0 {
		t.Errorf("%d overwrites and %d deletes: the soak must make both", overwrites, deletes)
	}
	if s.faultRate > 0 && res.storeFaults == 0 {
		t.Error("no storage fault was injected")
	}
	if s.kills > 0 && serve.lives != s.kills+1 {
		t.Errorf("serve lived %d times, want %d", serve.lives, s.kills+1)
	}
	if want := int64(float64(s.n) * s.dupRate / 2); s.dupRate > 0 && res.replayed < want {
		t.Errorf("only %d events replayed, want about %.0f", res.replayed, float64(s.n)*s.dupRate)
	}
}

// queued counts the events in MinIO's queue_dir: one file each, in a
// directory per target.
func queued(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatalf("MinIO's queue: %v", err)
	}
	return n
}

// s3Template is serve's bucket URL template for an S3 endpoint.
func s3Template(endpoint string) string {
	return "s3://{bucket}?endpoint=" + endpoint + "&use_path_style=true&disable_https=true&region=" + testserver.MinIORegion
}

// openSoakBucket opens the soak's bucket on MinIO itself (not through the
// faults) for the final count.
func openSoakBucket(t *testing.T, u string) *blob.Bucket {
	t.Helper()
	cache := &buckets.Cache{}
	t.Cleanup(func() { cache.Close() })
	b, err := cache.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// soakCount compares the bucket with what the uploads should have made.
//
//   - manifests: every upload made has a manifest of its current version
//     (missing and stale count them too), a refused one may have a failure
//     record;
//   - expected: one thumbnail per size for every upload the pipeline can
//     thumbnail (refused uploads expect none);
//   - present/missing: expected keys that exist / do not;
//   - expected counts the objects at the end: an overwritten object expects
//     the thumbnails of its new image, a deleted one none;
//   - partial: present thumbnails that do not decode completely, have the
//     wrong dimensions, or lack the marker naming their source;
//   - stale: complete thumbnails whose marker ETag is not their source's
//     current ETag (made from an older version);
//   - other bytes: complete thumbnails whose bytes differ from what the
//     pipeline makes of the same image in-process (logged, not failed): a
//     retry that finds one size current remakes only the others, and the
//     decoder then picks a smaller DCT scale, so the pixels differ slightly;
//   - orphans: keys under thumbnails/ whose source (named by the marker, or
//     by the key) is gone;
//   - extra keys: other keys under thumbnails/ that no upload should have
//     made (a duplicate under another name, a thumbnail of a refused upload);
//   - recursion: keys under thumbnails/<box>/thumbnails/.
func soakCount(t *testing.T, b *blob.Bucket, uploads []soakUpload) soakResult {
	t.Helper()
	ctx := context.Background()
	var res soakResult
	type check struct {
		key, src, name string
		v              soakVariant
	}
	// THUMBPIPE_SOAK_KEEP names a directory that receives every partial or
	// differing thumbnail, for a closer look.
	keep := os.Getenv("THUMBPIPE_SOAK_KEEP")
	var checks []check
	var manifests []string // sources that must have a current manifest
	expected := map[string]bool{}
	for _, u := range uploads {
		if len(u.img.variants) == 0 {
			res.refused++
		}
		if u.deleted {
			continue
		}
		for _, v := range u.img.variants {
			checks = append(checks, check{v.key(u.key), u.key, u.img.name, v})
			expected[v.key(u.key)] = true
		}
		// Its manifest, or the failure record of a refused upload.
		if len(u.img.variants) > 0 {
			expected["thumbnails/"+pipeline.ManifestDir+u.key+".json"] = true
			manifests = append(manifests, u.key)
		} else {
			expected["thumbnails/"+pipeline.FailureDir+u.key+".json"] = true
		}
	}
	res.expected = len(checks)

	it := b.List(&blob.ListOptions{Prefix: "thumbnails/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if _, rest, ok := strings.Cut(strings.TrimPrefix(obj.Key, "thumbnails/"), "/"); ok && strings.HasPrefix(rest, "thumbnails/") {
			res.recursion++
			t.Errorf("a thumbnail of a thumbnail: %s", obj.Key)
		} else if !expected[obj.Key] {
			if src := thumbnailSource(ctx, b, obj.Key); src != "" {
				if ok, err := b.Exists(ctx, src); err == nil && !ok {
					res.orphans++
					t.Errorf("orphan %s: its source %s is gone", obj.Key, src)
					continue
				}
			}
			res.extraKeys++
			t.Errorf("unexpected key %s", obj.Key)
		}
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan check)
	for range 8 {
		wg.Go(func() {
			for c := range work {
				present, problem, stale, differs, data := checkThumbnail(ctx, b, c.key, c.src, c.v)
				if (problem != "" || stale != "" || differs != "") && keep != "" {
					os.WriteFile(filepath.Join(keep, strings.ReplaceAll(c.key, "/", "_")), data, 0o644)
				}
				mu.Lock()
				switch {
				case !present:
					res.missing++
					if res.missing <= 10 {
						t.Errorf("missing %s", c.key)
					}
				case problem != "":
					res.present++
					res.partial++
					if res.partial <= 10 {
						t.Errorf("partial %s: %s", c.key, problem)
					}
				case stale != "":
					res.present++
					res.stale++
					if res.stale <= 10 {
						t.Errorf("stale %s: %s", c.key, stale)
					}
				case differs != "":
					res.present++
					res.differs++
					t.Logf("%s (source %s, %s): %s", c.key, c.src, c.name, differs)
				default:
					res.present++
				}
				mu.Unlock()
			}
		})
	}
	for _, c := range checks {
		work <- c
	}
	close(work)
	wg.Wait()
	// Every source made has a manifest of its current version.
	for _, src := range manifests {
		mkey := "thumbnails/" + pipeline.ManifestDir + src + ".json"
		ma, err := b.Attributes(ctx, mkey)
		if err != nil {
			res.missing++
			t.Errorf("missing manifest %s: %v", mkey, err)
			continue
		}
		sa, err := b.Attributes(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		if e := ma.Metadata[pipeline.MetaETag]; e == "" || !strings.Contains(sa.ETag, e) {
			res.stale++
			t.Errorf("stale manifest %s: made from %q, the source is %s", mkey, e, sa.ETag)
		}
	}
	return res
}

// checkThumbnail reads one thumbnail and says what is wrong with it:
// problem makes it partial; stale says it is complete but made from
// another version of its source; differs says that it is complete and
// current but not byte for byte what the pipeline made of the same image
// in-process.
func checkThumbnail(ctx context.Context, b *blob.Bucket, key, src string, v soakVariant) (present bool, problem, stale, differs string, data []byte) {
	attrs, err := b.Attributes(ctx, key)
	if err != nil {
		return false, "", "", "", nil
	}
	data, err = b.ReadAll(ctx, key)
	if err != nil {
		return true, "read: " + err.Error(), "", "", nil
	}
	if int64(len(data)) != attrs.Size {
		return true, fmt.Sprintf("read %d bytes, attributes say %d", len(data), attrs.Size), "", "", data
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return true, "decode: " + err.Error(), "", "", data
	}
	if got, _ := url.PathUnescape(attrs.Metadata[pipeline.MetaSource]); got != src {
		return true, fmt.Sprintf("marker %s = %q, want %q", pipeline.MetaSource, attrs.Metadata[pipeline.MetaSource], src), "", "", data
	}
	srcAttrs, err := b.Attributes(ctx, src)
	if err != nil {
		return true, "source: " + err.Error(), "", "", data
	}
	e := attrs.Metadata[pipeline.MetaETag]
	if e == "" {
		return true, fmt.Sprintf("no %s in the marker", pipeline.MetaETag), "", "", data
	}
	if !strings.Contains(srcAttrs.ETag, e) {
		return true, "", fmt.Sprintf("marker %s = %q, source ETag %s", pipeline.MetaETag, e, srcAttrs.ETag), "", data
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != v.width || h != v.height {
		return true, fmt.Sprintf("%dx%d, want %dx%d", w, h, v.width, v.height), "", "", data
	}
	if int64(len(data)) != v.bytes {
		return true, "", "", fmt.Sprintf("%d bytes, the pipeline made %d in-process", len(data), v.bytes), data
	}
	return true, "", "", "", data
}

// thumbnailSource is the source key a thumbnail names in its marker, or
// "" if it has none.
func thumbnailSource(ctx context.Context, b *blob.Bucket, key string) string {
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return ""
	}
	src, _ := url.PathUnescape(a.Metadata[pipeline.MetaSource])
	return src
}

// soakTable formats the summary.
func soakTable(s soakSettings, r soakResult, store *storeProxy) string {
	var buf bytes.Buffer
	w := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, v any, note string) { fmt.Fprintf(w, "%s\t%v\t  %s\n", name, v, note) }
	events := r.delivered + r.replayed
	row("uploads", r.uploads, fmt.Sprintf("at concurrency %d, %d refused by design (corrupt/empty)", s.concurrency, r.refused))
	row("overwrites", r.overwrites, "live objects written again with another image")
	row("deletes", r.deletes, "live objects deleted")
	row("thumbnails expected", r.expected, "one per size per thumbnailable object left at the end")
	row("present", r.present, "")
	row("missing", r.missing, "must be 0")
	row("duplicated keys", r.extraKeys, "keys under thumbnails/ beyond the expected set; must be 0")
	row("extra writes", r.extraWrites, "thumbnail PUTs MinIO acknowledged beyond one per key and version: answers lost to faults, concurrent duplicates (fewer: objects deleted before their thumbnails were made)")
	row("partial", r.partial, "undecodable, wrong dimensions, or no marker; must be 0")
	row("stale", r.stale, "marker ETag is not the source's current ETag; must be 0")
	row("orphans", r.orphans, "thumbnails whose source is gone; must be 0")
	row("other bytes", r.differs, "complete and correct, other bytes: remade alone on a retry, from a smaller decode (not failed)")
	row("thumbnails of thumbnails", r.recursion, "must be 0")
	row("webhook events", events, fmt.Sprintf("%d MinIO deliveries answered 2xx + %d replays; %d deliveries failed (%s; 502 = serve dead) and were redelivered",
		r.delivered, r.replayed, r.failedDeliveries, r.failedBy))
	row("events/s", fmt.Sprintf("%.1f", float64(events)/r.drainTime.Seconds()), fmt.Sprintf("over %v, uploads took %v", r.drainTime.Round(time.Millisecond), r.uploadTime.Round(time.Millisecond)))
	row("serve SIGKILLs", r.kills, "")
	row("storage faults", r.storeFaults, fmt.Sprintf("of %d requests (%.1f%%): %d SlowDown, %d InternalError, %d dropped before, %d dropped after",
		r.storeRequests, 100*float64(r.storeFaults)/float64(max(1, r.storeRequests)), store.slowDown.Load(), store.internal.Load(),
		store.dropBefore.Load(), store.dropAfter.Load()))
	row("serve peak RSS", fmt.Sprintf("%.1f MiB", mib(r.peakRSS)), "VmHWM, highest over its lives")
	w.Flush()
	return buf.String()
}
