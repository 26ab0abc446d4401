// Package irsf detects the shapes of International Revenue Share Fraud:
// dialing through one number range (sequentially or at random), many short
// test calls to one range, and calls forwarded to international or
// premium numbers.
package irsf

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

func rangeOf(digits string, strip int) string {
	if len(digits) <= strip+4 {
		return digits
	}
	return digits[:len(digits)-strip]
}

// Range detects many distinct numbers dialed in one range.
type Range struct {
	cfg   *config.RangeRule
	seen  map[string]map[string]int64 // tenant+range → number → last time
	latch detect.Latch
	n     int
}

// NewRange returns the detector, or nil when it is off.
func NewRange(cfg *config.RangeRule) *Range {
	if !cfg.On() {
		return nil
	}
	return &Range{cfg: cfg, seen: map[string]map[string]int64{}, latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*Range) Name() string { return "range_dialing" }

// Observe implements detect.Detector.
func (r *Range) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || !c.Chargeable || c.Rate < detect.ChargeableRate && !c.Premium {
		return
	}
	far := c.Far()
	rg := rangeOf(far, r.cfg.Digits)
	key := detect.Key(c.Rec.Tenant, rg)
	t := ts.Unix()
	m := r.seen[key]
	if m == nil {
		m = map[string]int64{}
		r.seen[key] = m
	}
	if m[far] < t {
		m[far] = t
	}
	span := int64(r.cfg.WindowS)
	n, first := 0, t
	for num, lt := range m {
		switch {
		case lt < t-span-86400:
			delete(m, num)
		case lt > t-span && lt <= t+span:
			n++
			first = min(first, lt)
		}
	}
	if r.n++; r.n%8192 == 0 {
		for k, m := range r.seen {
			if len(m) == 1 {
				for _, lt := range m {
					if lt < t-span {
						delete(r.seen, k)
					}
				}
			}
		}
	}
	if n < r.cfg.Numbers || r.latch.Active(key, t) {
		return
	}
	rule := &r.cfg.Rule
	r.latch.Set(key, t+max(int64(rule.ExpiresS), span))
	f := detect.Finding{Detector: r.Name(), Code: "range_dialing", Subject: "+" + rg,
		Text: fmt.Sprintf("tenant %s dialed %d different numbers in range +%s… within %s (extension %s)", c.Rec.Tenant, n, rg, time.Duration(span)*time.Second, c.Rec.Extension),
		Time: ts.UTC(), Since: time.Unix(first, 0).UTC(), Calls: n, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	detect.Apply(&f, rule, c, detect.Target{Kind: "prefix", Value: rg})
	if c.Running && rule.Action == config.ActionBlockAndAlert {
		// The call that completed the pattern is to the range being
		// blocked: left up, it would run to the per-call cost limit.
		f.EndCalls = []string{c.Rec.CallID}
	}
	emit(f)
}

// Test detects many short calls to one range: a fraudster testing that
// the route works before the real traffic.
type Test struct {
	cfg   *config.TestRule
	ws    *detect.Windows
	latch detect.Latch
}

// NewTest returns the detector, or nil when it is off.
func NewTest(cfg *config.TestRule) *Test {
	if !cfg.On() {
		return nil
	}
	return &Test{cfg: cfg, ws: detect.NewWindows(int64(cfg.WindowS) * 2), latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*Test) Name() string { return "test_calls" }

// Observe implements detect.Detector.
func (x *Test) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || !c.Chargeable || c.Rate < detect.ChargeableRate && !c.Premium || c.Rec.Billsec > int(x.cfg.MaxS) {
		return
	}
	rg := rangeOf(c.Far(), x.cfg.Digits)
	key := detect.Key(c.Rec.Tenant, rg)
	t := ts.Unix()
	span := int64(x.cfg.WindowS)
	w := x.ws.Add(key, t, c.Cost, c.Rec.CallID)
	n, cost, first, last := w.Peak(t, span)
	if n < x.cfg.Calls || x.latch.Active(key, last) {
		return
	}
	rule := &x.cfg.Rule
	x.latch.Set(key, last+max(int64(rule.ExpiresS), span))
	f := detect.Finding{Detector: x.Name(), Code: "test_calls", Subject: "+" + rg,
		Text: fmt.Sprintf("%d calls of at most %ds to range +%s… within %s (extension %s)", n, x.cfg.MaxS, rg, time.Duration(span)*time.Second, c.Rec.Extension),
		Time: time.Unix(last, 0).UTC(), Since: time.Unix(first, 0).UTC(), Calls: n, Cost: cost, CallIDs: w.IDs(first, last, 50)}
	detect.Apply(&f, rule, c, detect.Target{Kind: "prefix", Value: rg})
	emit(f)
}

// Forward detects calls forwarded to international or premium numbers.
type Forward struct {
	cfg   *config.Rule
	latch detect.Latch
}

// NewForward returns the detector, or nil when it is off.
func NewForward(cfg *config.Rule) *Forward {
	if !cfg.On() {
		return nil
	}
	return &Forward{cfg: cfg, latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*Forward) Name() string { return "call_forwarding" }

// Observe implements detect.Detector.
func (x *Forward) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Rec.Forwarded || !c.Chargeable {
		return
	}
	key := c.ExtKey()
	t := ts.Unix()
	if x.latch.Active(key, t) {
		return
	}
	x.latch.Set(key, t+max(int64(x.cfg.ExpiresS), 3600))
	f := detect.Finding{Detector: x.Name(), Code: "call_forwarding", Subject: c.Dest.E164,
		Text: fmt.Sprintf("extension %s forwarded a call from %s to %s (%s%s)", c.Rec.Extension, c.Rec.Caller, c.Dest.E164, c.Dest.Country, map[bool]string{true: ", premium"}[c.Premium]),
		Time: ts.UTC(), Since: ts.UTC(), Calls: 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	detect.Apply(&f, x.cfg, c, detect.Target{Kind: "number", Value: c.Far()})
	emit(f)
}

// EndOnly implements detect.EndOnly: a test call is known by its length.
func (*Test) EndOnly() bool { return true }
