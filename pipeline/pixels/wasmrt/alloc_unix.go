//go:build unix

package wasmrt

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// newAllocator returns an allocator whose memories are anonymous
// mappings reserved at their limit (maxMemory, else the module's
// maximum) and touched only as they grow: growing never copies, and
// closing the instance unmaps its memory at once.
func newAllocator(maxMemory int64) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		limit := maxBytes
		if maxMemory > 0 && uint64(maxMemory) < limit {
			// Never below what the module starts with (its data and
			// stack), which wazero cannot do without.
			limit = max(uint64(maxMemory), capBytes)
		}
		return &mapping{limit: limit}
	})
}

// mapping is a linear memory in an anonymous mapping.
type mapping struct {
	limit uint64
	buf   []byte // the whole reservation
	size  uint64 // what the instance has grown to
}

// Reallocate implements experimental.LinearMemory.
func (m *mapping) Reallocate(size uint64) []byte {
	if size > m.limit {
		return nil
	}
	if m.buf == nil {
		b, err := syscall.Mmap(-1, 0, int(m.limit), syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
		if err != nil {
			return nil
		}
		m.buf = b
	}
	account(int64(size) - int64(m.size))
	m.size = size
	return m.buf[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *mapping) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		account(-int64(m.size))
		m.buf, m.size = nil, 0
	}
}
