// Package prefetch asks the processor to bring memory into its caches
// ahead of use, for loops that know which objects they will read next
// (a replay's next call) while they work on the current one: the load
// that would have waited for memory then finds the line in cache. It is
// a hint only: nothing is read in the Go sense, an address nobody may
// read is harmless, and on processors without an instruction for it
// (other than amd64 here) the calls do nothing.
package prefetch

import "unsafe"

// LineSize is the cache line size the hints assume.
const LineSize = 64

// Object hints the n bytes from p (at least one line).
func Object(p unsafe.Pointer, n uintptr) {
	if p == nil {
		return
	}
	lines(p, span(uintptr(p), n))
}

// span is how many lines the n bytes from addr touch (at least one).
func span(addr, n uintptr) int {
	return int((addr%LineSize + max(n, 1) + LineSize - 1) / LineSize)
}

// String hints the first n bytes of s's data (at most len(s)).
func String(s string, n int) {
	if len(s) == 0 {
		return
	}
	Object(unsafe.Pointer(unsafe.StringData(s)), uintptr(min(n, len(s))))
}
