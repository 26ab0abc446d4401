package redis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T, addrs ...string) *Store {
	t.Helper()
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: addrs, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	s, err := New(Options{Client: c, ProbeEvery: 50 * time.Millisecond, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if !s.Up() {
		t.Fatalf("redis at %v not reachable", addrs)
	}
	return s
}

// TestSameAsMemory runs one random sequence of operations on the memory
// store and on Redis and wants the same answer to every one.
func TestSameAsMemory(t *testing.T) {
	r := testenv.NewRedis(t)
	rs := newStore(t, r.Addr)
	m := counter.NewMemory(0)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []counter.Key{
		{Scope: counter.ExtIntlCalls, Tenant: "acme", Subject: "1001"},
		{Scope: counter.ExtIntlCalls, Tenant: "acme", Subject: "1002"},
		{Scope: counter.TenantIntlCalls, Tenant: "acme"},
		{Scope: counter.SystemIntlCalls},
	}
	slotKeys := []counter.Key{
		{Scope: counter.ExtIntlConcurrent, Tenant: "acme", Subject: "1001"},
		{Scope: counter.TenantConcurrent, Tenant: "acme"},
	}
	sumKey := counter.Key{Scope: counter.TenantIntlSpend, Tenant: "acme", Bucket: 20415}
	now := t0
	for step := range 3000 {
		now = now.Add(time.Duration(rng.IntN(40)) * time.Second)
		id := fmt.Sprint("c", rng.IntN(200))
		var ops []counter.Op
		for range 1 + rng.IntN(3) {
			switch rng.IntN(3) {
			case 0:
				ops = append(ops, counter.Op{Kind: counter.OpWindow, Key: keys[rng.IntN(len(keys))], ID: id, Window: time.Duration(1+rng.IntN(3)) * 10 * time.Minute, Limit: 1 + rng.IntN(6)})
			case 1:
				ops = append(ops, counter.Op{Kind: counter.OpSlot, Key: slotKeys[rng.IntN(len(slotKeys))], ID: id, Lease: now.Add(time.Duration(1+rng.IntN(20)) * time.Minute), Limit: 1 + rng.IntN(4)})
			case 2:
				ops = append(ops, counter.Op{Kind: counter.OpSumBelow, Key: sumKey, ID: id, Max: 5 + float64(rng.IntN(10))})
			}
		}
		// One key per kind at most once per batch, as the checks do.
		ops = dedupe(ops)
		mr := make([]counter.Result, len(ops))
		rr := make([]counter.Result, len(ops))
		// One batch in four is stamped up to two minutes before the
		// newest: both stores must count every event in the window
		// whatever the arrival order.
		at := now
		if rng.IntN(4) == 0 {
			at = now.Add(-time.Duration(rng.IntN(120)) * time.Second)
		}
		mf := m.Apply(at, ops, mr)
		rf := rs.Apply(at, ops, rr)
		if mf != rf {
			t.Fatalf("step %d: Apply(%+v) failed = %d on Redis, %d in memory", step, ops, rf, mf)
		}
		for i := range ops {
			if mf >= 0 && i != mf {
				continue // only the refusing op's result matters on refusal
			}
			a, b := mr[i], rr[i]
			if math.Abs(a.Sum-b.Sum) < 1e-9 {
				a.Sum = b.Sum
			}
			if a != b {
				t.Fatalf("step %d op %d %+v: Redis %+v, memory %+v", step, i, ops[i], rr[i], mr[i])
			}
		}
		switch rng.IntN(6) {
		case 0:
			k := slotKeys[rng.IntN(len(slotKeys))]
			if a, b := m.Release(k, id), rs.Release(k, id); a != b {
				t.Fatalf("step %d: Release = %v on Redis, %v in memory", step, b, a)
			}
		case 1:
			k := keys[rng.IntN(len(keys))]
			m.Unreserve(k, id)
			rs.Unreserve(k, id)
		case 2:
			amt := float64(rng.IntN(300)) / 100
			if a, b := m.Add(sumKey, id, amt), rs.Add(sumKey, id, amt); fmt.Sprintf("%.6f", a) != fmt.Sprintf("%.6f", b) {
				t.Fatalf("step %d: Add = %v on Redis, %v in memory", step, b, a)
			}
		case 3:
			k := slotKeys[rng.IntN(len(slotKeys))]
			l := now.Add(30 * time.Minute)
			if a, b := m.Extend(k, id, l), rs.Extend(k, id, l); a != b {
				t.Fatalf("step %d: Extend = %v on Redis, %v in memory", step, b, a)
			}
		}
		for _, k := range slotKeys {
			if a, b := m.Held(k, now), rs.Held(k, now); a != b {
				t.Fatalf("step %d: Held(%v) = %d on Redis, %d in memory", step, k, b, a)
			}
		}
		for _, k := range keys {
			if a, b := m.Count(k, now, 20*time.Minute), rs.Count(k, now, 20*time.Minute); a != b {
				t.Fatalf("step %d: Count(%v) = %d on Redis, %d in memory", step, k, b, a)
			}
		}
	}
	if rs.Stats().RoundTrips == 0 || rs.Stats().Fallbacks != 0 {
		t.Errorf("stats %+v: want round trips and no fallbacks", rs.Stats())
	}
}

// dedupe keeps the first op of each (kind, key).
func dedupe(ops []counter.Op) []counter.Op {
	type k struct {
		kind counter.OpKind
		key  counter.Key
	}
	seen := map[k]bool{}
	out := ops[:0]
	for _, op := range ops {
		if !seen[k{op.Kind, op.Key}] {
			seen[k{op.Kind, op.Key}] = true
			out = append(out, op)
		}
	}
	return out
}

func TestRetryIdempotentAndReset(t *testing.T) {
	r := testenv.NewRedis(t)
	s := newStore(t, r.Addr)
	k := counter.Key{Scope: counter.ExtIntlCalls, Tenant: "acme", Subject: "1001"}
	for i := range 3 {
		if n, ok, added := s.Reserve(k, "c1", t0.Add(time.Duration(i)*time.Second), time.Hour, 5); !ok || n != 1 || added != (i == 0) {
			t.Fatalf("reserve #%d of c1: n=%d ok=%v added=%v", i, n, ok, added)
		}
	}
	sk := counter.Key{Scope: counter.SystemSpend, Bucket: 20415}
	s.Add(sk, "c1", 1.25)
	if got := s.Add(sk, "c1", 1.25); got != 1.25 {
		t.Errorf("sum after a repeated add = %v, want 1.25", got)
	}
	odd := counter.Key{Scope: counter.ExtIntlCalls, Tenant: "we{i}rd:*", Subject: "a:b*"}
	s.Reserve(odd, "x", t0, time.Hour, 5)
	if got := s.Count(odd, t0, time.Hour); got != 1 {
		t.Errorf("count of a tenant with braces = %d, want 1", got)
	}
	list := s.List(0, "", "", t0)
	if len(list) != 3 {
		t.Errorf("List = %+v, want 3 counters", list)
	}
	if n := s.Reset(counter.ExtIntlCalls, "acme", ""); n != 1 {
		t.Errorf("Reset(ext_intl_calls, acme) = %d, want 1", n)
	}
	if got := s.Count(odd, t0, time.Hour); got != 1 {
		t.Errorf("reset of acme dropped another tenant's counter")
	}
	if n := s.Reset(0, "", ""); n != 2 {
		t.Errorf("Reset(all) = %d, want 2", n)
	}
}

// history is what every node saw, for the checker.
type history struct {
	mu  sync.Mutex
	ops []histOp
}

type histOp struct {
	kind     string // apply, release
	id       string
	admitted bool
	added    bool
	held     int
}

func (h *history) add(o histOp) { h.mu.Lock(); h.ops = append(h.ops, o); h.mu.Unlock() }

// runLoad has `nodes` stores (each its own client, like separate tollgate
// nodes) screen calls concurrently against a window limit and a slot
// limit, releasing half the slots; it checks the history: the window
// admitted exactly `limit` distinct calls, no call was counted twice,
// slots never exceeded their limit and all released slots are free.
func runLoad(t *testing.T, stores []*Store, tenant string, run int64) {
	const calls, limit, slots = 300, 37, 5
	win := counter.Key{Scope: counter.ExtIntlCalls, Tenant: tenant, Subject: "1001"}
	sys := counter.Key{Scope: counter.SystemIntlCalls, Bucket: run} // a fresh system key per run
	slot := counter.Key{Scope: counter.TenantConcurrent, Tenant: tenant}
	var h history
	var wg sync.WaitGroup
	var admittedSlots atomic.Int64
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%len(stores)]
			id := fmt.Sprint("call-", i)
			ops := []counter.Op{
				{Kind: counter.OpWindow, Key: win, ID: id, Window: time.Hour, Limit: limit},
				{Kind: counter.OpWindow, Key: sys, ID: id, Window: time.Hour, Limit: 1000},
			}
			res := make([]counter.Result, 2)
			f := s.Apply(t0, ops, res)
			if f == counter.Unavailable {
				t.Errorf("Apply: Redis unavailable")
			}
			h.add(histOp{kind: "apply", id: id, admitted: f < 0, added: f < 0 && res[0].Added})
			// A retry of the same call must not count again.
			if f < 0 {
				if f2 := s.Apply(t0, ops, res); f2 >= 0 || res[0].Added {
					t.Errorf("retry of admitted %s: failed=%d added=%v", id, f2, res[0].Added)
				}
			}
			sops := []counter.Op{{Kind: counter.OpSlot, Key: slot, ID: id, Lease: t0.Add(time.Hour), Limit: slots}}
			if s.Apply(t0, sops, res[:1]) < 0 {
				admittedSlots.Add(1)
				h.add(histOp{kind: "slot", id: id, admitted: true, held: res[0].N})
				if s.Release(slot, id) {
					h.add(histOp{kind: "release", id: id})
				}
			}
		}()
	}
	wg.Wait()
	admitted, seen := 0, map[string]int{}
	for _, o := range h.ops {
		switch o.kind {
		case "apply":
			if o.admitted {
				admitted++
				seen[o.id]++
				if !o.added {
					t.Errorf("%s admitted without being added", o.id)
				}
			}
		case "slot":
			if o.held > slots || o.held < 1 {
				t.Errorf("%s: %d slots held, limit %d", o.id, o.held, slots)
			}
		}
	}
	if admitted != limit {
		t.Errorf("admitted %d calls across %d nodes, want exactly %d", admitted, len(stores), limit)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s admitted %d times", id, n)
		}
	}
	if got := stores[0].Count(win, t0, time.Hour); got != limit {
		t.Errorf("window count %d, want %d", got, limit)
	}
	if got := stores[1].Count(sys, t0, time.Hour); got != limit {
		t.Errorf("system count %d, want %d: a refused call's reservation stayed", got, limit)
	}
	if got := stores[2].Held(slot, t0); got != 0 {
		t.Errorf("%d slots still held after every call released its own", got)
	}
	if admittedSlots.Load() < slots {
		t.Errorf("only %d slots ever admitted", admittedSlots.Load())
	}
}

