package hevc

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// TestModule checks what the embedded module (wasm/build.sh's output)
// asks of the host and offers it: only WASI functions that wazero's
// wasi_snapshot_preview1 provides, and the entry points this package
// calls.
func TestModule(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(moduleGz))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header names %q at %v: build.sh writes neither", zr.Name, zr.ModTime)
	}
	wasm, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	m, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != "wasi_snapshot_preview1" || !slices.Contains([]string{"fd_close", "fd_fdstat_get", "fd_seek", "fd_write"}, name) {
			t.Errorf("imports %s.%s", mod, name)
		}
	}
	for _, name := range []string{"hevc_decode", "malloc", "free", "_initialize"} {
		if m.ExportedFunctions()[name] == nil {
			t.Errorf("does not export %s", name)
		}
	}
	t.Logf("%d bytes, %d gzipped", len(wasm), len(moduleGz))
}

// BenchmarkCompile compiles the embedded module afresh each time: what
// the first decode in a process costs.
func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		if err := wasmrt.New("hevc", moduleGz, "hevc_decode", wasmrt.Errors{}).Compile(); err != nil {
			b.Fatal(err)
		}
	}
}
