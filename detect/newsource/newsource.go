// Package newsource detects stolen credentials used from a new place:
// chargeable calls of a tenant, with a warm baseline, from a source
// address it first used less than a day ago. The second such call within
// the window is the finding (one new address with one call is a remote
// agent as often as a thief); its default action blocks the address for
// the tenant and the extension's international and premium calling.
//
// An ordinary call (not chargeable, or cheap to a country the tenant
// calls as a matter of course) is no evidence: a remote agent's new home
// address (a new lease) carries its agent's usual calls. An address that
// has already carried ordinary calls of other
// extensions of the tenant today is in legitimate use (an office NAT):
// blocking it would refuse the agents behind it, so the finding acts on
// the extension and the destination instead (Established). The
// intruder's own calls never make an address established.
package newsource

import (
	"fmt"
	"slices"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// NewSource is the detector.
type NewSource struct {
	cfg   *config.NewSourceRule
	bl    *config.Baseline
	base  *baseline.Learner
	ws    *detect.Windows
	latch detect.Latch
	// ordinary counts, per tenant and new address, the ordinary calls it
	// carried on its current day.
	ordinary map[string]dayCount
	// refused counts, per tenant and address with a finding in force,
	// the chargeable calls screening refused (renew).
	refused map[string]refusedWhile
}

type dayCount struct {
	day  int64
	n    int
	exts []string // the extensions that placed them (a few)
}

// Established is how many ordinary calls (not to a chargeable
// destination, or cheap to a country the tenant calls as a matter of
// course) of extensions other than the finding's a new address must have
// carried on the day for it to count as in legitimate use: the finding
// then blocks the extension and the destination, not the address.
const Established = 2

// maxOrdinary bounds the ordinary-call counters; past it, those of
// earlier days are dropped.
const maxOrdinary = 100000

// New returns the detector, or nil when it is off.
func New(cfg *config.NewSourceRule, bl *config.Baseline, base *baseline.Learner) *NewSource {
	if !cfg.On() {
		return nil
	}
	return &NewSource{cfg: cfg, bl: bl, base: base, ws: detect.NewWindows(int64(cfg.WindowS) * 2), latch: detect.Latch{}, ordinary: map[string]dayCount{}}
}

// Name implements detect.Detector.
func (*NewSource) Name() string { return "new_source" }

// Observe implements detect.Detector.
func (n *NewSource) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	ip := c.Rec.SourceIP
	if ip == "" || !c.Outbound() {
		return
	}
	t := ts.Unix()
	_, p := c.Profiles(n.base)
	key := detect.Key(c.Rec.Tenant, ip)
	ordinary := !c.Chargeable || c.Rate < detect.ChargeableRate && !c.Premium && p != nil && p.Countries[c.Class] >= detect.UsualCalls
	if !ordinary && n.renew(c, key, t, emit) {
		return
	}
	// An address is known once its first call is a full day old (it was
	// seen on a day before yesterday's). The calendar day alone would not
	// do: an intruder's first call at 23:55 UTC would make the address
	// known to his next one, at 00:05.
	if !p.Warm(t, n.bl.WarmupDays, n.bl.MinCalls) || p.KnowsSource(ip, t-86400) {
		return
	}
	if ordinary {
		// An ordinary call: no evidence (a remote agent's new lease
		// carries its agent's usual calls), and a sign the address is in
		// use if another extension than the finding's placed it.
		if !c.Attempt {
			n.count(key, c.Rec.Extension, t)
		}
		return
	}
	span := int64(n.cfg.WindowS)
	w := n.ws.Add(key, t, c.Cost, c.Rec.CallID)
	k, cost, first, last := w.Peak(t, span)
	if k < n.cfg.Calls || n.latch.Active(key, last) {
		return
	}
	n.latch.Set(key, last+max(int64(n.cfg.ExpiresS), span))
	r, inUse := n.rule(key, ip, c.Rec.Extension, t)
	f := detect.Finding{Detector: n.Name(), Code: "new_source", Subject: ip,
		Text: fmt.Sprintf("tenant %s: %d chargeable calls from %s, an address it never used before today (extension %s, last to %s)",
			c.Rec.Tenant, k, ip, c.Rec.Extension, c.Dest.E164) + inUse,
		Time: time.Unix(last, 0).UTC(), Since: time.Unix(first, 0).UTC(), Calls: k, Cost: cost, CallIDs: w.IDs(first, last, 50)}
	detect.Apply(&f, r, c, detect.Target{Kind: "number", Value: c.Far()})
	emit(f)
}

