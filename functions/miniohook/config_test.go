package miniohook_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/thumbpipe/thumbpipe/functions/miniohook"
)

// TestConfigValidate: every problem is reported at once, each naming the
// field it is about; zero limits are the defaults and valid.
func TestConfigValidate(t *testing.T) {
	ok := miniohook.Config{Token: "t", BucketURL: "mem://{bucket}", Buckets: []string{"images"}}
	tests := []struct {
		name   string
		edit   func(*miniohook.Config)
		fields []string // of the problems, in order; nil = valid
	}{
		{"valid, defaults", func(c *miniohook.Config) {}, nil},
		{"no auth and no token", func(c *miniohook.Config) { c.Token = ""; c.InsecureNoAuth = true }, nil},
		{"no token", func(c *miniohook.Config) { c.Token = "" }, []string{"Token"}},
		{"token and no auth", func(c *miniohook.Config) { c.InsecureNoAuth = true }, []string{"InsecureNoAuth"}},
		{"token with a space", func(c *miniohook.Config) { c.Token = "Bearer x" }, []string{"Token"}},
		{"every problem", func(c *miniohook.Config) {
			*c = miniohook.Config{BucketURL: "mem://", Buckets: []string{"a&b"}, Workers: -1, MaxBodyBytes: -1, ProcessTimeout: -1}
		}, []string{"Token", "BucketURL", "Buckets", "Workers", "MaxBodyBytes", "ProcessTimeout"}},
		{"no buckets", func(c *miniohook.Config) { c.Buckets = nil }, []string{"Buckets"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			err := cfg.Validate()
			var fields []string
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					var fe *miniohook.FieldError
					if !errors.As(e, &fe) {
						t.Errorf("%v is not a *FieldError", e)
						continue
					}
					fields = append(fields, fe.Field)
				}
			} else if err != nil {
				t.Fatalf("Validate = %v, not a joined error", err)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("Validate = %v; fields %q, want %q", err, fields, tc.fields)
			}
		})
	}
}
