package voice

import (
	"math/rand/v2"
	"testing"
)

// TestDotI8 checks the (vectorised where available) 8-bit dot product
// against a plain sum on every length from 0 to 200 and a voiceprint's,
// with extreme values included.
func TestDotI8(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, n := range append(seq(201), 4864, 4865) {
		a := make([]int8, n)
		b := make([]int16, n+3)
		for i := range a {
			a[i] = int8(rng.IntN(256) - 128)
			b[i] = int16(rng.IntN(255) - 127)
		}
		if n > 0 {
			a[0], b[0] = -128, -127
			a[n-1], b[n-1] = 127, 127
		}
		var want int32
		for i := range a {
			want += int32(a[i]) * int32(b[i])
		}
		if got := dotI8(a, b); got != want {
			t.Fatalf("n=%d: dotI8 = %d, want %d", n, got, want)
		}
		if got := dotI8Go(a, b); got != want {
			t.Fatalf("n=%d: dotI8Go = %d, want %d", n, got, want)
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// BenchmarkDotI8 is one 8-bit comparison of a 4,864-long voiceprint.
func BenchmarkDotI8(b *testing.B) {
	x := make([]int8, 4864)
	y := make([]int16, 4864)
	for i := range x {
		x[i], y[i] = int8(i), int16(i%255-127)
	}
	var s int32
	for b.Loop() {
		s += dotI8(x, y)
	}
	_ = s
}

// BenchmarkDotI8Go is the same without vector instructions.
func BenchmarkDotI8Go(b *testing.B) {
	x := make([]int8, 4864)
	y := make([]int16, 4864)
	for i := range x {
		x[i], y[i] = int8(i), int16(i%255-127)
	}
	var s int32
	for b.Loop() {
		s += dotI8Go(x, y)
	}
	_ = s
}
