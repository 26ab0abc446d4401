package counter

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestReserveSlidingWindow(t *testing.T) {
	m := NewMemory(0)
	k := Key{Scope: ExtIntlCalls, Tenant: "a", Subject: "1001"}
	for i := 0; i < 3; i++ {
		n, ok, added := m.Reserve(k, fmt.Sprint(i), t0.Add(time.Duration(i)*time.Minute), time.Hour, 3)
		if !ok || !added || n != i+1 {
			t.Fatalf("reserve %d: n=%d ok=%v added=%v", i, n, ok, added)
		}
	}
	if _, ok, _ := m.Reserve(k, "3", t0.Add(10*time.Minute), time.Hour, 3); ok {
		t.Fatal("4th event admitted with limit 3")
	}
	// A retry of an admitted id is admitted without counting twice.
	if n, ok, added := m.Reserve(k, "1", t0.Add(11*time.Minute), time.Hour, 3); !ok || added || n != 3 {
		t.Errorf("retry: n=%d ok=%v added=%v", n, ok, added)
	}
	// The first event leaves the window exactly one hour after it.
	if _, ok, _ := m.Reserve(k, "4", t0.Add(time.Hour), time.Hour, 3); !ok {
		t.Errorf("event at t0+1h not admitted after the t0 event left the window")
	}
	if got := m.Count(k, t0.Add(time.Hour), time.Hour); got != 3 {
		t.Errorf("count = %d, want 3", got)
	}
	m.Unreserve(k, "4")
	if got := m.Count(k, t0.Add(time.Hour), time.Hour); got != 2 {
		t.Errorf("count after unreserve = %d, want 2", got)
	}
	if _, ok, _ := m.Reserve(Key{Scope: ExtPremiumCalls}, "x", t0, time.Hour, 0); ok {
		t.Errorf("limit 0 admitted an event")
	}
}

func TestSlotsLeaseAndRelease(t *testing.T) {
	m := NewMemory(0)
	k := Key{Scope: ExtIntlConcurrent, Tenant: "a", Subject: "1001"}
	if _, ok, _ := m.Acquire(k, "a", t0, t0.Add(time.Minute), 2); !ok {
		t.Fatal("first slot refused")
	}
	if _, ok, _ := m.Acquire(k, "b", t0, t0.Add(time.Hour), 2); !ok {
		t.Fatal("second slot refused")
	}
	if held, ok, _ := m.Acquire(k, "c", t0, t0.Add(time.Hour), 2); ok || held != 2 {
		t.Fatalf("third slot: held=%d ok=%v", held, ok)
	}
	// Re-acquiring a held id does not take a second slot.
	if held, ok, added := m.Acquire(k, "b", t0, t0.Add(time.Hour), 2); !ok || added || held != 2 {
		t.Errorf("re-acquire: held=%d ok=%v", held, ok)
	}
	// "a"'s lease runs out: its slot frees itself.
	if _, ok, _ := m.Acquire(k, "c", t0.Add(2*time.Minute), t0.Add(time.Hour), 2); !ok {
		t.Errorf("slot of an expired lease not reused")
	}
	if !m.Release(k, "b") || m.Release(k, "b") {
		t.Errorf("release must report true once, then false")
	}
	if got := m.Held(k, t0.Add(3*time.Minute)); got != 1 {
		t.Errorf("held = %d, want 1", got)
	}
}

func TestAddIdempotent(t *testing.T) {
	m := NewMemory(0)
	k := Key{Scope: TenantIntlSpend, Tenant: "a", Bucket: 20415}
	m.Add(k, "c1", 1.5)
	m.Add(k, "c1", 1.5)
	if got := m.Add(k, "c2", 2); got != 3.5 {
		t.Errorf("sum = %v, want 3.5", got)
	}
	if n := m.Reset(TenantIntlSpend, "a", ""); n != 1 || m.Sum(k) != 0 {
		t.Errorf("reset dropped %d, sum %v", n, m.Sum(k))
	}
}

