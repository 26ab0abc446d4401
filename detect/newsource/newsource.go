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
	// An address is known once its first call is a full day old (it was
	// seen on a day before yesterday's). The calendar day alone would not
	// do: an intruder's first call at 23:55 UTC would make the address
	// known to his next one, at 00:05.
	if !p.Warm(t, n.bl.WarmupDays, n.bl.MinCalls) || p.KnowsSource(ip, t-86400) {
		return
	}
	key := detect.Key(c.Rec.Tenant, ip)
	if !c.Chargeable || c.Rate < detect.ChargeableRate && !c.Premium && p.Countries[c.Class] >= detect.UsualCalls {
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
	r := &n.cfg.Rule
	n.latch.Set(key, last+max(int64(r.ExpiresS), span))
	inUse := ""
	if r.Block == config.BlockSourceIP && n.established(key, c.Rec.Extension, t) {
		// The address carries the tenant's ordinary calls as well (an
		// office NAT, an agent's home line): act on the extension and
		// what it called, not on everyone behind the address.
		rr := *r
		rr.Block = config.BlockExtension
		r = &rr
		inUse = fmt.Sprintf("; %s also carried ordinary calls of other extensions of the tenant today, so the extension and the destination are blocked, not the address", ip)
	}
	f := detect.Finding{Detector: n.Name(), Code: "new_source", Subject: ip,
		Text: fmt.Sprintf("tenant %s: %d chargeable calls from %s, an address it never used before today (extension %s, last to %s)",
			c.Rec.Tenant, k, ip, c.Rec.Extension, c.Dest.E164) + inUse,
		Time: time.Unix(last, 0).UTC(), Since: time.Unix(first, 0).UTC(), Calls: k, Cost: cost, CallIDs: w.IDs(first, last, 50)}
	detect.Apply(&f, r, c, detect.Target{Kind: "number", Value: c.Far()})
	emit(f)
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
