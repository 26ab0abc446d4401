// Package offhours detects FRAUD_INDICATORS.off_hours_international:
// chargeable calls (international, premium, costly domestic ranges) in the
// small hours of the tenant's day — unless the tenant's warm baseline
// shows it calls at that hour of the week as a matter of course (a call
// center working nights), where the hour is no evidence.
package offhours

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// OffHours is the detector.
type OffHours struct {
	cfg   *config.OffHoursRule
	bl    *config.Baseline
	base  *baseline.Learner
	latch detect.Latch
}

// NormalShare is the share of a tenant's calls in an hour of the week from
// which that hour counts as its normal working time.
const NormalShare = 0.002

// New returns the detector, or nil when it is off.
func New(cfg *config.OffHoursRule, bl *config.Baseline, base *baseline.Learner) *OffHours {
	if !cfg.On() {
		return nil
	}
	return &OffHours{cfg: cfg, bl: bl, base: base, latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*OffHours) Name() string { return "off_hours_international" }

// usual reports whether c's tenant calls c's destination class as a matter
// of course: a PIN on a range it calls by day would challenge its agents.
func usual(c *detect.Call) bool {
	return c.Handle != nil && c.Handle.Tenant != nil && c.Handle.Tenant.Countries[c.Class] >= detect.UsualCalls
}

// minRange is the shortest range (digits) given a PIN of its own: a
// shorter prefix is a whole country or mobile network, not a range.
const minRange = 6

// unusual reports whether c is a direct outbound call outside its
// tenant's business hours (or on a holiday) that UnusualHours judges.
func (o *OffHours) unusual(c *detect.Call) bool {
	if o.cfg.UnusualHours != nil && !*o.cfg.UnusualHours || c.Rec.Forwarded || c.Policy == nil {
		return false
	}
	h := &c.Policy.Hours
	return h.Business.Set() && (!h.Business.Contains(c.Local) || h.IsHoliday(c.Local))
}

// In reports whether local falls in the window [from, to), which may wrap
// past midnight.
func In(local time.Time, from, to int) bool {
	m := local.Hour()*60 + local.Minute()
	if from <= to {
		return m >= from && m < to
	}
	return m >= from || m < to
}

// Observe implements detect.Detector.
func (o *OffHours) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || !c.Chargeable {
		return
	}
	night := In(c.Local, o.cfg.FromMin, o.cfg.ToMin)
	if !night && !o.unusual(c) {
		return
	}
	t := ts.Unix()
	// A cheap call to a country the tenant calls as a matter of course is
	// no evidence at any hour (night shifts, on-call agents).
	if c.Rate < detect.ChargeableRate && !c.Premium && usual(c) {
		return
	}
	warm := false
	if o.base != nil {
		_, tp := c.Profiles(o.base)
		if warm = tp.Warm(t, o.bl.WarmupDays, o.bl.MinCalls); warm && tp.HourShare(c.Local) >= NormalShare {
			return
		}
		// Outside the night window only an hour of the week the tenant
		// has never called in is evidence (an agent starting early or a
		// Saturday shift is not).
		if warm && !night && tp.HourShare(c.Local) > 0 {
			return
		}
	}
	if !night && !warm {
		return // outside the night window only a warm baseline says the hour is unusual
	}
	tenantWide := o.cfg.TenantWide == nil || *o.cfg.TenantWide
	key := c.ExtKey()
	if tenantWide {
		key = c.Rec.Tenant
	}
	if o.latch.Active(key, t) {
		return
	}
	r := &o.cfg.Rule
	o.latch.Set(key, t+max(int64(r.ExpiresS), 3600))
	when := fmt.Sprintf("outside %s–%s", o.cfg.From, o.cfg.To)
	if night {
		when = fmt.Sprintf("between %s and %s", o.cfg.From, o.cfg.To)
	}
	if !night || warm {
		when += ", an hour of the week the tenant does not call in"
	}
	f := detect.Finding{Detector: o.Name(), Code: "off_hours_international", Subject: c.Rec.Extension,
		Text: fmt.Sprintf("extension %s called %s (%s) at %s local time, %s", c.Rec.Extension, c.Dest.E164, c.Dest.Country,
			c.Local.Format("Mon 15:04"), when),
		Time: ts.UTC(), Since: ts.UTC(), Calls: 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	detect.Apply(&f, r, c, detect.Target{Kind: "number", Value: c.Far()})
	if tenantWide && r.Action == "require_pin" {
		f.Target = detect.Target{Kind: "extension", Value: detect.WildcardExtension}
		f.Subject = c.Rec.Tenant
		f.Text += ": PIN required for every extension of the tenant"
	}
	costly := o.cfg.EndRate > 0 && c.Rate >= o.cfg.EndRate
	if costly && !c.Attempt {
		f.EndCalls = []string{c.Rec.CallID}
		f.Text += fmt.Sprintf("; this call (%.2f/min, end_rate %.2f) ended", c.Rate, o.cfg.EndRate)
	}
	if usual(c) && !c.Premium && !costly {
		// A country the tenant calls as a matter of course, not premium,
		// below end_rate: an agent working late as often as an intruder.
		// The PIN stands (an intruder has none); the operator is not
		// paged — an event, recorded in the action log.
		f.Event, f.Severity = true, "info"
		f.Text += " (a country the tenant calls as a matter of course: an event, not an alert)"
	}
	emit(f)
	if o.cfg.RangeExpiresS > 0 && (night || o.cfg.EndRate > 0 && c.Rate >= o.cfg.EndRate) && len(c.Range) >= minRange && !c.Attempt && !usual(c) {
		// The range the night call went to: a PIN for the tenant's calls
		// there at any hour (an event; the finding above is the alert).
		g := detect.Finding{Detector: o.Name(), Code: "off_hours_range", Subject: "+" + c.Range,
			Text: fmt.Sprintf("tenant %s called range +%s… at %s local time: PIN required for its calls there", c.Rec.Tenant, c.Range, c.Local.Format("Mon 15:04")),
			Time: f.Time, Since: f.Since, Calls: 1, Cost: c.Cost, CallIDs: f.CallIDs, Event: true}
		detect.Apply(&g, &config.Rule{Action: "require_pin", ExpiresS: o.cfg.RangeExpiresS, Severity: "info"}, c, detect.Target{})
		g.Target = detect.Target{Kind: "prefix", Value: c.Range}
		emit(g)
	}
}
