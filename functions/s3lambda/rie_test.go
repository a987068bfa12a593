package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestUnderRuntimeEmulator runs the real bootstrap under the Lambda runtime
// interface emulator against a real MinIO server reached through
// AWS_ENDPOINT_URL_S3, and measures init time and peak memory.
func TestUnderRuntimeEmulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	const bucket = "photos"
	m := testserver.StartMinIO(t, testserver.MinIOOptions{})
	m.CreateBucket(t, bucket)
	bootstrap := testserver.GoBuild(t, ".", "bootstrap", "GOFLAGS=-tags=lambda.norpc,grpcnotrace,nodynamic")
	env := append(m.Env(),
		// A host name, not an IP: S3 clients address such endpoints
		// virtual-host style (photos.localhost) unless told otherwise.
		"AWS_ENDPOINT_URL_S3=http://localhost:"+strconv.Itoa(m.Port()),
		"THUMBPIPE_SIZES=200x200,800x800",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", // the template's default
		"AWS_LAMBDA_FUNCTION_TIMEOUT=120",
	)
	rie := testserver.StartRIE(t, bootstrap, env)

	upload := func(key string, data []byte) {
		t.Helper()
		if _, err := m.Client().PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatalf("upload %s: %v", key, err)
		}
	}
	exists := func(key string) bool {
		t.Helper()
		_, err := m.Client().StatObject(ctx, bucket, key, minio.StatObjectOptions{})
		if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Fatalf("stat %s: %v", key, err)
		}
		return err == nil
	}
	// event is a captured payload from testdata/events, aimed at our bucket.
	event := func(name string) []byte {
		return bytes.ReplaceAll(fixture(t, name), []byte("photos-eu"), []byte(bucket))
	}
	// invoke returns the function's response, failing the test on a
	// function error.
	invoke := func(what string, payload []byte) (response, time.Duration) {
		t.Helper()
		start := time.Now()
		status, body, _, err := rie.Invoke(ctx, payload)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if fe, ok := testserver.ParseFunctionError(body); ok || status != http.StatusOK {
			t.Fatalf("%s: %d %s (%v)", what, status, body, fe)
		}
		var resp response
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("%s: response %s: %v", what, body, err)
		}
		return resp, took
	}
	written := func(what string, resp response, want int) {
		t.Helper()
		if len(resp.Records) != 1 || resp.Records[0].Written != want || resp.Records[0].Error != "" {
			t.Errorf("%s: response %+v, want one record with %d written", what, resp, want)
		}
	}

	// A key with a space and a '+' arrives escaped; thumbnails land under
	// the decoded key. The first invoke starts the function (cold).
	upload("uploads/my photo+1.jpg", photo)
	resp, cold := invoke("cold put", event("s3-put-plus.json"))
	written("cold put", resp, 2)
	for _, k := range []string{"thumbnails/200x200/uploads/my photo+1.jpg", "thumbnails/800x800/uploads/my photo+1.jpg"} {
		if !exists(k) {
			t.Errorf("thumbnail %q missing", k)
		}
	}
	// The same event again (a duplicate delivery), warm: nothing written.
	resp, warm := invoke("warm put", event("s3-put-plus.json"))
	written("warm put", resp, 0)

	// Delete: the source goes, then its event removes the thumbnails.
	upload("uploads/2026/beach.jpg", photo)
	resp, _ = invoke("put", event("s3-put.json"))
	written("put", resp, 2)
	if err := m.Client().RemoveObject(ctx, bucket, "uploads/2026/beach.jpg", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, _ = invoke("delete", event("s3-delete.json"))
	if len(resp.Records) != 1 || len(resp.Records[0].Removed) != 2 || exists("thumbnails/200x200/uploads/2026/beach.jpg") {
		t.Errorf("delete: response %+v; thumbnails should be gone", resp)
	}

	if resp, _ := invoke("test event", event("s3-test-event.json")); !resp.TestEvent {
		t.Errorf("test event: %+v", resp)
	}

	// A 24-megapixel JPEG, made outside the race detector.
	gen := testserver.GoBuild(t, "./testdata/bigjpeg", "bigjpeg")
	bigFile := filepath.Join(t.TempDir(), "big.jpg")
	if out, err := exec.Command(gen, "-w", "6000", "-h", "4000", "-o", bigFile).CombinedOutput(); err != nil {
		t.Fatalf("bigjpeg: %v\n%s", err, out)
	}
	big, err := os.ReadFile(bigFile)
	if err != nil {
		t.Fatal(err)
	}
	baseRSS := peakRSS(t, bootstrap)
	upload("uploads/big.jpg", big)
	resp, bigTook := invoke("24 MP put", payload("ObjectCreated:Put", bucket, "uploads/big.jpg"))
	written("24 MP put", resp, 2)
	bigRSS := peakRSS(t, bootstrap)
	// The README claims about 29 MB; 48 MB leaves room for the garbage
	// collector's timing and the machine (two thirds above the claim) and
	// still fails on a regression that decodes at full size (a 24 MP YCbCr
	// image alone is 36 MB) or holds a second copy of the source.
	const maxPeakRSS = 48 << 10 // KiB
	if bigRSS > maxPeakRSS {
		t.Errorf("peak RSS %d KiB for a 24 MP JPEG, more than the %d KiB allowed (the README claims about 29 MB)", bigRSS, maxPeakRSS)
	}

	// Storage down: the invocation fails, so Lambda would retry it...
	upload("uploads/late.jpg", photo)
	m.Stop()
	status, body, _, err := rie.Invoke(ctx, payload("ObjectCreated:Put", bucket, "uploads/late.jpg"))
	if fe, ok := testserver.ParseFunctionError(body); err != nil || !ok || fe.ErrorType != "TransientError" {
		t.Errorf("with MinIO stopped: %d %s, %v; want a TransientError function error", status, body, err)
	}
	// ...and the retry succeeds once it is back.
	m.Start()
	resp, _ = invoke("retry", payload("ObjectCreated:Put", bucket, "uploads/late.jpg"))
	written("retry", resp, 2)

	// An iPhone-like HEIC (HEVC tiles in a grid, a thumbnail item, irot):
	// decoded in WebAssembly inside the function, written as JPEG. Last,
	// so the 24 MP JPEG's peak RSS above is that of a function that has
	// not compiled the HEIC decoder.
	upload("uploads/phone.heic", pixeltest.File("grid.heic"))
	resp, heicTook := invoke("HEIC put", payload("ObjectCreated:Put", bucket, "uploads/phone.heic"))
	written("HEIC put", resp, 2)
	for _, k := range []string{"thumbnails/200x200/uploads/phone.heic.jpg", "thumbnails/800x800/uploads/phone.heic.jpg"} {
		if !exists(k) {
			t.Errorf("HEIC thumbnail %q missing", k)
		}
	}
	t.Logf("first HEIC (the decoder compiled, then a 640x480 grid in two sizes): %v; bootstrap peak RSS (VmHWM) %d KiB",
		heicTook.Round(time.Millisecond), peakRSS(t, bootstrap))

	// The function's own log lines are JSON with the request ID.
	logs, err := os.ReadFile(rie.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	var jsonLines int
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["requestId"] != nil && l["message"] != nil && l["level"] != nil {
			jsonLines++
		}
	}
	if jsonLines == 0 {
		t.Errorf("no JSON log line with a requestId in the emulator's output")
	}

	t.Logf("first invoke (init + cold put) %v, warm duplicate %v; emulator: %s", cold.Round(time.Millisecond),
		warm.Round(time.Millisecond), initDuration(logs))
	t.Logf("24 MP JPEG (%d bytes): %v; bootstrap peak RSS (VmHWM) %d KiB before, %d KiB after", len(big),
		bigTook.Round(time.Millisecond), baseRSS, bigRSS)
}

