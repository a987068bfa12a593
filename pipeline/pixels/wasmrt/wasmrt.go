// Package wasmrt runs the codecs this module builds for WebAssembly
// (dav1d, libde265): each is compiled by wazero on its first use, not at
// start, and each decode runs in an instance of its own whose memory is
// an anonymous mapping reserved at the caller's limit. Growing it never
// copies, closing the instance unmaps it at once (what a decode costs is
// given back when it returns, not when the garbage collector next runs),
// and it may never grow past the limit, which makes the limit a hard one.
package wasmrt

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Module is a codec's gzipped WebAssembly reactor module (one that
// exports _initialize, malloc, free and the codec's entry point),
// compiled once, on first use.
type Module struct {
	name  string
	gz    []byte
	entry string
	errs  Errors

	once     sync.Once
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	err      error
}

// New returns the module of the gzipped bytes gz, whose entry point
// [Module.Decode] calls and whose results it reports with errs; name says
// which codec it is in errors.
func New(name string, gz []byte, entry string, errs Errors) *Module {
	return &Module{name: name, gz: gz, entry: entry, errs: errs}
}

// Compile compiles the module now, rather than on the first decode; it
// does so once a process and returns the same error every time.
func (m *Module) Compile() error {
	m.once.Do(func() {
		ctx := context.Background()
		zr, err := gzip.NewReader(bytes.NewReader(m.gz))
		if err != nil {
			m.err = fmt.Errorf("%s: embedded module: %w", m.name, err)
			return
		}
		wasm, err := io.ReadAll(zr)
		if err != nil {
			m.err = fmt.Errorf("%s: embedded module: %w", m.name, err)
			return
		}
		// Not WithCloseOnContextDone: it makes the compiled code check
		// for a done context in every loop iteration, which costs a
		// codec six times its time (an 18 MP AV1 picture: 8.5 s of CPU
		// rather than 1.4). A decode is bounded by its pixel limit
		// instead, and the context is checked before it starts.
		cfg := wazero.NewRuntimeConfig()
		if c := diskCache(); c != nil {
			cfg = cfg.WithCompilationCache(c)
		}
		m.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.rt); err != nil {
			m.err = fmt.Errorf("%s: %w", m.name, err)
			return
		}
		if m.compiled, err = m.rt.CompileModule(ctx, wasm); err != nil {
			m.err = fmt.Errorf("%s: compiling the module: %w", m.name, err)
		}
	})
	return m.err
}

// diskCache returns the compilation cache the modules share: machine
// code kept in the user's cache directory (CacheDir), where the next
// process finds it instead of compiling again (150 to 250 ms for
// libde265, 400 for dav1d, against 25 to 50 to read it back); nil where there is no
// such directory or it cannot be made (a Lambda function has no HOME),
// and every process compiles.
var diskCache = sync.OnceValue(func() wazero.CompilationCache {
	dir, err := CacheDir()
	if err != nil {
		return nil
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil
	}
	return c
})

// CacheDir is where compiled modules are kept between processes: "wasm"
// in thumbpipe's directory of the user's cache directory
// (os.UserCacheDir: $XDG_CACHE_HOME, else $HOME/.cache on Linux). wazero
// keeps each of its versions' code apart there and writes each file
// whole before renaming it into place, so processes may share it.
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "thumbpipe", "wasm"), nil
}

// Decode starts an instance of the module whose memory may not grow past
// maxMemory bytes (0: the module's own maximum), copies inputs into it,
// and calls its entry point with each input's address and length in
// turn, then args, then maxPixels, then the address of the frame record
// it fills (frame.h). It calls fn with the picture, whose planes are read
// in place and valid while fn runs, and returns fn's error as it is; the
// instance's memory is unmapped when Decode returns. A context already
// done returns its error; one done later does not stop a decode under
// way. Decode is safe for concurrent use.
func (m *Module) Decode(ctx context.Context, inputs [][]byte, args []uint64, maxPixels int, maxMemory int64, fn func(*Frame) error) error {
	in, err := m.instantiate(ctx, maxMemory)
	if err != nil {
		return err
	}
	defer in.Close(ctx)
	var call []uint64
	size := 0
	for _, b := range inputs {
		addr, ok := in.alloc(ctx, len(b))
		if !ok || !in.Memory().Write(addr, b) {
			return fmt.Errorf("%w: %d bytes of input", m.errs.Memory, len(b))
		}
		call = append(call, uint64(addr), uint64(len(b)))
		size += len(b)
	}
	rec, ok := in.alloc(ctx, frameRecord)
	if !ok {
		return fmt.Errorf("%w: the frame record", m.errs.Memory)
	}
	call = append(append(call, args...), uint64(uint32(maxPixels)), uint64(rec))
	res, err := in.ExportedFunction(m.entry).Call(ctx, call...)
	if err := m.errs.result(res, err, size, maxPixels, maxMemory); err != nil {
		return err
	}
	f, err := in.readFrame(rec)
	if err != nil {
		return err
	}
	return fn(f)
}

// instance is one instance of a module, with its own memory.
type instance struct {
	api.Module
	malloc api.Function
}

// instantiate compiles the module if it has not been, and starts an
// instance whose memory may not grow past maxMemory bytes. Closing it
// unmaps its memory.
func (m *Module) instantiate(ctx context.Context, maxMemory int64) (*instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.Compile(); err != nil {
		return nil, err
	}
	ctx = experimental.WithMemoryAllocator(ctx, newAllocator(maxMemory))
	mod, err := m.rt.InstantiateModule(ctx, m.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize"))
	if err != nil {
		return nil, fmt.Errorf("%s: starting the module: %w", m.name, err)
	}
	return &instance{Module: mod, malloc: mod.ExportedFunction("malloc")}, nil
}

// alloc allocates n bytes in the instance's memory; ok is false when it
// cannot.
func (in *instance) alloc(ctx context.Context, n int) (addr uint32, ok bool) {
	res, err := in.malloc.Call(ctx, uint64(n))
	if err != nil || res[0] == 0 {
		return 0, false
	}
	return uint32(res[0]), true
}
