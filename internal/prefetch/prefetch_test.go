package prefetch

import (
	"strings"
	"testing"
	"unsafe"
)

func TestSpan(t *testing.T) {
	for _, c := range []struct {
		addr, n uintptr
		want    int
	}{
		{0, 0, 1}, {0, 1, 1}, {0, 64, 1}, {0, 65, 2}, {63, 1, 1}, {63, 2, 2},
		{64, 64, 1}, {100, 200, 4}, {128, 350, 6}, {127, 350, 7},
	} {
		if got := span(c.addr, c.n); got != c.want {
			t.Errorf("span(%d, %d) = %d; want %d", c.addr, c.n, got, c.want)
		}
	}
}

// A hint reads nothing in the Go sense: memory is unchanged, and nil, an
// empty string or a length past the end are harmless.
func TestHintsChangeNothing(t *testing.T) {
	buf := make([]byte, 1000)
	for i := range buf {
		buf[i] = byte(i)
	}
	Object(unsafe.Pointer(&buf[0]), uintptr(len(buf)))
	Object(nil, 100)
	String("", 10)
	s := strings.Repeat("x", 300)
	String(s, 1<<20)
	for i := range buf {
		if buf[i] != byte(i) {
			t.Fatalf("byte %d changed to %d", i, buf[i])
		}
	}
	if s != strings.Repeat("x", 300) {
		t.Fatal("string changed")
	}
}

func BenchmarkObject(b *testing.B) {
	buf := make([]byte, 1<<20)
	for i := 0; i < b.N; i++ {
		Object(unsafe.Pointer(&buf[(i*4096)%len(buf)]), 256)
	}
}
