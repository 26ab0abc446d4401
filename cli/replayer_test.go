package cli

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
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
		if e.t == prev.t && evKind(e.k) > evKind(prev.k) {
			t.Fatalf("kind %d after kind %d at one second", evKind(e.k), evKind(prev.k))
		}
		if e.t == prev.t && evKind(e.k) == evKind(prev.k) && e.k < prev.k {
			t.Fatalf("push order broken at t=%d", e.t)
		}
		prev = e
	}
	if popped != 20000 {
		t.Fatalf("popped %d of 20000", popped)
	}
}

// TestHeap4PopsTheLeast: after any mix of pushes and pops, every pop
// returns the least (t, k) entry held, checked against a plain scan of
// what was pushed and not yet popped.
func TestHeap4PopsTheLeast(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var h heap4[int]
	var ref []tentry[int]
	for i := range 50000 {
		if len(ref) == 0 || r.IntN(5) < 3 {
			e := tentry[int]{t: int64(r.IntN(40) + i/50), k: uint64(r.IntN(3))<<56 | uint64(i), v: i}
			h.push(e)
			ref = append(ref, e)
			continue
		}
		m := 0
		for j := range ref {
			if ref[j].before(&ref[m]) {
				m = j
			}
		}
		got := h.pop()
		if got != ref[m] {
			t.Fatalf("op %d: popped %+v; want %+v", i, got, ref[m])
		}
		ref[m] = ref[len(ref)-1]
		ref = ref[:len(ref)-1]
		if len(h) != len(ref) {
			t.Fatalf("op %d: heap holds %d; want %d", i, len(h), len(ref))
		}
	}
}

// TestStartQueueOrder: the start queue releases exactly the held starts
// before each threshold, each release in start order and, at one second,
// in reading order (a late record read after a release comes out in a
// later one, as it played in the single queue), with slots reused only
// once a batch is back.
func TestStartQueueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	q := &startQueue{}
	base := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	type key struct{ st, line int64 }
	released, read := 0, 0
	for i := range 20000 {
		s := q.slot()
		p := q.at(s)
		if p.rec.CallID != "" {
			t.Fatalf("slot %d reused while held (%s)", s, p.rec.CallID)
		}
		p.rec = cdr.Record{CallID: fmt.Sprint(i), Start: base.Add(time.Duration(i/4+r.IntN(3*3600)) * time.Second), Duration: r.IntN(7200), Line: i}
		read++
		th := q.hold(s)
		b := &startBatch{}
		q.release(th, b)
		if len(q.h) > 0 && q.h[0].t < th {
			t.Fatalf("start %d still held at threshold %d", q.h[0].t, th)
		}
		var last key
		for _, x := range b.starts {
			k := key{x.st, int64(x.rec.Line)}
			if x.st >= th {
				t.Fatalf("start %d released at threshold %d", x.st, th)
			}
			if k.st < last.st || k.st == last.st && k.line <= last.line {
				t.Fatalf("released %+v after %+v", k, last)
			}
			last = k
		}
		released += len(b.starts)
		q.unheld(b)
	}
	b := &startBatch{}
	q.release(1<<62-1, b)
	released += len(b.starts)
	if released != read || len(q.h) != 0 {
		t.Fatalf("released %d of %d, %d still held", released, read, len(q.h))
	}
}

// BenchmarkReplayHeaps pushes and pops events and starts the way a replay
// does (about 200 events queued, starts held four hours at two a second,
// times mostly rising): the A/B for the heaps' layout.
func BenchmarkReplayHeaps(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	ts := make([]int64, 4096)
	for i := range ts {
		ts[i] = int64(i/2 + r.IntN(600))
	}
	base := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	b.Run("events", func(b *testing.B) {
		p := &replayer{}
		c := &rcall{}
		for range 200 {
			p.push(ts[0], evEnd, c, 0)
		}
		i := 0
		for b.Loop() {
			p.push(ts[i&4095]+int64(i>>12)*2048, uint8(i%3), c, 0)
			p.h.pop()
			i++
		}
	})
	b.Run("starts", func(b *testing.B) {
		q := &startQueue{}
		bt := &startBatch{}
		i := 0
		for b.Loop() {
			s := q.slot()
			q.at(s).rec = cdr.Record{Start: base.Add(time.Duration(ts[i&4095]+int64(i>>12)*2048) * time.Second)}
			q.release(q.hold(s), bt)
			if len(bt.slots) > 256 {
				q.unheld(bt)
			}
			i++
		}
	})
}

// TestRunningByHash: running calls whose ids share a hash are told apart
// by id; one ending (at the head of its chain or not) leaves the others
// running, and a second start of a running id takes its place and its
// pending flag.
func TestRunningByHash(t *testing.T) {
	p := &replayer{running: map[uint64]*rcall{}}
	mk := func(id string) *rcall { return &rcall{rec: cdr.Record{CallID: id}, idh: 7} }
	a, b, c := mk("a"), mk("b"), mk("c")
	for _, x := range []*rcall{a, b, c} {
		p.setUp(x)
	}
	for _, x := range []*rcall{a, b, c} {
		if got := p.callOf(7, x.rec.CallID); got != x || !x.up {
			t.Fatalf("callOf(%s) = %p, want %p (up %v)", x.rec.CallID, got, x, x.up)
		}
	}
	p.setDown(b) // inside the chain
	if p.callOf(7, "b") != nil || b.up || p.callOf(7, "a") != a || p.callOf(7, "c") != c {
		t.Fatal("ending b changed the other calls of its hash")
	}
	a.pending = true
	a2 := mk("a")
	p.setUp(a2)
	if p.callOf(7, "a") != a2 || a.up || !a2.pending || a.pending || p.callOf(7, "c") != c {
		t.Fatalf("second start of a: running %p (want %p), old up %v, pending %v/%v", p.callOf(7, "a"), a2, a.up, a2.pending, a.pending)
	}
	p.setDown(c) // the head's
	p.setDown(a2)
	if len(p.running) != 0 || p.callOf(7, "a") != nil {
		t.Fatalf("%d hashes still running", len(p.running))
	}
}
