//go:build !unix

package wasmrt

import "github.com/tetratelabs/wazero/experimental"

// newAllocator returns nil where there is no mmap: wazero's own memory,
// which grows by copying, then serves, and maxMemory is not enforced.
func newAllocator(maxMemory int64) experimental.MemoryAllocator { return nil }