func TestExactAcrossNodes(t *testing.T) {
	r := testenv.NewRedis(t)
	stores := []*Store{newStore(t, r.Addr), newStore(t, r.Addr), newStore(t, r.Addr)}
	runLoad(t, stores, "acme", 1)
	for _, s := range stores {
		st := s.Stats()
		if st.Applies == 0 || st.RoundTrips < st.Applies || st.Fallbacks != 0 {
			t.Errorf("stats %+v: want one round trip per Apply and no fallback", st)
		}
	}
}

func TestExactAcrossNodesCluster(t *testing.T) {
	c := testenv.NewRedisCluster(t, 3)
	stores := []*Store{newStore(t, c.Addrs...), newStore(t, c.Addrs...), newStore(t, c.Addrs...)}
	if !stores[0].cluster {
		t.Fatal("not a cluster client")
	}
	runLoad(t, stores, "acme", 1)
	runLoad(t, stores, "globex", 2)
}

func TestSlotLeaseExpires(t *testing.T) {
	r := testenv.NewRedis(t)
	s := newStore(t, r.Addr)
	k := counter.Key{Scope: counter.TenantConcurrent, Tenant: "acme"}
	// A node takes a slot and dies: nobody releases it.
	if _, ok, _ := s.Acquire(k, "dead-node-call", t0, t0.Add(2*time.Minute), 1); !ok {
		t.Fatal("first slot refused")
	}
	if _, ok, _ := s.Acquire(k, "other", t0.Add(time.Minute), t0.Add(time.Hour), 1); ok {
		t.Fatal("second slot admitted while the first is leased")
	}
	if _, ok, _ := s.Acquire(k, "other", t0.Add(2*time.Minute), t0.Add(time.Hour), 1); !ok {
		t.Fatal("slot not free after its lease ended")
	}
	ttl := s.c.PTTL(t.Context(), s.key(k)).Val()
	if ttl <= 0 || ttl > 62*time.Minute {
		t.Errorf("slot key TTL %v, want about an hour", ttl)
	}
}

