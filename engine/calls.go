package engine

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/check/spend"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

// liveCall is what the engine remembers about a call it let through.
// It is kept small (96 bytes): a redirect server holds one for every call
// of the last call_setup_s. Times are Unix nanoseconds, 0 for "not yet".
type liveCall struct {
	tenant   string
	rate     float64
	cost     float64
	screened int64
	answered int64
	ended    int64
	lease    int64
	keys     *callKeys // nil: no slot held and not international
	maxDur   int32
	duration int32
	intl     bool
}

// callKeys are the counters a call's end touches: the concurrency slots it
// holds and, for an international call, the spend it adds to.
type callKeys struct {
	slots    [2]counter.Key
	nslots   int
	spendKey counter.Key
}

// slotKeys returns the slots the call holds.
func (lc *liveCall) slotKeys() []counter.Key {
	if lc.keys == nil {
		return nil
	}
	return lc.keys.slots[:lc.keys.nslots]
}

func (lc *liveCall) spendKey() counter.Key {
	if lc.keys == nil {
		return counter.Key{}
	}
	return lc.keys.spendKey
}

func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

const callShards = 32

type callTable struct {
	seed   maphash.Seed
	shards [callShards]struct {
		mu sync.Mutex
		m  map[string]*liveCall
	}
}

func (t *callTable) init() {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].m = map[string]*liveCall{}
	}
}

func (t *callTable) shard(id string) int { return int(maphash.String(t.seed, id) % callShards) }

