package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// RIEInvokePath is the emulator's invoke path (the Lambda Invoke API path for
// the single function it hosts).
const RIEInvokePath = "/2015-03-31/functions/function/invocations"

// RIE is an aws-lambda-rie process hosting one function, a bootstrap
// executable that speaks the Lambda Runtime API (e.g. built from a main
// package calling lambda.Start of github.com/aws/aws-lambda-go).
type RIE struct {
	t       testing.TB
	proc    *Process
	port    int
	apiPort int
	client  *http.Client
	mu      sync.Mutex // one invocation at a time, like one Lambda instance
}

// StartRIE starts the Lambda runtime interface emulator on a free loopback
// port running bootstrap (an executable path) and waits until it listens.
// env ("KEY=value") is added to the emulator's environment, which it passes
// on to the function along with the rest of the test process's environment
// (e.g. AWS_LAMBDA_FUNCTION_TIMEOUT, default 300 s; AWS_LAMBDA_FUNCTION_NAME).
// The function process is started lazily by the first Invoke, with the
// bootstrap's directory as working directory. The emulator (and function) is
// stopped by t.Cleanup; the output tail, including the function's own
// stdout/stderr, is logged if the test fails.
func StartRIE(t testing.TB, bootstrap string, env []string) *RIE {
	t.Helper()
	bin := ToolPath(t, "aws-lambda-rie")
	abs, err := filepath.Abs(bootstrap)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	r := &RIE{t: t, port: FreePort(t), apiPort: FreePort(t), client: &http.Client{}}
	args := []string{
		// The HTTP address tests invoke on.
		"--runtime-interface-emulator-address", r.Addr(),
		// The Runtime API address the function polls (AWS_LAMBDA_RUNTIME_API);
		// its default, 127.0.0.1:9001, would collide between parallel tests.
		"--runtime-api-address", "127.0.0.1:" + strconv.Itoa(r.apiPort),
		"--log-level", "info",
		abs,
	}
	r.proc = NewProcess(t, ProcessOptions{Name: "aws-lambda-rie", Bin: bin, Args: args,
		Env: append([]string(nil), env...), Dir: filepath.Dir(abs),
		// Any HTTP answer (404 for "/") means the emulator listens; GETting
		// the invoke URL would invoke the function.
		ReadyURL: r.Endpoint() + "/"})
	r.Start()
	return r
}

// Start (re)starts the emulator on the same ports and waits until it
// listens. Call it from the test goroutine: it fails the test on error.
func (r *RIE) Start() {
	r.t.Helper()
	r.proc.Start()
}

// Stop terminates the emulator and the function process and waits for them.
func (r *RIE) Stop() { r.proc.Stop() }

// Running reports whether the emulator process is up.
func (r *RIE) Running() bool { return r.proc.Running() }

// Addr is the emulator's host:port, 127.0.0.1:PORT.
func (r *RIE) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Endpoint is the emulator's base URL, http://127.0.0.1:PORT.
func (r *RIE) Endpoint() string { return "http://" + r.Addr() }

// InvokeURL is the URL that invokes the function:
// http://127.0.0.1:PORT/2015-03-31/functions/function/invocations.
func (r *RIE) InvokeURL() string { return r.Endpoint() + RIEInvokePath }

// LogPath is the file the emulator's and the function's output is appended
// to.
func (r *RIE) LogPath() string { return r.proc.LogPath() }

// Invoke POSTs payload (the event JSON) to the function and returns the
// emulator's HTTP status, body and headers; err is set only when no HTTP
// response was had (transport error, ctx done). Invocations are serialised,
// as the emulator hosts a single instance.
//
// How the emulator reports outcomes (it does NOT set X-Amz-Function-Error,
// unlike the real Lambda Invoke API):
//   - success: 200, body = the handler's JSON result.
//   - the handler returned an error: still 200, body =
//     {"errorMessage":"...","errorType":"..."} (errorType is the Go error's
//     dynamic type name, e.g. "errorString"); see ParseFunctionError.
//   - the function crashed (panic, exit): 502, body = the same error JSON
//     (for a Go panic with "stackTrace"); the next Invoke starts a new
//     function process.
//   - timeout (AWS_LAMBDA_FUNCTION_TIMEOUT): 200 with the text
//     "Task timed out after N.00 seconds".
func (r *RIE) Invoke(ctx context.Context, payload []byte) (status int, body []byte, headers http.Header, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.InvokeURL(), bytes.NewReader(payload))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("invoke lambda: %w", err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, body, resp.Header, fmt.Errorf("invoke lambda: read response: %w", err)
	}
	return resp.StatusCode, body, resp.Header, nil
}

// FunctionError is the error document a Lambda runtime reports for a failed
// invocation.
type FunctionError struct {
	ErrorMessage string            `json:"errorMessage"`
	ErrorType    string            `json:"errorType"`
	StackTrace   []json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string { return e.ErrorType + ": " + e.ErrorMessage }

// ParseFunctionError reports whether an Invoke response body is a function
// error document, i.e. a JSON object with a non-empty errorType or
// errorMessage and no other fields than those and stackTrace. (The emulator
// answers 200 for handler errors, so the body is the only signal; a handler
// that returns such an object itself is indistinguishable.)
func ParseFunctionError(body []byte) (*FunctionError, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return nil, false
	}
	for k := range fields {
		if k != "errorMessage" && k != "errorType" && k != "stackTrace" {
			return nil, false
		}
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) != nil || (fe.ErrorType == "" && fe.ErrorMessage == "") {
		return nil, false
	}
	return &fe, true
}
