package prefetch

import "unsafe"

// lines issues PREFETCHT0 for n cache lines from p's line.
//
//go:noescape
func lines(p unsafe.Pointer, n int)
