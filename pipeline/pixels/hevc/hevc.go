// Package hevc decodes the HEVC images of HEIC files with libde265,
// compiled to WebAssembly (see wasm/build.sh) and run by package wasmrt:
// in the process, without cgo, without a copy of the picture, and in
// memory that is given back as soon as the decode returns.
//
// The module is compiled on the first decode, not at start: a process
// that never sees a HEIC never pays for it.
//
// libde265 is licensed under the GNU LGPL, version 3 (wasm/COPYING). The
// embedded module is what wasm/build.sh builds from Debian's source and
// patches and one patch of ours (wasm/no-threads.patch), so that anyone
// may rebuild it, change it or replace it.
package hevc

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

//go:embed wasm/de265.wasm.gz
var moduleGz []byte

// Errors a decode returns, wrapped with what was wrong.
var (
	// ErrCorrupt is a decoder configuration or an HEVC bitstream that
	// libde265 refuses, or one that holds no picture.
	ErrCorrupt = errors.New("corrupt HEVC data")
	// ErrTooLarge is a picture larger than the caller's pixel limit,
	// refused by the decoder from its sequence parameter set.
	ErrTooLarge = errors.New("HEVC picture larger than allowed")
	// ErrMemory is a decode that needed more memory than the caller's
	// limit.
	ErrMemory = errors.New("HEVC decode needs more memory than allowed")
)

var module = wasmrt.New("hevc", moduleGz, "hevc_decode",
	wasmrt.Errors{Corrupt: ErrCorrupt, TooLarge: ErrTooLarge, Memory: ErrMemory})

// Compile compiles the decoder now, rather than on the first decode (the
// compiler's own memory is then not counted against that decode); it
// does so once a process.
func Compile() error { return module.Compile() }

// Decode decodes one HEVC image of a HEIF file: config is the body of
// the item's hvcC property (its parameter sets), data the item's data
// (NAL units, each after its length). It calls fn with the picture, whose
// planes are valid while fn runs. A picture of more than maxPixels is
// refused from its sequence parameter set ([ErrTooLarge]), before its
// memory is taken; the decoder's memory may not grow past maxMemory bytes
// ([ErrMemory]); 0 leaves either unlimited. fn's error is returned as it
// is. Decode is safe for concurrent use: each call has an instance of its
// own.
//
// Primaries, Transfer and Matrix are 2 (unspecified) and FullRange false
// where the sequence parameter set's VUI does not give them; the
// container's colr property, where there is one, takes precedence.
func Decode(ctx context.Context, config, data []byte, maxPixels int, maxMemory int64, fn func(*wasmrt.Frame) error) error {
	ps, lenSize, err := parameterSets(config)
	if err != nil {
		return err
	}
	return module.Decode(ctx, [][]byte{ps, data}, []uint64{uint64(lenSize)}, maxPixels, maxMemory, fn)
}

// parameterSets reads an hvcC body (ISO/IEC 14496-15,
// HEVCDecoderConfigurationRecord) and returns its NAL units (the VPS, SPS,
// PPS and SEI arrays), each after its length in 4 bytes big endian, and
// the size of the lengths before the NAL units of the item's data.
func parameterSets(config []byte) (ps []byte, lenSize int, err error) {
	corrupt := func(what string) error { return fmt.Errorf("%w: hvcC %s", ErrCorrupt, what) }
	// 22 bytes of profile, level and format, then the count of arrays.
	const header = 23
	if len(config) < header {
		return nil, 0, corrupt(fmt.Sprintf("of %d bytes", len(config)))
	}
	if config[0] != 1 {
		return nil, 0, corrupt(fmt.Sprintf("version %d", config[0]))
	}
	lenSize = int(config[21]&3) + 1
	if lenSize == 3 {
		return nil, 0, corrupt("with NAL lengths of 3 bytes")
	}
	arrays, p := int(config[22]), config[header:]
	for range arrays {
		if len(p) < 3 {
			return nil, 0, corrupt("array cut short")
		}
		n := int(binary.BigEndian.Uint16(p[1:]))
		p = p[3:]
		for range n {
			if len(p) < 2 {
				return nil, 0, corrupt("NAL unit cut short")
			}
			l := int(binary.BigEndian.Uint16(p))
			if len(p) < 2+l {
				return nil, 0, corrupt("NAL unit cut short")
			}
			ps = binary.BigEndian.AppendUint32(ps, uint32(l))
			ps = append(ps, p[2:2+l]...)
			p = p[2+l:]
		}
	}
	return ps, lenSize, nil
}
