package voice

import "golang.org/x/sys/cpu"

//go:noescape
func dotI8I16AVX2(a *int8, b *int16, n int) int32

// dotI8 returns Σ a[i]·b[i] over len(a) elements (b at least as long;
// |b[i]| ≤ 127 keeps every partial sum far from overflow for the
// lengths voiceprints have). With AVX2 the first len(a) rounded down to
// a multiple of 16 are summed by dotI8I16AVX2.
// useAVX2 selects the vector kernel (a variable so that benchmarks can
// measure the portable loop on the same machine).
var useAVX2 = cpu.X86.HasAVX2

func dotI8(a []int8, b []int16) int32 {
	b = b[:len(a)]
	n := 0
	var s int32
	if useAVX2 && len(a) >= 16 {
		n = len(a) &^ 15
		s = dotI8I16AVX2(&a[0], &b[0], n)
	}
	return s + dotI8Go(a[n:], b[n:])
}