// TestPropertiesUnderRandomOperations runs random concurrent sequences of
// reserve/unreserve/acquire/release with duplicates and checks the
// invariants a limit depends on: a window never holds more than its limit,
// held slots never exceed the limit or go negative, releasing everything
// leaves nothing held, and every count equals a model kept beside it.
func TestPropertiesUnderRandomOperations(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7))
		m := NewMemory(0)
		win := Key{Scope: ExtIntlCalls, Tenant: "t", Subject: "e"}
		slot := Key{Scope: ExtIntlConcurrent, Tenant: "t", Subject: "e"}
		const limit = 5
		inWindow := map[string]bool{}
		held := map[string]bool{}
		for step := 0; step < 2000; step++ {
			id := fmt.Sprint(rng.IntN(12))
			switch rng.IntN(4) {
			case 0:
				n, ok, added := m.Reserve(win, id, t0, 24*time.Hour, limit)
				switch {
				case inWindow[id] && (!ok || added):
					t.Fatalf("seed %d step %d: retry of %s: ok=%v added=%v", seed, step, id, ok, added)
				case !inWindow[id] && ok != (len(inWindow) < limit):
					t.Fatalf("seed %d step %d: admitted=%v with %d of %d", seed, step, ok, len(inWindow), limit)
				}
				if ok {
					inWindow[id] = true
				}
				if n != len(inWindow) {
					t.Fatalf("seed %d step %d: count %d, model %d", seed, step, n, len(inWindow))
				}
			case 1:
				m.Unreserve(win, id)
				delete(inWindow, id)
			case 2:
				_, ok, _ := m.Acquire(slot, id, t0, t0.Add(time.Hour), limit)
				if ok {
					held[id] = true
				} else if held[id] || len(held) < limit {
					t.Fatalf("seed %d step %d: acquire refused with %d held", seed, step, len(held))
				}
			case 3:
				if m.Release(slot, id) != held[id] {
					t.Fatalf("seed %d step %d: release of %s disagrees with the model", seed, step, id)
				}
				delete(held, id)
			}
			if h := m.Held(slot, t0); h != len(held) || h > limit || h < 0 {
				t.Fatalf("seed %d step %d: held %d, model %d", seed, step, h, len(held))
			}
			if c := m.Count(win, t0, 24*time.Hour); c > limit || c < 0 {
				t.Fatalf("seed %d step %d: window holds %d > limit", seed, step, c)
			}
		}
		for id := range held {
			m.Release(slot, id)
		}
		if h := m.Held(slot, t0); h != 0 {
			t.Fatalf("seed %d: %d slots leaked", seed, h)
		}
	}
}

