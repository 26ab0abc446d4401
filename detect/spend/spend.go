// Package spend detects a tenant's international spend of the day
// approaching (warn_ratio) and passing its daily cap
// (limits.account.international_spend_daily).
package spend

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// Spend is the detector.
type Spend struct {
	cfg *config.SpendRule
	day map[string]float64 // tenant + local date → spend
}

// New returns the detector, or nil when it is off.
func New(cfg *config.SpendRule) *Spend {
	if !cfg.On() {
		return nil
	}
	return &Spend{cfg: cfg, day: map[string]float64{}}
}

// Name implements detect.Detector.
func (*Spend) Name() string { return "spend" }

// Observe implements detect.Detector.
func (s *Spend) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	cp := c.Policy.Limits.Account.InternationalSpendDaily
	if !c.Outbound() || !c.International || c.Cost <= 0 || !cp.On || cp.V <= 0 {
		return
	}
	date := c.Local.Format("2006-01-02")
	key := detect.Key(c.Rec.Tenant, date)
	before := s.day[key]
	after := before + c.Cost
	s.day[key] = after
	if len(s.day) > 100000 {
		clear(s.day)
	}
	warn := cp.V * s.cfg.WarnRatio
	end := ts.Add(time.Duration(c.Rec.Duration) * time.Second).UTC()
	mk := func(code, text string, r *config.Rule) {
		f := detect.Finding{Detector: s.Name(), Code: code, Subject: date, Text: text, Time: end, Since: ts.UTC(), Calls: 1, Cost: after, CallIDs: []string{c.Rec.CallID}}
		detect.Apply(&f, r, c, detect.Target{Kind: "tenant", Value: c.Rec.Tenant})
		emit(f)
	}
	if before < warn && after >= warn && after < cp.V {
		mk("spend_approaching_cap", fmt.Sprintf("tenant %s spent %.2f on international calls on %s: %.0f%% of its daily cap %.2f", c.Rec.Tenant, after, date, 100*after/cp.V, cp.V), &s.cfg.Rule)
	}
	if before < cp.V && after >= cp.V && s.cfg.Over.On() {
		mk("spend_over_cap", fmt.Sprintf("tenant %s spent %.2f on international calls on %s, over its daily cap %.2f (last call by %s)", c.Rec.Tenant, after, date, cp.V, c.Rec.Extension), &s.cfg.Over)
	}
}

// EndOnly implements detect.EndOnly: it judges a call by its end.
func (*Spend) EndOnly() bool { return true }
