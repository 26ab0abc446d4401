package cli

import (
	"math/rand/v2"
	"testing"
)

// TestEvHeapOrder: events come out in time order; at one second ends
// before answers before starts, then in the order they were pushed —
// with pops between pushes, as the replay interleaves them.
func TestEvHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	p := &replayer{}
	c := &rcall{}
	var last *rev
	popped := 0
	for i := range 20000 {
		p.push(int64(r.IntN(50)+i/100), uint8(r.IntN(3)), c, 0)
		if r.IntN(3) == 0 || i == 19999 {
			for n := r.IntN(4); n >= 0 && len(p.h) > 0; n-- {
				e := p.h.pop()
				popped++
				// Pushes after a pop may precede it; check runs of pops.
				if last != nil && e.before(last) {
					t.Fatalf("popped %+v after %+v", e, *last)
				}
				last = &e
			}
			last = nil
		}
	}
	prev := p.h.pop()
	popped++
	for len(p.h) > 0 {
		e := p.h.pop()
		popped++
		if e.before(&prev) {
			t.Fatalf("popped %+v after %+v", e, prev)
		}
		if e.t == prev.t && e.kind() > prev.kind() {
			t.Fatalf("kind %d after kind %d at one second", e.kind(), prev.kind())
		}
		if e.t == prev.t && e.kind() == prev.kind() && e.key < prev.key {
			t.Fatalf("push order broken at t=%d", e.t)
		}
		prev = e
	}
	if popped != 20000 {
		t.Fatalf("popped %d of 20000", popped)
	}
}
