package seglog

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// TestRecentMatchesMap: adds and removes (a failed write taking its batch
// back) leave the table holding exactly what a map would, through growth
// and the backward shift of removal.
func TestRecentMatchesMap(t *testing.T) {
	var tb keyTable
	tb.init(16)
	want := map[uint64]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	var keys []uint64
	for i := range 200000 {
		// Few distinct top bits: long runs that wrap around the table.
		k := rng.Uint64()&0xf00000000000ffff | 1
		if i%3 == 2 && len(keys) > 0 {
			j := rng.IntN(len(keys))
			k = keys[j]
			keys[j] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			tb.remove(k)
			delete(want, k)
			continue
		}
		if len(want) >= 3*recentSlots/4 {
			continue
		}
		tb.add(k)
		if !want[k] {
			keys = append(keys, k)
		}
		want[k] = true
	}
	if tb.n != len(want) {
		t.Fatalf("table holds %d keys; want %d", tb.n, len(want))
	}
	for k := range want {
		if !tb.has(k) {
			t.Fatalf("key %x lost", k)
		}
	}
	for range 10000 {
		if k := rng.Uint64() | 1; !want[k] && tb.has(k) {
			t.Fatalf("key %x never added found", k)
		}
	}
}

// TestDedupBounded (attack: a flood of decisions for distinct calls,
// over twice what a generation holds, within one dedup window): the dedup sets
// never grow past their bound, the flood shortens the window instead, and
// a retried batch is still skipped.
func TestDedupBounded(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	l, err := Open(t.TempDir(), Options{Now: func() time.Time { return now }, DeferSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n := len(l.seen.cur.slots) + len(l.seen.prev.slots) + len(l.evs.cur.slots) + len(l.evs.prev.slots); n != 0 {
		t.Fatalf("%d slots before the first write", n)
	}
	ctx := context.Background()
	batch := make([]store.Decision, 4096)
	const flood = 2 * recentSlots
	for i := 0; i < flood; i += len(batch) {
		for j := range batch {
			batch[j] = store.Decision{CallID: "flood-" + strconv.Itoa(i+j), Time: now, Tenant: "acme", Extension: "1001", Callee: "+12125550100"}
		}
		if err := l.AppendDecisions(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if n := len(l.seen.cur.slots); n > 2*len(batch) {
				t.Errorf("%d slots after a first batch of %d; want at most %d", n, len(batch), 2*len(batch))
			}
		}
		for _, tb := range []*keyTable{&l.seen.cur, &l.seen.prev} {
			if len(tb.slots) > recentSlots || tb.n > 15*recentSlots/16 {
				t.Fatalf("after %d decisions a generation has %d slots, %d keys; at most %d slots", i+len(batch), len(tb.slots), tb.n, recentSlots)
			}
		}
	}
	// The last batch again (a retry): every decision skipped.
	if err := l.AppendDecisions(ctx, batch); err != nil {
		t.Fatal(err)
	}
	ds, err := l.DecisionsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != flood {
		t.Errorf("%d decisions stored; want %d (the retried batch skipped)", len(ds), flood)
	}
	// Events: the same bound.
	es := make([]store.CallEvent, 4096)
	for i := 0; i < recentSlots; i += len(es) {
		for j := range es {
			es[j] = store.CallEvent{CallID: "flood-" + strconv.Itoa(i+j), Type: "end", Time: now}
		}
		if err := l.AppendCallEvents(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.evs.cur.slots); n > recentSlots {
		t.Errorf("events: %d slots; at most %d", n, recentSlots)
	}
}