// rule is the rule a finding on the address applies: the detector's, or
// with the extension blocked instead of the address when the address is
// in legitimate use (established), with the words that say so.
func (n *NewSource) rule(key, ip, ext string, t int64) (*config.Rule, string) {
	r := &n.cfg.Rule
	if r.Block != config.BlockSourceIP || !n.established(key, ext, t) {
		return r, ""
	}
	// The address carries the tenant's ordinary calls as well (an office
	// NAT, an agent's home line): act on the extension and what it
	// called, not on everyone behind the address.
	rr := *r
	rr.Block = config.BlockExtension
	return &rr, fmt.Sprintf("; %s also carried ordinary calls of other extensions of the tenant today, so the extension and the destination are blocked, not the address", ip)
}

// refusedWhile counts the chargeable calls from an address refused while
// its finding was in force (latched), and the last one's time.
type refusedWhile struct {
	n    int
	last int64
}

// renew follows an address after its finding: chargeable calls from it
// that screening refused while the finding was in force are counted, and
// when new_source.calls or more were, the first chargeable call let
// through after it expired — within its expires_s of the last refusal —
// is the finding again (ended if running): an intruder who keeps calling
// through a 24-hour block is still there when it lapses. Reports whether
// it judged c.
func (n *NewSource) renew(c *detect.Call, key string, t int64, emit detect.Emit) bool {
	if c.Attempt {
		if n.latch.Active(key, t) {
			if n.refused == nil {
				n.refused = map[string]refusedWhile{}
			}
			r := n.refused[key]
			r.n++
			r.last = t
			n.refused[key] = r
			if len(n.refused) > maxOrdinary {
				for k, v := range n.refused {
					if v.last < t-int64(n.cfg.ExpiresS) {
						delete(n.refused, k)
					}
				}
			}
		}
		return false
	}
	rw, ok := n.refused[key]
	if !ok || n.latch.Active(key, t) {
		return false
	}
	delete(n.refused, key)
	if rw.n < n.cfg.Calls || t-rw.last > int64(n.cfg.ExpiresS) {
		return false
	}
	ip := c.Rec.SourceIP
	n.latch.Set(key, t+max(int64(n.cfg.ExpiresS), int64(n.cfg.WindowS)))
	r, inUse := n.rule(key, ip, c.Rec.Extension, t)
	f := detect.Finding{Detector: n.Name(), Code: "new_source", Subject: ip,
		Text: fmt.Sprintf("tenant %s: chargeable call from %s again once its new_source finding expired, after %d chargeable calls from it were refused while it was in force, the last at %s (extension %s, to %s)",
			c.Rec.Tenant, ip, rw.n, time.Unix(rw.last, 0).UTC().Format(time.RFC3339), c.Rec.Extension, c.Dest.E164) + inUse,
		Time: c.Rec.Start.UTC(), Since: time.Unix(rw.last, 0).UTC(), Calls: rw.n + 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	detect.Apply(&f, r, c, detect.Target{Kind: "number", Value: c.Far()})
	if c.Running && f.Action == string(config.ActionBlockAndAlert) {
		f.EndCalls = []string{c.Rec.CallID}
	}
	emit(f)
	return true
}

// maxExts bounds the extensions remembered per address and day.
const maxExts = 4

// count adds an ordinary call of the tenant's extension ext from a new
// address.
func (n *NewSource) count(key, ext string, t int64) {
	day := t / 86400
	d := n.ordinary[key]
	if d.day != day {
		d = dayCount{day: day}
	}
	d.n++
	if len(d.exts) < maxExts && !slices.Contains(d.exts, ext) {
		d.exts = append(d.exts, ext)
	}
	if len(n.ordinary) >= maxOrdinary {
		for k, v := range n.ordinary {
			if v.day < day {
				delete(n.ordinary, k)
			}
		}
	}
	n.ordinary[key] = d
}

// established reports whether the new address carried Established
// ordinary calls on t's day, some of an extension other than ext.
func (n *NewSource) established(key, ext string, t int64) bool {
	d, ok := n.ordinary[key]
	if !ok || d.day != t/86400 || d.n < Established {
		return false
	}
	for _, x := range d.exts {
		if x != ext {
			return true
		}
	}
	return false
}
