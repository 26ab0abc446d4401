package detect

import "testing"

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
