// Package av1 decodes the AV1 images of AVIF files with dav1d, compiled
// to WebAssembly (see wasm/build.sh) and run by package wasmrt: in the
// process, without cgo, without a copy of the picture, and in memory that
// is given back as soon as the decode returns.
//
// The module is compiled on the first decode, not at start: a process
// that never sees an AVIF never pays for it.
package av1

import (
	"context"
	_ "embed"
	"errors"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
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

var module = wasmrt.New("av1", moduleGz, "av1_decode",
	wasmrt.Errors{Corrupt: ErrCorrupt, TooLarge: ErrTooLarge, Memory: ErrMemory})

// Compile compiles the decoder now, rather than on the first decode (the
// compiler's own memory, some 25 MB for a moment, is then not counted
// against that decode); it does so once a process.
func Compile() error { return module.Compile() }

// Decode decodes data, the coded OBUs of one AV1 image (an AVIF item's
// data), and calls fn with the picture, whose planes are valid while fn
// runs. A picture of more than maxPixels is refused from its frame
// header ([ErrTooLarge]); the decoder's memory may not grow past
// maxMemory bytes ([ErrMemory]); 0 leaves either unlimited. fn's error is
// returned as it is, and a context done before the decode starts stops
// it. Decode is safe for concurrent use: each call has an instance of its
// own.
func Decode(ctx context.Context, data []byte, maxPixels int, maxMemory int64, fn func(*wasmrt.Frame) error) error {
	return module.Decode(ctx, [][]byte{data}, nil, maxPixels, maxMemory, fn)
}
