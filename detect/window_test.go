package detect

import (
	"hash/maphash"
	"testing"
)

func TestWindowPeakLate(t *testing.T) {
	var w Window
	for _, x := range []int64{100, 110, 400, 120} { // 120 arrives late
		w.Add(x, 1, "")
	}
	if n, _, first, last := w.Peak(120, 60); n != 3 || first != 100 || last != 120 {
		t.Errorf("Peak(120) = %d [%d, %d]; want 3 [100, 120]", n, first, last)
	}
	// A late event completes a window that ends after it.
	var v Window
	for _, x := range []int64{100, 140, 150} {
		v.Add(x, 2, "")
	}
	v.Add(120, 2, "")
	if n, sum, _, last := v.Peak(120, 60); n != 4 || sum != 8 || last != 150 {
		t.Errorf("Peak = %d, %v, last %d; want 4, 8, 150", n, sum, last)
	}
	if n, _, _, _ := v.Peak(400, 60); n != 0 {
		t.Errorf("Peak(400) = %d; want 0", n)
	}
	v.Prune(130)
	if v.Len() != 2 {
		t.Errorf("after Prune len = %d; want 2", v.Len())
	}
}

func TestIDSet(t *testing.T) {
	var s idSet
	s.init()
	t0 := int64(1_790_000_000)
	s.add("a", t0, 1.5)
	if !s.has("a") || s.has("b") {
		t.Fatal("has")
	}
	if c, ok := s.get("a"); !ok || c != 1.5 {
		t.Errorf("get(a) = %v, %v", c, ok)
	}
	s.add("b", t0+86401, 0) // a new generation: a is still known
	if !s.has("a") {
		t.Error("a forgotten after one generation")
	}
	s.add("c", t0+2*86402, 0) // two generations on: a is gone, b known
	if s.has("a") || !s.has("b") || !s.has("c") {
		t.Errorf("after two generations: a %v, b %v, c %v; want false, true, true", s.has("a"), s.has("b"), s.has("c"))
	}
	// Ids sharing a hash are not duplicates of each other.
	h := maphash.String(s.seed, "d")
	s.cur[h] = idEntry{id: "not d", cost: 9}
	b := h >> (64 - idBits)
	s.curBits[b/64] |= 1 << (b % 64) // past the filter, to the id comparison
	if s.has("d") {
		t.Error("a different id under the same hash counted as seen")
	}
}
