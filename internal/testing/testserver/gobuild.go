package testserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GoBuild builds the Go main package pkg (an import path, or a path relative
// to the test's package directory such as "./testdata/echolambda") into a
// new temp dir and returns the binary's path. The binary is named after the
// last element of output ("bootstrap" for a Lambda custom runtime), or after
// the package when output is "". env ("KEY=value") is added to the build
// environment; CGO_ENABLED=0 is the default.
func GoBuild(t testing.TB, pkg, output string, env ...string) string {
	t.Helper()
	if output == "" {
		output = filepath.Base(strings.TrimRight(pkg, "/"))
	}
	out := filepath.Join(t.TempDir(), filepath.Base(output))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testserver: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}
