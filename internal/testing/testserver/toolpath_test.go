package testserver_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
)

// recordingTB records how ToolPath ended the test instead of ending it.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = format
	if len(args) > 0 {
		r.fatal, _ = args[0].(string)
	}
	runtime.Goexit()
}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skip = format
	if len(args) > 0 {
		r.skip, _ = args[0].(string)
	}
	runtime.Goexit()
}

func toolPath(t *testing.T, name string) (path string, rec *recordingTB) {
	rec = &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = testserver.ToolPath(rec, name)
	}()
	<-done
	return path, rec
}

func TestToolPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(testserver.ToolsDirEnv, dir)
	t.Setenv("PATH", t.TempDir())

	bin := filepath.Join(dir, "some-tool")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, _ := toolPath(t, "some-tool"); got != bin {
		t.Errorf("ToolPath = %q, want %q", got, bin)
	}

	t.Setenv("CI", "")
	if _, rec := toolPath(t, "missing-tool"); rec.skip == "" || rec.fatal != "" || !strings.Contains(rec.skip, "make test-tools") {
		t.Errorf("without CI: skip %q fatal %q; want a skip mentioning make test-tools", rec.skip, rec.fatal)
	}
	t.Setenv("CI", "true")
	if _, rec := toolPath(t, "missing-tool"); rec.fatal == "" || rec.skip != "" {
		t.Errorf("with CI: skip %q fatal %q; want fatal", rec.skip, rec.fatal)
	}
}
