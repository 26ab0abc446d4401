package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/check/spend"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestLifecycleProperties drives the engine with random screens and
// events — answers, ends, cancels, duplicates, events out of order, events
// for unknown calls — and checks after every step that the concurrency
// slots held equal the calls let through and not yet ended (never more,
// never negative), that no window holds more than its limit, and that
// spend counts each ended call once. At the end, every call is ended and
// nothing may remain held.
func TestLifecycleProperties(t *testing.T) {
	const pol = `
defaults:
  country: US
  timezone: UTC
  on_error: fail_closed
  destinations: {default: allow}
  limits:
    extension:
      international_calls_per_hour: 6
      concurrent_international: 3
    account:
      international_spend_daily: off
`
	ctx := context.Background()
	for seed := uint64(1); seed <= 25; seed++ {
		e, _ := newEngine(t, pol)
		rng := rand.New(rand.NewPCG(seed, 99))
		now := monday10
		type model struct {
			allowed, ended bool
			dur            int
		}
		calls := map[string]*model{}
		var ids []string
		wantSpend := 0.0
		rate := 0.0
		slotKey := counter.Key{Scope: counter.ExtIntlConcurrent, Tenant: "acme", Subject: "1001"}
		winKey := counter.Key{Scope: counter.ExtIntlCalls, Tenant: "acme", Subject: "1001"}
		for step := 0; step < 400; step++ {
			now = now.Add(time.Duration(rng.IntN(60)) * time.Second) // stays within one local day
			switch op := rng.IntN(6); {
			case op <= 1 || len(ids) == 0: // screen a new call, or retry an old one
				id := fmt.Sprintf("s%d-%d", seed, step)
				if len(ids) > 0 && rng.IntN(5) == 0 {
					id = ids[rng.IntN(len(ids))]
				}
				c := call(id, "1001", "+442071234567", now)
				v := screenOne(t, e, c)
				rate = c.Dest.Rate
				if m, seen := calls[id]; seen {
					// A retry must not take a second slot (the invariant
					// below checks); a call refused before may get through now.
					if !m.allowed && v.Enforced != screen.Reject {
						m.allowed = true
					}
					continue
				}
				calls[id] = &model{allowed: v.Enforced != screen.Reject}
				ids = append(ids, id)
			default:
				id := ids[rng.IntN(len(ids))]
				if rng.IntN(20) == 0 {
					id = "unknown-" + id
				}
				typ := []string{"answer", "end", "cancel", "busy"}[rng.IntN(4)]
				at := now
				if rng.IntN(4) == 0 { // out of order: an event stamped earlier
					at = now.Add(-time.Duration(rng.IntN(60)) * time.Second)
				}
				ev := Event{CallID: id, Type: typ, Time: at}
				if typ == "end" && rng.IntN(2) == 0 {
					d := rng.IntN(600)
					ev.Duration = &d
				}
				res, err := e.Event(ctx, ev)
				m := calls[id]
				if m == nil || !m.allowed {
					if err == nil {
						t.Fatalf("seed %d step %d: event for unknown or refused call %s accepted", seed, step, id)
					}
					continue
				}
				if err != nil {
					// Events stamped before the screening time by more than a minute are refused.
					continue
				}
				if typ != "answer" && !m.ended {
					m.ended = true
					m.dur = res.Duration
					if spendKeyCost := float64(res.Duration) / 60 * rate; spendKeyCost != res.Cost {
						t.Fatalf("seed %d: cost %v, want %v", seed, res.Cost, spendKeyCost)
					}
					wantSpend += res.Cost
				} else if typ != "answer" && m.ended && !res.Duplicate {
					t.Fatalf("seed %d step %d: second end of %s not reported as duplicate", seed, step, id)
				}
			}
			live := 0
			for _, m := range calls {
				if m.allowed && !m.ended {
					live++
				}
			}
			if h := e.Counters().Held(slotKey, now); h != live {
				t.Fatalf("seed %d step %d: %d slots held, %d calls live", seed, step, h, live)
			}
			if n := e.Counters().Count(winKey, now, time.Hour); n > 6 {
				t.Fatalf("seed %d step %d: %d calls in the hour window, limit 6", seed, step, n)
			}
		}
		for id, m := range calls {
			if m.allowed && !m.ended {
				res, err := e.Event(ctx, Event{CallID: id, Type: "end", Time: now})
				if err != nil {
					t.Fatalf("seed %d: final end of %s: %v", seed, id, err)
				}
				wantSpend += res.Cost
			}
		}
		if h := e.Counters().Held(slotKey, now); h != 0 {
			t.Fatalf("seed %d: %d slots leaked after every call ended", seed, h)
		}
		if e.LiveCalls() != 0 {
			t.Fatalf("seed %d: %d live calls after every call ended", seed, e.LiveCalls())
		}
		c := call("probe", "1001", "+442071234567", monday10)
		c.Local = monday10.In(e.Config().Defaults.Location)
		c.Tenant = "acme"
		got := e.Counters().Sum(spend.Key(c))
		if d := got - wantSpend; d > 1e-9 || d < -1e-9 {
			t.Fatalf("seed %d: spend %v, model %v", seed, got, wantSpend)
		}
	}
}

