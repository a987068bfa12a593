package testserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	// testdata/echolambda imports this; naming it here keeps it in go.mod
	// (go mod tidy does not look inside testdata).
	_ "github.com/aws/aws-lambda-go/lambda"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
)

func TestRIEInvoke(t *testing.T) {
	bootstrap := testserver.GoBuild(t, "./testdata/echolambda", "bootstrap")
	r := testserver.StartRIE(t, bootstrap, []string{"ECHOLAMBDA_VALUE=from-harness"})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	invoke := func(payload string) (int, string) {
		t.Helper()
		status, body, _, err := r.Invoke(ctx, []byte(payload))
		if err != nil {
			t.Fatalf("invoke %s: %v", payload, err)
		}
		return status, string(body)
	}

	if status, body := invoke(`{"Records":[{"s3":{"object":{"key":"a.jpg"}}}]}`); status != http.StatusOK || body != `{"Records":[{"s3":{"object":{"key":"a.jpg"}}}]}` {
		t.Errorf("echo = %d %s", status, body)
	}
	if _, ok := testserver.ParseFunctionError([]byte(`{"Records":[]}`)); ok {
		t.Error("ParseFunctionError accepted a normal result")
	}

	// The environment given to StartRIE reaches the function.
	if status, body := invoke(`"env"`); status != http.StatusOK || body != `"from-harness"` {
		t.Errorf("env = %d %s", status, body)
	}

	// A handler error: 200 with an error document.
	status, body := invoke(`"fail"`)
	fe, ok := testserver.ParseFunctionError([]byte(body))
	if status != http.StatusOK || !ok || fe.ErrorMessage != "echolambda: asked to fail" || fe.ErrorType != "errorString" {
		t.Errorf("handler error = %d %s (parsed %+v, %v)", status, body, fe, ok)
	}

	// A crash: 502 with an error document; the next invoke works again.
	status, body = invoke(`"panic"`)
	fe, ok = testserver.ParseFunctionError([]byte(body))
	if status != http.StatusBadGateway || !ok || fe.ErrorMessage != "echolambda: asked to panic" || len(fe.StackTrace) == 0 {
		t.Errorf("panic = %d %s", status, body)
	}
	if status, body := invoke(`[1,2]`); status != http.StatusOK || body != `[1,2]` {
		t.Errorf("echo after panic = %d %s", status, body)
	}

	// Stop and restart.
	r.Stop()
	if _, _, _, err := r.Invoke(ctx, []byte(`1`)); err == nil {
		t.Error("invoke succeeded while the emulator was stopped")
	}
	r.Start()
	if status, body := invoke(`"again"`); status != http.StatusOK || body != `"again"` {
		t.Errorf("echo after restart = %d %s", status, body)
	}
}