// TestConcurrentExactness hammers one window from many goroutines: exactly
// limit events are admitted however the calls interleave.
func TestConcurrentExactness(t *testing.T) {
	m := NewMemory(0)
	k := Key{Scope: SystemIntlCalls}
	const limit = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, ok, added := m.Reserve(k, fmt.Sprintf("%d-%d", g, i), t0, time.Minute, limit); ok && added {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	if admitted != limit || m.Count(k, t0, time.Minute) != limit {
		t.Errorf("admitted %d, count %d, want exactly %d", admitted, m.Count(k, t0, time.Minute), limit)
	}
}

func BenchmarkReserve(b *testing.B) {
	m := NewMemory(0)
	k := Key{Scope: ExtIntlCalls, Tenant: "acme", Subject: "1001"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Reserve(k, "call", t0, time.Hour, 10)
	}
}

func TestApplyAllOrNothing(t *testing.T) {
	m := NewMemory(0)
	win := Key{Scope: ExtIntlCalls, Tenant: "a", Subject: "1"}
	slot := Key{Scope: ExtIntlConcurrent, Tenant: "a", Subject: "1"}
	sum := Key{Scope: TenantIntlSpend, Tenant: "a", Bucket: 1}
	m.Add(sum, "old", 4)
	ops := func(id string, max float64) []Op {
		return []Op{
			{Kind: OpWindow, Key: win, ID: id, Window: time.Hour, Limit: 2},
			{Kind: OpSumBelow, Key: sum, Max: max},
			{Kind: OpSlot, Key: slot, ID: id, Limit: 1, Lease: t0.Add(time.Hour)},
		}
	}
	res := make([]Result, 3)
	if f := m.Apply(t0, ops("c1", 5), res); f != -1 || !res[0].Added || !res[2].Added || res[1].Sum != 4 {
		t.Fatalf("first batch: failed=%d %+v", f, res)
	}
	// The slot is taken: the batch fails at op 2 and the window is untouched.
	if f := m.Apply(t0, ops("c2", 5), res); f != 2 {
		t.Fatalf("second batch: failed=%d, want 2 (slot)", f)
	}
	if n := m.Count(win, t0, time.Hour); n != 1 {
		t.Errorf("window count after a refused batch = %d, want 1 (nothing applied)", n)
	}
	// Spend over budget refuses at op 1.
	m.Release(slot, "c1")
	if f := m.Apply(t0, ops("c3", 3), res); f != 1 || res[1].Sum != 4 {
		t.Errorf("budget batch: failed=%d sum=%v", f, res[1].Sum)
	}
	// A retry of c1 is admitted without counting again.
	m.Acquire(slot, "c1", t0, t0.Add(time.Hour), 1)
	if f := m.Apply(t0, ops("c1", 5), res); f != -1 || res[0].Added || res[2].Added {
		t.Errorf("retry: failed=%d %+v", f, res)
	}
}

// TestApplyConcurrentExactness: batches from many goroutines admit
// exactly limit calls, and a failed batch leaves no trace in any key.
func TestApplyConcurrentExactness(t *testing.T) {
	m := NewMemory(0)
	sys := Key{Scope: SystemIntlCalls}
	const limit = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			res := make([]Result, 2)
			for i := 0; i < 40; i++ {
				id := fmt.Sprintf("%d-%d", g, i)
				ops := []Op{
					{Kind: OpWindow, Key: Key{Scope: ExtIntlCalls, Tenant: "t", Subject: fmt.Sprint(g)}, ID: id, Window: time.Hour, Limit: 1000},
					{Kind: OpWindow, Key: sys, ID: id, Window: time.Hour, Limit: limit},
				}
				if m.Apply(t0, ops, res) == -1 {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	ext := 0
	for g := 0; g < 8; g++ {
		ext += m.Count(Key{Scope: ExtIntlCalls, Tenant: "t", Subject: fmt.Sprint(g)}, t0, time.Hour)
	}
	if admitted != limit || m.Count(sys, t0, time.Hour) != limit || ext != limit {
		t.Errorf("admitted %d, system window %d, extension windows %d; want %d each", admitted, m.Count(sys, t0, time.Hour), ext, limit)
	}
}

func BenchmarkApply(b *testing.B) {
	m := NewMemory(0)
	ops := []Op{
		{Kind: OpWindow, Key: Key{Scope: ExtIntlCalls, Tenant: "acme", Subject: "1001"}, ID: "call", Window: time.Hour, Limit: 10},
		{Kind: OpWindow, Key: Key{Scope: TenantIntlCalls, Tenant: "acme"}, ID: "call", Window: 24 * time.Hour, Limit: 50},
		{Kind: OpSumBelow, Key: Key{Scope: TenantIntlSpend, Tenant: "acme", Bucket: 1}, Max: 500},
		{Kind: OpSlot, Key: Key{Scope: ExtIntlConcurrent, Tenant: "acme", Subject: "1001"}, ID: "call", Limit: 2, Lease: t0.Add(time.Hour)},
	}
	res := make([]Result, len(ops))
	b.ReportAllocs()
	for b.Loop() {
		m.Apply(t0, ops, res)
	}
}

// TestDeleteOneKey: Delete drops one key's window, slots or sum and
// leaves every other key alone.
func TestDeleteOneKey(t *testing.T) {
	m := NewMemory(0)
	a := Key{Scope: AttackIPFailures, Subject: "192.0.2.1"}
	b := Key{Scope: AttackIPFailures, Subject: "192.0.2.2"}
	slot := Key{Scope: TenantConcurrent, Tenant: "acme"}
	sum := Key{Scope: TenantIntlSpend, Tenant: "acme", Bucket: 1}
	for i := range 2 {
		m.Reserve(a, fmt.Sprint("a", i), t0, time.Minute, 5)
		m.Reserve(b, fmt.Sprint("b", i), t0, time.Minute, 5)
	}
	m.Acquire(slot, "c1", t0, t0.Add(time.Hour), 5)
	m.Add(sum, "c1", 2)
	m.Delete(a)
	m.Delete(slot)
	m.Delete(sum)
	if n := m.Count(a, t0, time.Minute); n != 0 {
		t.Errorf("deleted window counts %d", n)
	}
	if n := m.Count(b, t0, time.Minute); n != 2 {
		t.Errorf("other window counts %d, want 2", n)
	}
	if m.Held(slot, t0) != 0 || m.Sum(sum) != 0 {
		t.Errorf("deleted slot or sum kept: %d %v", m.Held(slot, t0), m.Sum(sum))
	}
	// A deleted window counts again from zero.
	if n, ok, _ := m.Reserve(a, "a0", t0, time.Minute, 5); !ok || n != 1 {
		t.Errorf("reserve after delete: n=%d ok=%v", n, ok)
	}
}

func TestAttackScopeNames(t *testing.T) {
	for _, sc := range []Scope{AttackIPFailures, AttackAccountFailures, AttackVoicemailFailures} {
		if back, ok := ParseScope(sc.String()); !ok || back != sc || sc.String() == "scope?" {
			t.Errorf("scope %d: name %q parses to %v %v", sc, sc.String(), back, ok)
		}
	}
}

// TestWindowCountsEarlierStampedCall is the arrival-order attack: ten calls
// stamped now-10s … now-1s fill a limit of ten per hour, then a call stamped
// now-20s arrives. It lies inside the same hour as the ten, so it must be
// refused, through Reserve and through Apply alike.
func TestWindowCountsEarlierStampedCall(t *testing.T) {
	k := Key{Scope: ExtIntlCalls, Tenant: "a", Subject: "1001"}
	now := t0
	m := NewMemory(0)
	b := NewMemory(0)
	res := make([]Result, 1)
	for i := 10; i >= 1; i-- {
		at := now.Add(-time.Duration(i) * time.Second)
		if _, ok, _ := m.Reserve(k, fmt.Sprint(i), at, time.Hour, 10); !ok {
			t.Fatalf("Reserve: call %d refused", i)
		}
		if f := b.Apply(at, []Op{{Kind: OpWindow, Key: k, ID: fmt.Sprint(i), Window: time.Hour, Limit: 10}}, res); f != -1 {
			t.Fatalf("Apply: call %d refused", i)
		}
	}
	early := now.Add(-20 * time.Second)
	if n, ok, _ := m.Reserve(k, "late", early, time.Hour, 10); ok {
		t.Errorf("Reserve admitted an 11th call stamped before the other ten (n=%d)", n)
	}
	if f := b.Apply(early, []Op{{Kind: OpWindow, Key: k, ID: "late", Window: time.Hour, Limit: 10}}, res); f != 0 {
		t.Errorf("Apply admitted an 11th call stamped before the other ten (n=%d)", res[0].N)
	}
}
