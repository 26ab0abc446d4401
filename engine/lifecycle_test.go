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

// TestStaleCallExpires: a call whose end never comes frees its slot when
// its lease runs out, judged by event time.
func TestStaleCallExpires(t *testing.T) {
	e, _ := newEngine(t, tenPerHour+"server: {stale_call_after_s: 600}\n")
	key := keyExtConcurrent("acme", "1001")
	for i := 0; i < 3; i++ {
		screenOne(t, e, call(fmt.Sprint("st", i), "1001", "+4930123456", monday10))
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