// initDuration returns the emulator's report of the function's init: the
// time from starting bootstrap to its first request for an event.
func initDuration(logs []byte) string {
	if m := regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)`).FindSubmatch(logs); m != nil {
		return "INIT REPORT " + string(m[1]) + " ms"
	}
	if m := regexp.MustCompile(`Init Duration: ([0-9.]+) ms`).FindSubmatch(logs); m != nil {
		return "Init Duration " + string(m[1]) + " ms"
	}
	return "no init report"
}

// peakRSS returns the peak resident set (VmHWM, KiB) of the running process
// whose executable is exe, from /proc (Linux); it fails the test when there
// is no such process.
func peakRSS(t *testing.T, exe string) int64 {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("peak RSS: %v", err)
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || target != exe {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil {
					return kb
				}
			}
		}
	}
	t.Fatalf("peak RSS: no running process of %s", exe)
	return 0
}

// TestBootstrapSize builds bootstrap as `make build-lambda` does, but for
// the host's architecture so that it reuses the packages the emulator test
// compiled (a cold linux/arm64 build of the AWS SDK takes minutes on a small
// machine; `make build-lambda` prints the arm64 size), and reports its size.
func TestBootstrapSize(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc,grpcnotrace,nodynamic", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bootstrap (%s/%s, -tags lambda.norpc,grpcnotrace,nodynamic, -s -w): %d bytes (%.1f MiB)", runtime.GOOS, runtime.GOARCH,
		fi.Size(), float64(fi.Size())/(1<<20))
	// Far below Lambda's 50 MB zipped / 250 MB unzipped limits. It was
	// 14 MiB with grpcnotrace (22 MiB without); the WebAssembly codecs
	// (libde265, dav1d, and libwebp and libavif with aom for encoding)
	// and wazero took it to 20 MiB, their modules embedded as data that
	// is read only when their format is first seen. A jump means a heavy
	// dependency crept in, and every start-up page of it is memory.
	if fi.Size() > 22<<20 {
		t.Errorf("bootstrap is %d bytes, more than 22 MiB", fi.Size())
	}
}
