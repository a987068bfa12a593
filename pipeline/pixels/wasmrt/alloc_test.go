//go:build unix

package wasmrt

import (
	"testing"
	"unsafe"
)

// TestMappingGrowsInPlace grows a memory as wazero does: it keeps its
// address (nothing is copied), stops at its limit, counts what it holds,
// and gives it all back when freed.
func TestMappingGrowsInPlace(t *testing.T) {
	const page = 64 << 10
	base := mapped.Load()
	m := newAllocator(8*page).Allocate(2*page, 1<<32)
	b := m.Reallocate(2 * page)
	if len(b) != 2*page {
		t.Fatalf("first size %d", len(b))
	}
	b[0] = 7
	g := m.Reallocate(8 * page)
	if len(g) != 8*page || unsafe.SliceData(g) != unsafe.SliceData(b) || g[0] != 7 {
		t.Fatalf("grown to %d bytes at another address or without its data", len(g))
	}
	if got := mapped.Load() - base; got != 8*page {
		t.Errorf("%d bytes counted, want %d", got, 8*page)
	}
	if m.Reallocate(9*page) != nil {
		t.Error("grew past its limit")
	}
	m.Free()
	if got := mapped.Load() - base; got != 0 {
		t.Errorf("%d bytes still counted after Free", got)
	}
	// A limit below what the module starts with gives way to it.
	small := newAllocator(page).Allocate(4*page, 1<<32)
	if len(small.Reallocate(4*page)) != 4*page {
		t.Error("the module's initial memory was refused")
	}
	small.Free()
}