// TestStaleCallExpires: an answered call whose end never comes frees its
// slot when its lease runs out, judged by event time.
func TestStaleCallExpires(t *testing.T) {
	e, _ := newEngine(t, tenPerHour+"server: {stale_call_after_s: 600}\n")
	key := keyExtConcurrent("acme", "1001")
	for i := 0; i < 3; i++ {
		screenOne(t, e, call(fmt.Sprint("st", i), "1001", "+4930123456", monday10))
		if _, err := e.Event(context.Background(), Event{CallID: fmt.Sprint("st", i), Type: "answer", Time: monday10.Add(10 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if v := screenOne(t, e, call("st3", "1001", "+4930123456", monday10.Add(time.Minute))); v.Action != screen.Reject {
		t.Fatalf("4th concurrent call allowed")
	}
	later := monday10.Add(11 * time.Minute)
	if v := screenOne(t, e, call("st4", "1001", "+4930123456", later)); v.Action != screen.Allow {
		t.Errorf("after the leases ran out: %v (%v)", v.Action, codes(v))
	}
	if n := e.Sweep(later); n != 3 {
		t.Errorf("swept %d stale calls, want 3", n)
	}
	if h := e.Counters().Held(key, later); h != 1 {
		t.Errorf("held after sweep = %d, want 1 (st4)", h)
	}
}

// forgetRecorder is a recorder that is told which calls the engine
// dropped unended (a Forgetter, as the detectors' tee is).
type forgetRecorder struct {
	recorder
	forgot map[string]int
}

func (r *forgetRecorder) Forget(ids []string) {
	for _, id := range ids {
		r.forgot[id]++
	}
}

func newForgetEngine(t *testing.T, policy string) (*Engine, *forgetRecorder) {
	t.Helper()
	e, _ := newEngine(t, policy)
	rec := &forgetRecorder{forgot: map[string]int{}}
	e.rec = rec
	return e, rec
}

// tableSize counts every entry of the call table, ended ones too.
func tableSize(e *Engine) int {
	n := 0
	for i := range e.calls.shards {
		s := &e.calls.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// TestNoEventKeepsSlots (attack): a caller whose calls never get an
// answer or end event — a redirect deployment posts none, or an attacker
// suppresses them — has them forgotten by the call table after
// call_setup_s, but their concurrency slots stay held until the lease the
// screening gave them (max duration 3600 s + 2 min here): forgetting
// frees memory, not concurrency. An end sent once the call is forgotten
// is refused and frees nothing.
func TestNoEventKeepsSlots(t *testing.T) {
	e, rec := newForgetEngine(t, tenPerHour+"server: {call_setup_s: 60}\n")
	ctx := context.Background()
	key := keyExtConcurrent("acme", "1001")
	for i := range 3 {
		if v := screenOne(t, e, call(fmt.Sprint("nx", i), "1001", "+4930123456", monday10)); v.Action != screen.Allow {
			t.Fatalf("call %d: %v (%s)", i, v.Action, codes(v))
		}
	}
	if n := e.Sweep(monday10.Add(59 * time.Second)); n != 0 || e.LiveCalls() != 3 {
		t.Fatalf("before call_setup_s: swept %d, %d live; want 0 and 3", n, e.LiveCalls())
	}
	at := monday10.Add(61 * time.Second)
	if n := e.Sweep(at); n != 0 {
		t.Errorf("Sweep reported %d expired leases; want 0 (forgotten calls are counted apart)", n)
	}
	if tableSize(e) != 0 || e.metrics.noEvent.Load() != 3 || len(rec.forgot) != 3 {
		t.Fatalf("after call_setup_s: %d in the table, %d counted, %d forgotten downstream; want 0, 3, 3",
			tableSize(e), e.metrics.noEvent.Load(), len(rec.forgot))
	}
	if h := e.Counters().Held(key, at); h != 3 {
		t.Errorf("slots held after the calls were forgotten = %d, want 3", h)
	}
	if v := screenOne(t, e, call("nx3", "1001", "+4930123456", monday10.Add(2*time.Minute))); v.Action != screen.Reject || !v.Has("concurrency_limit") {
		t.Errorf("4th concurrent call after the others were forgotten: %v (%s), want concurrency_limit", v.Action, codes(v))
	}
	if _, err := e.Event(ctx, Event{CallID: "nx0", Type: "end", Time: monday10.Add(3 * time.Minute)}); err == nil {
		t.Errorf("an end for a forgotten call was accepted")
	}
	if e.metrics.unknown.Load() != 1 {
		t.Errorf("events for unknown calls counted %d, want 1", e.metrics.unknown.Load())
	}
	if h := e.Counters().Held(key, monday10.Add(3*time.Minute)); h != 3 {
		t.Errorf("slots held after an end for a forgotten call = %d, want 3", h)
	}
	if v := screenOne(t, e, call("nx4", "1001", "+4930123456", monday10.Add(61*time.Minute))); v.Action != screen.Reject {
		t.Errorf("within the lease (61 min): %v (%s), want reject", v.Action, codes(v))
	}
	if v := screenOne(t, e, call("nx5", "1001", "+4930123456", monday10.Add(63*time.Minute))); v.Action != screen.Allow {
		t.Errorf("after the lease (63 min): %v (%s), want allow", v.Action, codes(v))
	}
}

// TestAnsweredWithoutEndBounded (attack): a call answered whose end never
// comes stays (and holds its slot) until its maximum duration + 2 min,
// then is expired, its slot released and its memory freed — not the 4 h
// of stale_call_after_s, and not call_setup_s either.
func TestAnsweredWithoutEndBounded(t *testing.T) {
	e, rec := newForgetEngine(t, tenPerHour+"server: {call_setup_s: 60}\n")
	key := keyExtConcurrent("acme", "1001")
	screenOne(t, e, call("ans", "1001", "+4930123456", monday10))
	if _, err := e.Event(context.Background(), Event{CallID: "ans", Type: "answer", Time: monday10.Add(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	mid := monday10.Add(62 * time.Minute) // lease: answer + 3600 s + 2 min = 62 min 30 s
	if n := e.Sweep(mid); n != 0 || e.LiveCalls() != 1 || e.Counters().Held(key, mid) != 1 {
		t.Fatalf("within the lease: swept %d, %d live, %d held; want 0, 1, 1", n, e.LiveCalls(), e.Counters().Held(key, mid))
	}
	end := monday10.Add(63 * time.Minute)
	if n := e.Sweep(end); n != 1 || tableSize(e) != 0 || e.Counters().Held(key, end) != 0 || rec.forgot["ans"] != 1 {
		t.Errorf("after the lease: swept %d, %d in the table, %d held, forgotten %d times; want 1, 0, 0, 1",
			n, tableSize(e), e.Counters().Held(key, end), rec.forgot["ans"])
	}
}

// TestCallTableBounded (attack): 6,000 calls over 10 minutes of event
// time, none of which ever gets an event, and 2,000 more that end
// normally. Swept every 30 s as serve does, the table never holds more
// than the calls of the last call_setup_s + one sweep interval (plus the
// ended ones of the last 15 min), and once those have passed it is empty:
// no call pins memory for the 4 h of stale_call_after_s. Every dropped
// unended call is handed downstream exactly once.
func TestCallTableBounded(t *testing.T) {
	e, rec := newForgetEngine(t, "server: {call_setup_s: 60}\n"+`
defaults:
  country: US
  timezone: UTC
  on_error: fail_closed
  destinations: {default: allow}
`)
	ctx := context.Background()
	const n, every = 8000, 75 * time.Millisecond // 10 min
	next := monday10.Add(30 * time.Second)
	maxTable, silent := 0, 0
	var last time.Time
	for i := range n {
		at := monday10.Add(time.Duration(i) * every)
		id := fmt.Sprint("c", i)
		c := &screen.Call{ID: id, Tenant: "acme", Extension: fmt.Sprint(1000 + i%500), Callee: "+12125550100", Time: at}
		if v := screenOne(t, e, c); v.Action != screen.Allow {
			t.Fatalf("call %d: %v (%s)", i, v.Action, codes(v))
		}
		if i%4 == 0 {
			if _, err := e.Event(ctx, Event{CallID: id, Type: "end", Time: at}); err != nil {
				t.Fatal(err)
			}
		} else {
			silent++
		}
		if !at.Before(next) {
			e.Sweep(at)
			next = at.Add(30 * time.Second)
			// Unended calls of the last 90 s (≈ 900) and ended ones of
			// the last 15 min (at most all 2,000).
			if live := e.LiveCalls(); live > int(90*time.Second/every) {
				t.Fatalf("at %s: %d unended calls in the table; want ≤ %d", at.Sub(monday10), live, int(90*time.Second/every))
			}
			maxTable = max(maxTable, tableSize(e))
		}
		last = at
	}
	e.Sweep(last.Add(61 * time.Second))
	if e.LiveCalls() != 0 {
		t.Errorf("%d unended calls left after call_setup_s", e.LiveCalls())
	}
	e.Sweep(last.Add(16 * time.Minute))
	if tableSize(e) != 0 {
		t.Errorf("%d calls left in the table 16 min after the last", tableSize(e))
	}
	if len(rec.forgot) != silent || e.metrics.noEvent.Load() != int64(silent) {
		t.Errorf("%d calls forgotten downstream, %d counted; want %d each", len(rec.forgot), e.metrics.noEvent.Load(), silent)
	}
	for id, k := range rec.forgot {
		if k != 1 {
			t.Errorf("%s forgotten %d times", id, k)
		}
	}
	t.Logf("largest table: %d entries of %d calls", maxTable, n)
}
