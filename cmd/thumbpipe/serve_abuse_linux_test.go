//go:build linux

package main

// Abuse of the webhook by slow and by very many clients, against `thumbpipe
// serve` running as its own process so that its memory can be measured.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

const abuseToken = "abuse-test-token"

// abuseServe starts serve on a file:// bucket "images" holding a.jpg.
func abuseServe(t *testing.T, env map[string]string) *serveProc {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "images", "a.jpg"), pixeltest.JPEG(pixeltest.Photo(320, 240, 1), 85))
	e := map[string]string{
		"THUMBPIPE_WEBHOOK_TOKEN": abuseToken,
		"THUMBPIPE_BUCKET_URL":    "file://" + filepath.ToSlash(dir) + "/{bucket}",
		"THUMBPIPE_BUCKETS":       "images",
		"THUMBPIPE_SIZES":         "64x64",
	}
	for k, v := range env {
		e[k] = v
	}
	p := newServeProc(t, buildThumbpipe(t), e)
	p.start()
	return p
}

// rawRequest is a webhook request as bytes on the wire, with the body
// separate so that a test can send it as slowly as it likes.
func rawRequest(token, body string) (head, payload string) {
	head = "POST /webhook HTTP/1.1\r\nHost: thumbpipe\r\nContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(body))
	if token != "" {
		head += "Authorization: Bearer " + token + "\r\n"
	}
	return head + "\r\n", body
}

// closedWithin waits until the server closes conn (or answers) and returns
// when that happened and the status line, if any.
func closedWithin(conn net.Conn, limit time.Duration) (time.Duration, string) {
	start := time.Now()
	conn.SetReadDeadline(start.Add(limit))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	io.Copy(io.Discard, conn) // until the server closes
	return time.Since(start), strings.TrimSpace(line)
}

// dribble writes s one byte every gap until it is written, the
// connection fails or stop is closed.
func dribble(conn net.Conn, s string, gap time.Duration, stop <-chan struct{}) {
	for i := 0; i < len(s); i++ {
		select {
		case <-stop:
			return
		case <-time.After(gap):
		}
		if _, err := conn.Write([]byte{s[i]}); err != nil {
			return
		}
	}
}

