// Package av1 decodes the AV1 images of AVIF files with dav1d, compiled
// to WebAssembly (see wasm/build.sh) and run by wazero: in the process,
// without cgo, and without a copy of the picture. Each decode runs in an
// instance of its own whose memory is mapped for it and unmapped when the
// decode returns, so what a decode costs is given back at once, not when
// the garbage collector next runs; and the memory may never grow past
// the caller's limit, which makes the limit a hard one.
//
// The module is compiled on the first decode, not at start: a process
// that never sees an AVIF never pays for it.
package av1

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

//go:embed wasm/dav1d.wasm.gz
var moduleGz []byte

// Errors a decode returns, wrapped with what was wrong.
var (
	// ErrCorrupt is an AV1 bitstream dav1d refuses, or one that holds
	// no picture.
	ErrCorrupt = errors.New("corrupt AV1 data")
	// ErrTooLarge is a picture larger than the caller's pixel limit,
	// refused by the decoder from its frame header.
	ErrTooLarge = errors.New("AV1 picture larger than allowed")
	// ErrMemory is a decode that needed more memory than the caller's
	// limit.
	ErrMemory = errors.New("AV1 decode needs more memory than allowed")
)

// Layout is a picture's chroma subsampling.
type Layout int

// The layouts of dav1d's Dav1dPixelLayout.
const (
	I400 Layout = iota // monochrome: no chroma planes
	I420               // chroma halved both ways
	I422               // chroma halved horizontally
	I444               // chroma at full size
)

// Frame is a decoded picture, its planes read in place from the decoder's
// memory: they are valid only while the callback given to [Decode] runs.
type Frame struct {
	Width, Height int
	// BitDepth is 8, 10 or 12; above 8, each sample is two bytes, little
	// endian.
	BitDepth int
	Layout   Layout
	// Y, Cb and Cr are the planes (Cb and Cr nil for I400), with rows
	// of YStride and CStride bytes.
	Y, Cb, Cr        []byte
	YStride, CStride int
	// The sequence header's colour description: ITU-T H.273 code
	// points, and whether samples use the full range.
	Primaries, Transfer, Matrix int
	FullRange                   bool
}

// ChromaShift returns how many bits the chroma planes' width and height
// are shifted right from the luma plane's.
func (f *Frame) ChromaShift() (x, y int) {
	switch f.Layout {
	case I420:
		return 1, 1
	case I422:
		return 1, 0
	}
	return 0, 0
}

// The results av1_decode returns besides 0 (decode.c's enum).
const (
	errInvalid   = -1
	errMemory    = -2
	errNoPicture = -3
	errLimit     = -4
	errOpen      = -5
)

// frameSize is the size of decode.c's frame record, 13 32-bit words.
const frameSize = 13 * 4

var (
	compileOnce sync.Once
	runtime     wazero.Runtime
	compiled    wazero.CompiledModule
	compileErr  error
)

// Compile compiles the decoder now, rather than on the first decode (the
// compiler's own memory, some 25 MB for a moment, is then not counted
// against that decode); it does so once a process.
func Compile() error { return compile() }

// compile compiles the module once a process.
func compile() error {
	compileOnce.Do(func() {
		ctx := context.Background()
		zr, err := gzip.NewReader(bytes.NewReader(moduleGz))
		if err != nil {
			compileErr = fmt.Errorf("av1: embedded module: %w", err)
			return
		}
		wasm, err := io.ReadAll(zr)
		if err != nil {
			compileErr = fmt.Errorf("av1: embedded module: %w", err)
			return
		}
		runtime = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, runtime); err != nil {
			compileErr = fmt.Errorf("av1: %w", err)
			return
		}
		compiled, compileErr = runtime.CompileModule(ctx, wasm)
		if compileErr != nil {
			compileErr = fmt.Errorf("av1: compiling the decoder: %w", compileErr)
		}
	})
	return compileErr
}

