// Package pumping holds the traffic-pumping triggers operators know from
// commercial fraud control: targeted (one number), fast and slow (one
// destination country) and theft of service (every destination). Each
// scores a tenant's calls by the sum of their per-minute termination
// rates, not just their count, and once triggered stays active for its
// rule's expires_s, so every matching call meets the action.
package pumping

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/number"
)

// Kind is which trigger.
type Kind uint8

// Triggers.
const (
	Targeted Kind = iota
	Fast
	Slow
	Theft
)

var kindNames = [...]string{"targeted_pumping", "fast_pumping", "slow_pumping", "theft_of_service"}

// Trigger is one detector.
type Trigger struct {
	kind  Kind
	cfg   *config.Trigger
	ws    *detect.Windows
	latch detect.Latch
	key   []byte // the call's key, built here (no string per call)
}

// New returns a trigger, or nil when it is off.
func New(k Kind, cfg *config.Trigger) *Trigger {
	if !cfg.On() {
		return nil
	}
	return &Trigger{kind: k, cfg: cfg, ws: detect.NewWindows(int64(cfg.WindowS) * 2), latch: detect.Latch{}}
}

// CampaignFactor is the campaign allowance of the fast and slow triggers:
// a campaign-like call scores its rate / CampaignFactor. An outbound
// dialer campaign to a country its tenant calls every day sums many cheap
// rates in an hour (fraudeval's wide profile: 158 calls to +81 scored
// 8.01/min, a day's block of the tenant's own customers); pumping earns
// only where a minute is costly. The factor is check/ratelimit's
// CampaignFactor: the same allowance for the same traffic.
const CampaignFactor = 4

// CampaignLike reports whether c looks like a campaign call: international,
// to a mobile or fixed number (not premium, no risk range) priced under
// detect.ChargeableRate, in a country the tenant's baseline calls
// regularly (baseline.Profile.Regular), the baseline at least
// CampaignWarmDays old at t: a new tenant's first calls, an attack's
// included, make no country regular. Anything unknown: no.
func CampaignLike(c *detect.Call, t int64) bool {
	if !c.International || c.Premium || c.Rate >= detect.ChargeableRate || c.Dest == nil || len(c.Dest.Risk) > 0 || c.Handle == nil {
		return false
	}
	switch c.Dest.Type {
	case number.Mobile, number.FixedLine, number.FixedLineOrMobile:
	default:
		return false
	}
	p := c.Handle.Tenant
	return p.Warm(t, CampaignWarmDays, 0) && p.Regular(c.Class)
}

// CampaignWarmDays is how old a tenant's baseline must be before a
// country it calls regularly earns the campaign allowance (the default
// baseline warm-up).
const CampaignWarmDays = 7

// Name implements detect.Detector.
func (p *Trigger) Name() string { return kindNames[p.kind] }

// Observe implements detect.Detector.
func (p *Trigger) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || c.Attempt || c.Rate <= 0 || (p.kind != Theft && !c.Chargeable) {
		return
	}
	key := p.key[:0]
	switch p.kind {
	case Targeted:
		key = detect.AppendKey(key, c.Rec.Tenant, c.Dest.E164)
	case Fast, Slow:
		// International: the destination country; a chargeable domestic
		// number: its range (premium-rate, shared-cost… inside the home
		// country is where pumping often lands).
		key = detect.AppendKey(key, c.Rec.Tenant, c.Country)
	case Theft:
		key = append(key, c.Rec.Tenant...)
	}
	p.key = key
	t := ts.Unix()
	span := int64(p.cfg.WindowS)
	rate := c.Rate
	if (p.kind == Fast || p.kind == Slow) && CampaignLike(c, ts.Unix()) {
		rate /= CampaignFactor
	}
	w := p.ws.AddBytes(key, t, rate, c.Rec.CallID)
	n, score, first, last := w.Peak(t, span)
	if score < p.cfg.Score || n < p.cfg.MinCalls || p.latch.ActiveBytes(key, last) {
		return
	}
	var subject string
	var dest detect.Target
	switch p.kind {
	case Targeted:
		subject = c.Dest.E164
		dest = detect.Target{Kind: "number", Value: c.Far()}
	case Fast, Slow:
		subject = "+" + c.Country
		dest = detect.Target{Kind: "prefix", Value: c.Country}
	case Theft:
		subject = c.Rec.Tenant
		dest = detect.Target{Kind: "tenant", Value: c.Rec.Tenant}
	}
	r := &p.cfg.Rule
	p.latch.Set(string(key), last+max(int64(r.ExpiresS), span))
	f := detect.Finding{Detector: p.Name(), Code: p.Name(), Subject: subject,
		Text: fmt.Sprintf("%s: %d calls to %s scored %.2f/min of termination rates in %s (trigger %.2f)",
			p.Name(), n, subject, score, time.Duration(span)*time.Second, p.cfg.Score),
		Time: time.Unix(last, 0).UTC(), Since: time.Unix(first, 0).UTC(), Calls: n, CallIDs: w.IDs(first, last, 50)}
	detect.Apply(&f, r, c, dest)
	emit(f)
}
