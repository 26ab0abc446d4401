package detect

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strconv"
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
	s.mark(h) // past the filter, to the id comparison
	if s.has("d") {
		t.Error("a different id under the same hash counted as seen")
	}
}

// refPeak is Peak over single events, the definition the buckets keep.
func refPeak(ev []int64, vs map[int64]float64, t, span int64) (n int, sum float64, first, last int64) {
	starts := slices.Compact(slices.Sorted(slices.Values(ev))) // earliest window first, as Peak
	for _, s := range starts {
		if s <= t-span || s > t {
			continue
		}
		k, v, l := 0, 0.0, int64(0)
		for _, x := range ev {
			if x >= s && x < s+span {
				k++
				v += vs[x]
				l = max(l, x)
			}
		}
		if l >= t && (k > n || k == n && v > sum) {
			n, sum, first, last = k, v, s, l
		}
	}
	if n == 0 {
		return 0, 0, t, t
	}
	return n, sum, first, last
}

// TestWindowPeakMatchesDefinition checks Peak, Len and IDs against a walk
// over single events, for in-order and late events with shared seconds,
// across pruning.
func TestWindowPeakMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var w Window
		var ev []int64
		vs := map[int64]float64{} // one value per second keeps sums exact
		now := int64(1000)
		for i := range 60 {
			now += rng.Int64N(4)
			x := now
			if rng.IntN(5) == 0 {
				x -= rng.Int64N(50) // late
			}
			if _, ok := vs[x]; !ok {
				vs[x] = float64(rng.IntN(5))
			}
			w.Add(x, vs[x], fmt.Sprint("id", i))
			ev = append(ev, x)
			span := 1 + rng.Int64N(40)
			n, sum, first, last := w.Peak(x, span)
			rn, rsum, rfirst, rlast := refPeak(ev, vs, x, span)
			if n != rn || sum != rsum || first != rfirst || last != rlast {
				t.Fatalf("round %d: Peak(%d, %d) = %d %v [%d %d]; want %d %v [%d %d]", round, x, span, n, sum, first, last, rn, rsum, rfirst, rlast)
			}
			if rng.IntN(20) == 0 {
				cut := now - 30
				w.Prune(cut)
				ev = slices.DeleteFunc(ev, func(e int64) bool { return e < cut })
			}
			if w.Len() != len(ev) {
				t.Fatalf("round %d: Len = %d, want %d", round, w.Len(), len(ev))
			}
		}
		if ids := w.IDs(0, now, 1000); len(ids) != len(ev) {
			t.Fatalf("round %d: IDs = %d, want %d", round, len(ids), len(ev))
		}
	}
}

// TestForgetSetBounded: a flood of calls forgotten before their CDR (a
// redirect server whose calls never get an event, ten times what the
// table holds) never grows the set past its fixed table, costs no
// allocation after the first, keeps the most recent ones, and drops an
// id after forgetKeep seconds of event time.
func TestForgetSetBounded(t *testing.T) {
	var e Engine
	e.seen.init()
	const flood = 4 << forgetBits
	t0 := int64(1_790_000_000)
	id := func(i int) string { return "call-" + strconv.Itoa(i) }
	batch := make([]string, 1000)
	for i := 0; i < flood; i += len(batch) {
		for j := range batch {
			batch[j] = id(i + j)
		}
		e.now = t0 + int64(i)/1000 // 1,000 forgotten a second
		e.Forget(batch)
	}
	if n := len(e.forgotten.slots); n != 1<<forgetBits {
		t.Fatalf("table of %d slots after %d forgets; want %d", n, flood, 1<<forgetBits)
	}
	used := 0
	for _, x := range e.forgotten.slots {
		if x != 0 {
			used++
		}
	}
	if used > 1<<forgetBits {
		t.Errorf("%d ids held", used)
	}
	// The last 32nd of the table's worth are all kept (a bucket
	// evicts one of them only after 8 newer ids: odds ~10⁻⁵ over the
	// whole table); the first forgotten were pushed out (their CDR is
	// judged whole).
	kept := 0
	for i := flood - 1<<forgetBits; i < flood; i++ {
		if e.forgotten.has(e.seen.hash(id(i)), e.now) {
			kept++
		}
	}
	t.Logf("of the last %d forgotten, %d held", 1<<forgetBits, kept)
	for i := flood - 1<<forgetBits/32; i < flood; i++ {
		if !e.forgotten.has(e.seen.hash(id(i)), e.now) {
			t.Fatalf("call %d of %d, forgotten recently, not remembered", i, flood)
		}
	}
	lost := 0
	for i := range 1000 {
		if e.forgotten.has(e.seen.hash(id(i)), e.now) {
			lost++
		}
	}
	if lost != 0 {
		t.Errorf("%d of the first 1000 forgotten still held after %d newer", lost, flood)
	}
	if a := testing.AllocsPerRun(100, func() { e.forgotten.add(e.seen.hash("x"), e.now) }); a != 0 {
		t.Errorf("%v allocations a forget; want 0", a)
	}
	// Kept forgetKeep seconds of event time, not a second longer; take
	// removes.
	var s forgetSet
	h := e.seen.hash("late")
	s.add(h, t0)
	if !s.has(h, t0+forgetKeep) || s.has(h, t0+forgetKeep+1) {
		t.Errorf("has at forgetKeep: %v, a second later: %v; want true, false", s.has(h, t0+forgetKeep), s.has(h, t0+forgetKeep+1))
	}
	if !s.take(h, t0) || s.take(h, t0) || s.has(h, t0) {
		t.Error("take: want true once, then gone")
	}
	// Forgotten before the detectors saw any event time (a restart's
	// first sweep): kept until pushed out, whatever time comes next.
	s.add(h, 0)
	if !s.has(h, t0+forgetKeep) {
		t.Error("an id forgotten at event time 0 dropped once the clock started")
	}
	s.take(h, 0)
	// Forgotten again: one slot, the later time.
	s.add(h, t0)
	s.add(h, t0+100)
	if s.take(h, t0+100); s.has(h, t0+100) {
		t.Error("an id forgotten twice held in two slots")
	}
}