// Decode decodes data, the coded OBUs of one AV1 image (an AVIF item's
// data), and calls fn with the picture. A picture of more than maxPixels
// is refused from its frame header ([ErrTooLarge]); the decoder's memory
// may not grow past maxMemory bytes ([ErrMemory]); 0 leaves either
// unlimited. fn's error is returned as it is. Decode is safe for
// concurrent use: each call has an instance of its own.
func Decode(ctx context.Context, data []byte, maxPixels int, maxMemory int64, fn func(*Frame) error) error {
	if err := compile(); err != nil {
		return err
	}
	ctx = experimental.WithMemoryAllocator(ctx, newAllocator(maxMemory))
	mod, err := runtime.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize"))
	if err != nil {
		return fmt.Errorf("av1: starting the decoder: %w", err)
	}
	defer mod.Close(ctx)
	mem := mod.Memory()
	malloc := mod.ExportedFunction("malloc")
	in, err := call(ctx, malloc, uint64(len(data)+frameSize))
	if err != nil || in == 0 {
		return fmt.Errorf("%w: %d bytes of input", ErrMemory, len(data))
	}
	rec := in + uint32(len(data))
	if !mem.Write(in, data) {
		return fmt.Errorf("%w: %d bytes of input", ErrMemory, len(data))
	}
	res, err := mod.ExportedFunction("av1_decode").Call(ctx, uint64(in), uint64(len(data)), uint64(uint32(maxPixels)), uint64(rec))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A trap: a failed allocation the decoder did not check, or
		// an out-of-bounds access, both of which the memory limit
		// causes first.
		return fmt.Errorf("%w: %v", ErrMemory, err)
	}
	switch int32(res[0]) {
	case 0:
	case errMemory:
		return fmt.Errorf("%w (%d bytes)", ErrMemory, maxMemory)
	case errLimit:
		return fmt.Errorf("%w: more than %d pixels", ErrTooLarge, maxPixels)
	case errNoPicture:
		return fmt.Errorf("%w: no picture in %d bytes", ErrCorrupt, len(data))
	case errOpen:
		return fmt.Errorf("av1: the decoder did not open")
	default:
		return fmt.Errorf("%w: the decoder refused it", ErrCorrupt)
	}
	f, err := readFrame(mem, rec)
	if err != nil {
		return err
	}
	return fn(f)
}

// call calls an exported function of one 32-bit result.
func call(ctx context.Context, fn api.Function, args ...uint64) (uint32, error) {
	res, err := fn.Call(ctx, args...)
	if err != nil {
		return 0, err
	}
	return uint32(res[0]), nil
}

// readFrame reads decode.c's frame record at rec and slices the planes
// it points to.
func readFrame(mem api.Memory, rec uint32) (*Frame, error) {
	b, ok := mem.Read(rec, frameSize)
	if !ok {
		return nil, fmt.Errorf("av1: frame record out of memory")
	}
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	f := &Frame{
		Width: int(w(0)), Height: int(w(1)), BitDepth: int(w(2)), Layout: Layout(w(3)),
		YStride: int(int32(w(7))), CStride: int(int32(w(8))),
		Primaries: int(w(9)), Transfer: int(w(10)), Matrix: int(w(11)), FullRange: w(12) != 0,
	}
	if f.Width <= 0 || f.Height <= 0 || f.Layout > I444 || f.BitDepth < 8 || f.BitDepth > 12 {
		return nil, fmt.Errorf("%w: a %dx%d picture of %d bits, layout %d", ErrCorrupt, f.Width, f.Height, f.BitDepth, f.Layout)
	}
	bps := 1
	if f.BitDepth > 8 {
		bps = 2
	}
	plane := func(off uint32, stride, w, h int) ([]byte, error) {
		if stride < w*bps {
			return nil, fmt.Errorf("av1: a plane's rows of %d bytes hold %d samples", stride, w)
		}
		n := stride*(h-1) + w*bps
		p, ok := mem.Read(off, uint32(n))
		if !ok {
			return nil, fmt.Errorf("av1: a plane lies outside the decoder's memory")
		}
		return p, nil
	}
	var err error
	if f.Y, err = plane(w(4), f.YStride, f.Width, f.Height); err != nil {
		return nil, err
	}
	if f.Layout != I400 {
		sx, sy := f.ChromaShift()
		cw, ch := (f.Width+sx)>>sx, (f.Height+sy)>>sy
		if f.Cb, err = plane(w(5), f.CStride, cw, ch); err != nil {
			return nil, err
		}
		if f.Cr, err = plane(w(6), f.CStride, cw, ch); err != nil {
			return nil, err
		}
	}
	return f, nil
}
