//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// BenchmarkStacks measures the local stacks end to end, as a user sees
// them: a real MinIO notifying thumbpipe, which writes thumbnails back. For
// each stack it reports the time from the end of an upload until all of
// its thumbnails exist (p50, p95 over uploads made one at a time, a random
// pause apart) and the images per
// second a burst of uploads gets thumbnailed at (640×480 JPEGs, as a web
// upload often is: per image the handler's work is small next to how the
// events reach it). Figures, not assertions:
//
//	make bench-stacks
//
// The stacks: the webhook (MinIO's webhook target with a queue dir, one
// serve), and NATS JetStream (MinIO's NATS target with a queue dir) with
// one and with two worker processes, each handling one message at a time;
// and two workers without MinIO's queue dir, which shows what the queue
// dir's replay costs in latency.
func BenchmarkStacks(b *testing.B) {
	const (
		spaced    = 20
		maxPause  = 3 * time.Second
		burst     = 200
		uploaders = 8
		sizes     = "200x200,800x800" // the compose file's
	)
	img := pixeltest.JPEG(pixeltest.Photo(640, 480, 1), 85)
	type figures struct {
		name          string
		p50, p95      time.Duration
		imagesPerSec  float64
		burstDuration time.Duration
	}
	var table []figures
	for _, sc := range []struct {
		name     string
		webhook  bool
		workers  int
		queueDir bool
	}{
		{"webhook", true, 0, true},
		{"nats-1-worker", false, 1, true},
		{"nats-2-workers", false, 2, true},
		{"nats-2-workers-no-queue-dir", false, 2, false},
	} {
		b.Run(sc.name, func(b *testing.B) {
			o := stackOptions{QueueDir: sc.queueDir, Webhook: sc.webhook}
			if sc.webhook {
				o.WebhookAddr = fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(b))
			}
			s := startQueueStack(b, o, map[string]string{"THUMBPIPE_SIZES": sizes, "THUMBPIPE_CONCURRENCY": "1"})
			if sc.webhook {
				s.startServe(o.WebhookAddr)
			}
			for range sc.workers {
				s.addWorker()
			}
			ctx := context.Background()
			client := s.minio.Client()
			exists := func(key string) bool {
				_, err := client.StatObject(ctx, queueBucket, key, minio.StatObjectOptions{})
				return err == nil
			}
			done := func(key string) bool {
				for _, sz := range s.sizes {
					if !exists("thumbnails/" + sz.Box() + "/" + key) {
						return false
					}
				}
				return true
			}

			// Latency: one upload at a time, each watched until its
			// thumbnails are there, on a stack with nothing else to do.
			var lat []time.Duration
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range spaced {
				key := fmt.Sprintf("spaced/%02d.jpg", i)
				s.put(key, img)
				end := time.Now()
				for !done(key) {
					if time.Since(end) > 2*time.Minute {
						b.Fatalf("%s: no thumbnails after 2 minutes", key)
					}
					time.Sleep(5 * time.Millisecond)
				}
				lat = append(lat, time.Since(end))
				// MinIO replays a queue dir every 3 s: a pause of a random
				// length samples every phase of that cycle.
				time.Sleep(time.Duration(rng.Int64N(int64(maxPause))))
			}
			slices.Sort(lat)
			f := figures{name: sc.name, p50: lat[len(lat)/2], p95: lat[(len(lat)*95+99)/100-1]}
			time.Sleep(3 * time.Second) // the thumbnails' own events

			// Throughput: a burst of uploads, until every thumbnail exists.
			start := time.Now()
			var wg sync.WaitGroup
			next := make(chan int)
			for range uploaders {
				wg.Go(func() {
					for i := range next {
						s.put(fmt.Sprintf("burst/%03d.jpg", i), img)
					}
				})
			}
			for i := range burst {
				next <- i
			}
			close(next)
			wg.Wait()
			want := burst * len(s.sizes)
			deadline := time.Now().Add(10 * time.Minute)
			for {
				n := 0
				for o := range client.ListObjects(ctx, queueBucket, minio.ListObjectsOptions{Prefix: "thumbnails/", Recursive: true}) {
					if strings.Contains(o.Key, "/burst/") {
						n++
					}
				}
				if n >= want {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d burst thumbnails after 10 minutes", n, want)
				}
				time.Sleep(100 * time.Millisecond)
			}
			f.burstDuration = time.Since(start)
			f.imagesPerSec = float64(burst) / f.burstDuration.Seconds()
			b.ReportMetric(float64(f.p50.Milliseconds()), "p50-ms")
			b.ReportMetric(float64(f.p95.Milliseconds()), "p95-ms")
			b.ReportMetric(f.imagesPerSec, "images/s")
			table = append(table, f)
		})
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "\n| stack | upload → thumbnails p50 | p95 | burst of %d | images/s |\n|---|---|---|---|---|\n", burst)
	for _, f := range table {
		fmt.Fprintf(&out, "| %s | %.2f s | %.2f s | %.1f s | %.1f |\n", f.name, f.p50.Seconds(), f.p95.Seconds(), f.burstDuration.Seconds(), f.imagesPerSec)
	}
	b.Log(out.String())
}
