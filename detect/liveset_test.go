package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestLiveSetLikeAMap drives a liveSet whose calls share a few hashes
// (so chains hold several ids) and a plain map by id with the same adds
// and removes, and checks every look-up and the count against the map.
func TestLiveSetLikeAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var l liveSet
	ref := map[string]*started{}
	for step := range 20000 {
		id := fmt.Sprintf("c%d", r.IntN(300))
		h := uint64(len(id) % 3) // three chains at most: collisions are the rule
		s := l.get(h, id)
		if s != ref[id] {
			t.Fatalf("step %d: get(%q) = %p; want %p", step, id, s, ref[id])
		}
		if s == nil {
			s = &started{id: id, idh: h}
			l.add(s)
			ref[id] = s
		} else {
			l.remove(s)
			delete(ref, id)
			if l.get(h, id) != nil {
				t.Fatalf("step %d: %q still there after remove", step, id)
			}
		}
		if l.len() != len(ref) {
			t.Fatalf("step %d: len %d; want %d", step, l.len(), len(ref))
		}
	}
	// each visits every call once, also while removing the one it is given.
	seen, n0 := map[string]bool{}, l.len()
	l.each(func(s *started) {
		if seen[s.id] {
			t.Fatalf("%q visited twice", s.id)
		}
		seen[s.id] = true
		if len(s.id)%2 == 0 {
			l.remove(s)
			delete(ref, s.id)
		}
	})
	if len(seen) != n0 || l.len() != len(ref) {
		t.Fatalf("each visited %d of %d; len %d after, want %d", len(seen), n0, l.len(), len(ref))
	}
	for id, s := range ref {
		if l.get(s.idh, id) != s {
			t.Fatalf("%q lost by each", id)
		}
	}
}
