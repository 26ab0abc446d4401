//go:build !amd64

package voice

// dotI8 returns Σ a[i]·b[i] over len(a) elements (b at least as long).
func dotI8(a []int8, b []int16) int32 { return dotI8Go(a, b) }

// useAVX2 is never true here.
var useAVX2 = false