// TestServeSlowClients: a client that sends headers or a body slowly is cut
// off by the read-header and read timeouts, and slow clients do not keep
// others from being served.
func TestServeSlowClients(t *testing.T) {
	const headerTimeout, readTimeout = 500 * time.Millisecond, 1500 * time.Millisecond
	p := abuseServe(t, map[string]string{
		"THUMBPIPE_READ_HEADER_TIMEOUT": headerTimeout.String(),
		"THUMBPIPE_READ_TIMEOUT":        readTimeout.String(),
		"THUMBPIPE_WORKERS":             "1",
	})
	valid := webhookBody("s3:ObjectCreated:Put", "images", "a.jpg")
	const slack = 2 * time.Second // a loaded 2-core machine, the race detector

	tests := []struct {
		name string
		// send writes to a fresh connection; it stops writing when stop closes.
		send       func(conn net.Conn, stop <-chan struct{})
		min, max   time.Duration // when the server must cut the connection off (its clock starts at accept)
		wantStatus []string      // acceptable status lines; "" = closed without an answer
	}{
		{"connects and sends nothing", func(net.Conn, <-chan struct{}) {}, headerTimeout - 100*time.Millisecond, headerTimeout + slack, []string{""}},
		// net/http answers a request whose headers time out half-read with
		// 400 and closes; the client's next byte may then reset the
		// connection before the answer is read.
		{"dribbles the headers", func(c net.Conn, stop <-chan struct{}) {
			head, _ := rawRequest(abuseToken, valid)
			dribble(c, head, 50*time.Millisecond, stop)
		}, headerTimeout - 100*time.Millisecond, headerTimeout + slack, []string{"HTTP/1.1 400 Bad Request", ""}},
		{"endless headers", func(c net.Conn, stop <-chan struct{}) {
			c.Write([]byte("POST /webhook HTTP/1.1\r\nHost: thumbpipe\r\n"))
			dribble(c, strings.Repeat("X-Pad: y\r\n", 1000), 20*time.Millisecond, stop)
		}, headerTimeout - 100*time.Millisecond, headerTimeout + slack, []string{"HTTP/1.1 400 Bad Request", ""}},
		{"dribbles the body with the token", func(c net.Conn, stop <-chan struct{}) {
			head, body := rawRequest(abuseToken, valid)
			c.Write([]byte(head))
			dribble(c, body, 100*time.Millisecond, stop)
		}, readTimeout - 100*time.Millisecond, readTimeout + slack, []string{"HTTP/1.1 400 Bad Request"}},
		// Refused at once, holding no worker; but net/http reads the rest of
		// a small unread body before it sends the answer (to keep the
		// connection alive), so the read timeout ends this one too.
		{"dribbles the body without a token", func(c net.Conn, stop <-chan struct{}) {
			head, body := rawRequest("", valid)
			c.Write([]byte(head))
			dribble(c, body, 100*time.Millisecond, stop)
		}, 0, readTimeout + slack, []string{"HTTP/1.1 401 Unauthorized"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			stop := make(chan struct{})
			defer close(stop)
			go tc.send(conn, stop)
			took, status := closedWithin(conn, tc.max+time.Second)
			if took < tc.min || took > tc.max {
				t.Errorf("connection ended after %v, want between %v and %v", took.Round(time.Millisecond), tc.min, tc.max)
			}
			if !slices.Contains(tc.wantStatus, status) {
				t.Errorf("server answered %q, want %q", status, tc.wantStatus)
			}
			t.Logf("cut off after %v, answer %q", took.Round(time.Millisecond), status)
		})
	}
	// The worker that read the slow body is free again.
	if status, body := post(t, p.base()+"/webhook", abuseToken, valid); status != 200 {
		t.Errorf("after the slow body: %d %s, want 200", status, body)
	}

	t.Run("many slow clients while others are served", func(t *testing.T) {
		const slow = 300
		stop := make(chan struct{})
		var wg sync.WaitGroup
		ended := make(chan time.Duration, slow)
		for range slow {
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			head, _ := rawRequest(abuseToken, valid)
			wg.Go(func() { dribble(conn, head, 50*time.Millisecond, stop) })
			wg.Go(func() {
				defer conn.Close()
				took, _ := closedWithin(conn, headerTimeout+slack+time.Second)
				ended <- took
			})
		}
		// Served while every slow client is connected: headers that take
		// their time hold no worker.
		for range 3 {
			if status, body := post(t, p.base()+"/webhook", abuseToken, valid); status != 200 {
				t.Errorf("during the attack: %d %s, want 200", status, body)
			}
		}
		wg.Wait()
		close(stop)
		close(ended)
		var took []time.Duration
		for d := range ended {
			took = append(took, d)
		}
		slices.Sort(took)
		if last := took[len(took)-1]; last > headerTimeout+slack {
			t.Errorf("the last of %d slow clients was cut off after %v, want ≤ %v", slow, last, headerTimeout+slack)
		}
		t.Logf("%d slow-header clients cut off after %v (median) to %v (last)", slow,
			took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	})
	if got, err := metricValue(p.base(), `thumbpipe_events_total{outcome="bad_request"}`); err != nil || got != 1 {
		t.Errorf("bad_request = %v (%v), want 1: the slow body", got, err)
	}
}

// stormConns is how many clients connect at once in TestServeConnectionStorm.
const stormConns = 2000

// stormPeakRSS bounds serve's resident memory while stormConns connections
// are open and answered: the Go runtime, the thumbnailer and a few tens of
// KiB per connection (goroutine stack, bufio buffers, the request).
const stormPeakRSS = 160 << 20

// TestServeConnectionStorm: with its one worker busy, serve answers
// thousands of concurrent webhook requests with 503 and Retry-After at once,
// its memory stays bounded, and it goes on working afterwards.
func TestServeConnectionStorm(t *testing.T) {
	p := abuseServe(t, map[string]string{"THUMBPIPE_WORKERS": "1"})
	valid := webhookBody("s3:ObjectCreated:Put", "images", "a.jpg")
	baseRSS := p.status("VmRSS") << 10

	// The one worker is busy with a request whose body is half sent.
	held, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	head, body := rawRequest(abuseToken, valid)
	held.Write([]byte(head + body[:len(body)/2]))
	waitMetric(t, p.base(), "thumbpipe_webhook_requests_in_flight", 1)

	// Every client connects first, then all send at once.
	conns := make([]net.Conn, stormConns)
	for i := range conns {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
	}
	connectedRSS := p.status("VmRSS") << 10
	type answer struct {
		status, retryAfter string
		took               time.Duration
		err                error
	}
	answers := make([]answer, stormConns)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			t0 := time.Now()
			c.SetDeadline(t0.Add(60 * time.Second))
			if _, err := c.Write([]byte(head + body)); err != nil {
				answers[i].err = err
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers[i].err = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers[i] = answer{status: resp.Status, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(t0)}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	peak := p.peakRSS()

	var lat []time.Duration
	failed := 0
	for i, a := range answers {
		if a.err != nil || a.status != "503 Service Unavailable" || a.retryAfter == "" {
			if failed++; failed <= 5 {
				t.Errorf("client %d: %q Retry-After %q, %v; want 503 with Retry-After", i, a.status, a.retryAfter, a.err)
			}
			continue
		}
		lat = append(lat, a.took)
	}
	if failed > 0 {
		t.Fatalf("%d of %d clients were not answered 503", failed, stormConns)
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("%d concurrent requests, one worker busy: all 503 in %v (%.0f req/s); latency median %v, p99 %v, max %v",
		stormConns, elapsed.Round(time.Millisecond), float64(stormConns)/elapsed.Seconds(),
		lat[len(lat)/2].Round(time.Millisecond), p99.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	t.Logf("serve RSS: %.1f MiB idle, %.1f MiB with %d connections open, peak %.1f MiB (bound %d MiB)",
		mib(baseRSS), mib(connectedRSS), stormConns, mib(peak), stormPeakRSS>>20)
	if p99 > 5*time.Second {
		t.Errorf("p99 latency of a 503 is %v, want it answered at once (≤ 5s on 2 loaded cores)", p99)
	}
	if peak > stormPeakRSS {
		t.Errorf("serve's peak RSS %.1f MiB is over the bound of %d MiB", mib(peak), stormPeakRSS>>20)
	}
	if got, err := metricValue(p.base(), `thumbpipe_events_total{outcome="busy"}`); err != nil || got != stormConns {
		t.Errorf("busy = %v (%v), want %d", got, err, stormConns)
	}

	// The held request completes, and serve goes on.
	if _, err := held.Write([]byte(body[len(body)/2:])); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(held), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"processed"`) {
		t.Errorf("the held request: %s %s, want 200 processed", resp.Status, b)
	}
	if status, b := post(t, p.base()+"/webhook", abuseToken, valid); status != 200 || !strings.Contains(b, `"up_to_date"`) {
		t.Errorf("after the storm: %d %s, want 200 up_to_date", status, b)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// TestServeTimeoutSettings: the read timeouts are settings like any other,
// checked at start.
func TestServeTimeoutSettings(t *testing.T) {
	good := map[string]string{"THUMBPIPE_WEBHOOK_TOKEN": testToken, "THUMBPIPE_BUCKET_URL": "mem://{bucket}", "THUMBPIPE_BUCKETS": "images"}
	for _, tc := range []struct{ name, value string }{{"THUMBPIPE_READ_HEADER_TIMEOUT", "soon"}, {"THUMBPIPE_READ_TIMEOUT", "0"},
		{"THUMBPIPE_READ_TIMEOUT", "-1s"}} {
		envm := map[string]string{tc.name: tc.value}
		for k, v := range good {
			envm[k] = v
		}
		_, _, err := runCmd(t.Context(), t, envm, "serve")
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: err = %v, want one naming the variable", tc.name, tc.value, err)
		}
	}
	// Flags win over the variables, as for every other setting.
	_, _, err := runCmd(t.Context(), t, good, "serve", "--read-timeout", "soon")
	if err == nil || !strings.Contains(err.Error(), "THUMBPIPE_READ_TIMEOUT") {
		t.Errorf("--read-timeout soon: err = %v", err)
	}
}
