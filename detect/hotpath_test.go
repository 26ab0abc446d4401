package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestAppendKeyIsKey: a key built in a buffer is the key Key makes, so
// windows and latches reached by AddBytes/ActiveBytes are those Add and
// Active reach.
func TestAppendKeyIsKey(t *testing.T) {
	for _, parts := range [][]string{{"t1"}, {"t1", "+4420"}, {"", ""}, {"a", "", "b"}, {"tenant", "4420\x00x"}} {
		if got, want := string(AppendKey([]byte("junk")[:0], parts...)), Key(parts...); got != want {
			t.Fatalf("AppendKey(%q) = %q, Key = %q", parts, got, want)
		}
	}
	ws := NewWindows(600)
	ws.Add(Key("t1", "44"), 100, 1, "a")
	w := ws.AddBytes(AppendKey(nil, "t1", "44"), 101, 2, "b")
	if n, sum, _, _ := w.Peak(101, 300); n != 2 || sum != 3 {
		t.Fatalf("AddBytes reached another window: %d calls, %.0f", n, sum)
	}
	l := Latch{}
	l.Set(Key("t1", "44"), 200)
	if !l.ActiveBytes(AppendKey(nil, "t1", "44"), 199) || l.ActiveBytes(AppendKey(nil, "t1", "4"), 199) {
		t.Fatal("ActiveBytes disagrees with Set")
	}
}

// TestPackDigitsInjective: two different strings never pack to one key
// (leading zeros, "+", lengths), and only numbers of 1–16 digits pack.
func TestPackDigitsInjective(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	seen := map[uint64]string{}
	try := func(s string) {
		k, ok := packDigits(s)
		if !ok {
			return
		}
		if o, dup := seen[k]; dup && o != s {
			t.Fatalf("%q and %q pack to %x", s, o, k)
		}
		seen[k] = s
	}
	for _, s := range []string{"0", "00", "000", "+0", "+00", "1", "01", "+1", "+01", "9999999999999999", "+9999999999999999", "0000000000000000"} {
		try(s)
	}
	for range 200000 {
		n := 1 + r.IntN(16)
		b := make([]byte, 0, 17)
		if r.IntN(2) == 0 {
			b = append(b, '+')
		}
		for range n {
			b = append(b, byte('0'+r.IntN(3))) // few digits: many near-collisions
		}
		try(string(b))
	}
	for _, s := range []string{"", "+", "12345678901234567", "+12345678901234567", "12a", "anonymous", "+-1", "1 2"} {
		if _, ok := packDigits(s); ok {
			t.Fatalf("%q packed", s)
		}
	}
	if len(seen) < 1000 {
		t.Fatalf("only %d keys tried", len(seen))
	}
}

// FuzzPackDigits: a packed key unpacks to the string it came from.
func FuzzPackDigits(f *testing.F) {
	for _, s := range []string{"0", "+00", "4420", "+14155550100", "12345678901234567", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := packDigits(s)
		if !ok {
			return
		}
		n := int(k >> 54 & 31)
		back := fmt.Sprintf("%0*d", n, k&(1<<54-1))
		if k&(1<<59) != 0 {
			back = "+" + back
		}
		if back != s {
			t.Fatalf("%q packed to %x, which is %q", s, k, back)
		}
	})
}
