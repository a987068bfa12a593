package wasmrt

import "sync/atomic"

// The memory the instances have mapped, in bytes, now and at
// most since [Peak] began: memory outside the Go heap, which
// runtime.MemStats does not count.
var mapped, peak atomic.Int64

// account adds delta bytes to what is mapped.
func account(delta int64) {
	n := mapped.Add(delta)
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// Peak calls fn and returns the most memory the instances had
// mapped at once while it ran (every instance's, fn's or not). Where
// instances are not mapped (not unix), it returns 0.
func Peak(fn func()) int64 {
	peak.Store(mapped.Load())
	fn()
	return peak.Load()
}