// add registers a call let through; it reports false when the id is
// already known (a retried screen).
func (t *callTable) add(c *screen.Call, v *screen.Verdict, stale time.Duration) bool {
	var ks callKeys
	for _, h := range c.Holds() {
		if h.Kind == screen.SlotHold && ks.nslots < len(ks.slots) {
			ks.slots[ks.nslots] = h.Key
			ks.nslots++
		}
	}
	if c.International {
		ks.spendKey = spend.Key(c)
	}
	var lc *liveCall
	if ks.nslots > 0 || c.International {
		// The call and its keys in one allocation.
		both := &struct {
			liveCall
			keys callKeys
		}{keys: ks}
		lc = &both.liveCall
		lc.keys = &both.keys
	} else {
		lc = new(liveCall)
	}
	lc.tenant, lc.intl, lc.rate, lc.maxDur = c.Tenant, c.International, c.Dest.Rate, int32(v.MaxDuration)
	lc.screened, lc.lease = c.Time.UnixNano(), c.Time.Add(stale).UnixNano()
	s := &t.shards[t.shard(c.ID)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.m[c.ID]; dup {
		return false
	}
	s.m[c.ID] = lc
	return true
}

func (t *callTable) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for _, c := range s.m {
			if c.ended == 0 {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Event is an answer or end of a screened call.
type Event struct {
	CallID   string
	Type     string // answer, end (cancel, busy, noanswer, failed count as end)
	Time     time.Time
	Duration *int // seconds; for end, when the front end knows it
}

// EventResult says what an event did.
type EventResult struct {
	CallID    string  `json:"call_id"`
	Type      string  `json:"type"`
	Duplicate bool    `json:"duplicate,omitempty"` // already applied; nothing changed
	Late      bool    `json:"late,omitempty"`      // arrived after the call ended; ignored
	Duration  int     `json:"duration_s,omitempty"`
	Cost      float64 `json:"cost,omitempty"`
	Released  int     `json:"released_slots,omitempty"`
	// MaxDuration repeats, on an answer, the verdict's max_duration_s:
	// the longest the call may last from now (a proxy's dialog timer).
	// The API shortens it to the detectors' timer when they have one
	// (action.CallTimer).
	MaxDuration int `json:"max_duration_s,omitempty"`
}

// maxEventSkew bounds how far an event's time may lie from its call's
// screening time.
const maxEventSkew = 7 * 24 * time.Hour

// Event applies an answer or end event. Unknown call ids get
// ErrUnknownCall; duplicates and events out of order are reported in the
// result and change nothing.
func (e *Engine) Event(_ context.Context, ev Event) (EventResult, error) {
	res := EventResult{CallID: ev.CallID, Type: ev.Type}
	typ := ev.Type
	switch typ {
	case "answer", "end":
	case "cancel", "busy", "noanswer", "no_answer", "failed", "rejected":
		typ = "end"
	default:
		return res, fmt.Errorf("%w: type %q (want answer or end)", ErrInvalid, ev.Type)
	}
	if ev.CallID == "" {
		return res, fmt.Errorf("%w: call_id is required", ErrInvalid)
	}
	if ev.Duration != nil && (*ev.Duration < 0 || *ev.Duration > int(maxEventSkew/time.Second)) {
		return res, fmt.Errorf("%w: duration_s %d out of range", ErrInvalid, *ev.Duration)
	}
	if ev.Time.IsZero() {
		ev.Time = e.Clock().Now()
	} else if err := e.checkTime(ev.Time); err != nil {
		return res, err
	}
	e.blocks.Clock().Observe(ev.Time)
	e.sweepDue()
	s := &e.calls.shards[e.calls.shard(ev.CallID)]
	s.mu.Lock()
	lc := s.m[ev.CallID]
	if lc == nil {
		s.mu.Unlock()
		e.metrics.unknown.Add(1)
		return res, fmt.Errorf("%w %q", ErrUnknownCall, ev.CallID)
	}
	screened := unixTime(lc.screened)
	if d := ev.Time.Sub(screened); d < -time.Minute || d > maxEventSkew {
		s.mu.Unlock()
		return res, fmt.Errorf("%w: event time %s is %s from the call's screening time", ErrInvalid, ev.Time.Format(time.RFC3339), d.Round(time.Second))
	}
	if ev.Time.Before(screened) {
		ev.Time = screened
	}
	if lc.ended != 0 {
		s.mu.Unlock()
		if typ == "end" {
			res.Duplicate = true
		} else {
			res.Late = true
		}
		res.Duration, res.Cost = int(lc.duration), lc.cost
		return res, nil
	}
	// The keys never change once the call is added: read outside the lock.
	slots := lc.slotKeys()
	tenant, intl := lc.tenant, lc.intl
	if typ == "answer" {
		if lc.answered != 0 {
			s.mu.Unlock()
			res.Duplicate = true
			return res, nil
		}
		lc.answered = ev.Time.UnixNano()
		lease := ev.Time.Add(e.stale)
		if lc.maxDur > 0 {
			lease = ev.Time.Add(min(time.Duration(lc.maxDur)*time.Second+2*time.Minute, e.stale))
		}
		lc.lease = lease.UnixNano()
		res.MaxDuration = int(lc.maxDur)
		s.mu.Unlock()
		for _, k := range slots {
			e.counters.Extend(k, ev.CallID, lease)
		}
		e.record(ev, tenant, intl, res)
		return res, nil
	}
	// end
	dur := 0
	switch {
	case ev.Duration != nil:
		dur = *ev.Duration
		if lc.answered == 0 && dur > 0 {
			lc.answered = ev.Time.Add(-time.Duration(dur) * time.Second).UnixNano()
		}
	case lc.answered != 0:
		// An end stamped before its answer (events out of order) lasted 0 s.
		dur = max(0, int(math.Round(ev.Time.Sub(unixTime(lc.answered)).Seconds())))
	}
	lc.ended = ev.Time.UnixNano()
	lc.duration = int32(dur)
	cost := float64(dur) / 60 * lc.rate
	lc.cost = cost
	spendKey := lc.spendKey()
	s.mu.Unlock()
	for _, k := range slots {
		if e.counters.Release(k, ev.CallID) {
			res.Released++
		}
	}
	res.Duration, res.Cost = dur, cost
	if intl && cost > 0 {
		e.counters.Add(spendKey, ev.CallID, cost)
	}
	if cost > 0 {
		e.addSystemSpend(ev, cost)
	}
	e.record(ev, tenant, intl, res)
	e.metrics.events.Add(1)
	return res, nil
}

func (e *Engine) record(ev Event, tenant string, intl bool, res EventResult) {
	if e.rec == nil {
		return
	}
	typ := "answer"
	if res.Type != "answer" {
		typ = "end"
	}
	e.rec.Event(store.CallEvent{CallID: ev.CallID, Type: typ, Time: ev.Time, Tenant: tenant, Duration: res.Duration, Cost: res.Cost, International: intl})
}

// addSystemSpend adds to every tenant's spend of the UTC day and raises an
// alert once when it crosses system.alert_threshold_spend.
func (e *Engine) addSystemSpend(ev Event, cost float64) {
	th := e.Config().System.AlertThresholdSpend
	k := counter.Key{Scope: counter.SystemSpend, Bucket: ev.Time.UTC().Unix() / 86400}
	before := e.counters.Sum(k)
	after := e.counters.Add(k, ev.CallID, cost)
	if th.On && before < th.V && after >= th.V && e.alerter != nil {
		e.alerter.Alert(store.Alert{Time: ev.Time, Severity: "critical", Code: "system_spend_threshold",
			Text:   fmt.Sprintf("spend across all tenants reached %.2f today (threshold %.2f)", after, th.V),
			Status: "open"})
	}
}

// endedKeep is how long the call table keeps a call after its end: a
// repeated end or a late answer within it is reported as such, and a
// retried screen takes nothing. It is longer than the longest
// server.max_clock_skew_s (600 s), so a state snapshot holds every ended
// call whose decision a restart replays from the log's tail.
const endedKeep = 15 * time.Minute

// Sweep forgets calls that ended more than endedKeep before t, calls let
// through that got no event (answer or end) within server.call_setup_s,
// and calls whose lease ran out without an end event. The slots of a
// call forgotten for want of a first event stay held until their own
// lease runs out in the counter store (maximum duration + 2 min, else
// stale_call_after_s): forgetting it frees memory, not concurrency.
// Those of a call whose lease ran out are released. It returns how many
// calls' leases ran out; the calls forgotten without an event are
// counted in the metrics (tollgate_engine_calls_without_event_total).
// A Recorder that is a Forgetter is told every call dropped unended.
func (e *Engine) Sweep(t time.Time) (expired int) {
	var dropped []string
	noEvent := 0
	now, keepAfter, setupBefore := t.UnixNano(), t.Add(-endedKeep).UnixNano(), t.Add(-e.setup).UnixNano()
	for i := range e.calls.shards {
		s := &e.calls.shards[i]
		s.mu.Lock()
		for id, lc := range s.m {
			switch {
			case lc.ended != 0:
				if lc.ended < keepAfter {
					delete(s.m, id)
				}
			case lc.answered == 0 && lc.screened <= setupBefore:
				// Its slots keep their lease in the counter store.
				delete(s.m, id)
				dropped = append(dropped, id)
				noEvent++
			case lc.lease <= now:
				for _, k := range lc.slotKeys() {
					e.counters.Release(k, id)
				}
				delete(s.m, id)
				dropped = append(dropped, id)
				expired++
			}
		}
		s.mu.Unlock()
	}
	e.counters.Sweep(t)
	e.metrics.expired.Add(int64(expired))
	e.metrics.noEvent.Add(int64(noEvent))
	if f, ok := e.rec.(Forgetter); ok && len(dropped) > 0 {
		slices.Sort(dropped) // the same calls in the same order on every run, whatever the maps' order
		f.Forget(dropped)
	}
	return expired
}
