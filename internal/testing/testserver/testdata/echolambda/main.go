// Command echolambda is a tiny Lambda function for testing the runtime
// interface emulator harness: it returns its payload unchanged, except that
// the payload "fail" (a JSON string) makes it return an error, and "panic"
// makes it panic.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// errMagic is returned for the payload "fail".
var errMagic = errors.New("echolambda: asked to fail")

func handle(_ context.Context, payload json.RawMessage) (json.RawMessage, error) {
	var s string
	if json.Unmarshal(payload, &s) == nil {
		switch s {
		case "fail":
			return nil, errMagic
		case "panic":
			panic("echolambda: asked to panic")
		case "env":
			// Reports an environment variable the harness passed through.
			v, _ := json.Marshal(os.Getenv("ECHOLAMBDA_VALUE"))
			return v, nil
		}
	}
	return payload, nil
}

func main() { lambda.Start(handle) }