func TestRedisDownAndBack(t *testing.T) {
	r := testenv.NewRedis(t)
	var states []error
	var mu sync.Mutex
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	s, err := New(Options{Client: c, ProbeEvery: 50 * time.Millisecond, OnState: func(err error) { mu.Lock(); states = append(states, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := counter.Key{Scope: counter.ExtIntlCalls, Tenant: "acme", Subject: "1001"}
	slot := counter.Key{Scope: counter.TenantConcurrent, Tenant: "acme"}
	spend := counter.Key{Scope: counter.TenantIntlSpend, Tenant: "acme", Bucket: 20415}
	op := func(id string) []counter.Op {
		return []counter.Op{{Kind: counter.OpWindow, Key: k, ID: id, Window: time.Hour, Limit: 3},
			{Kind: counter.OpSlot, Key: slot, ID: id, Lease: t0.Add(time.Hour), Limit: 10}}
	}
	res := make([]counter.Result, 2)
	if f := s.Apply(t0, op("before"), res); f != -1 {
		t.Fatalf("Apply with Redis up = %d", f)
	}
	r.Stop()
	// Redis is away: the store counts locally (bounded by the limit) and
	// says so.
	got := []int{}
	for i := range 4 {
		got = append(got, s.Apply(t0, op(fmt.Sprint("during-", i)), res))
	}
	if want := []int{counter.Unavailable, counter.Unavailable, counter.Unavailable, 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Apply while Redis is down = %v, want %v (local count bounded at 3)", got, want)
	}
	s.Release(slot, "during-0")
	s.Add(spend, "during-1", 2.5)
	if s.Up() {
		t.Error("Up() with Redis stopped")
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s.Up() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !s.Up() {
		t.Fatal("store did not recover within 10 s of Redis returning")
	}
	// What was counted locally is now in Redis: before (kept by the
	// append-only file) and during-0..2.
	if n := s.Count(k, t0, time.Hour); n != 4 {
		t.Errorf("window count after recovery = %d, want 4", n)
	}
	if n := s.Held(slot, t0); n != 3 {
		t.Errorf("slots held after recovery = %d, want 3 (before, during-1, during-2)", n)
	}
	if v := s.Sum(spend); v != 2.5 {
		t.Errorf("spend after recovery = %v, want 2.5", v)
	}
	// OnState(nil) follows the switch back (Up() may turn true first).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(states)
		mu.Unlock()
		if n >= 2 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) != 2 || states[0] == nil || states[1] != nil {
		t.Errorf("state changes %v, want [error, nil]", states)
	}
	if st := s.Stats(); st.Outages != 1 || st.Replayed < 5 || st.Pending != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestDelete: Delete removes one key in Redis at once; while Redis is
// away it drops the local count and the DEL is written, after the local
// events it follows, when Redis returns.
func TestDelete(t *testing.T) {
	r := testenv.NewRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	s, err := New(Options{Client: c, ProbeEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := counter.Key{Scope: counter.AttackIPFailures, Subject: "2001:db8::1"}
	b := counter.Key{Scope: counter.AttackAccountFailures, Subject: "alice"}
	for i := range 2 {
		s.Reserve(a, fmt.Sprint("a", i), t0, time.Minute, 5)
		s.Reserve(b, fmt.Sprint("b", i), t0, time.Minute, 5)
	}
	s.Delete(a)
	if n := s.Count(a, t0, time.Minute); n != 0 {
		t.Errorf("deleted key counts %d", n)
	}
	if n := s.Count(b, t0, time.Minute); n != 2 {
		t.Errorf("other key counts %d, want 2", n)
	}
	if ex := c.Exists(t.Context(), s.key(a)).Val(); ex != 0 {
		t.Errorf("deleted key still in Redis")
	}
	r.Stop()
	s.Reserve(b, "b-down", t0, time.Minute, 5) // counted locally, queued
	if s.Up() {
		t.Fatal("Up() with Redis stopped")
	}
	s.Delete(b)
	if n := s.Count(b, t0, time.Minute); n != 0 {
		t.Errorf("local count after Delete while down = %d", n)
	}
	s.Reserve(b, "b-after", t0, time.Minute, 5)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s.Up() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !s.Up() {
		t.Fatal("store did not recover")
	}
	// b0, b1 (in Redis before) and b-down were deleted; b-after remains.
	if n := s.Count(b, t0, time.Minute); n != 1 {
		t.Errorf("count after recovery = %d, want 1 (only the event after the delete)", n)
	}
}
