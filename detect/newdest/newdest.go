// Package newdest detects calls to a country the tenant has never called,
// once the tenant's baseline is warm.
package newdest

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// NewDest is the detector.
type NewDest struct {
	cfg   *config.NewDestRule
	bl    *config.Baseline
	base  *baseline.Learner
	latch detect.Latch
}

// New returns the detector, or nil when it is off.
func New(cfg *config.NewDestRule, bl *config.Baseline, base *baseline.Learner) *NewDest {
	if !cfg.On() {
		return nil
	}
	return &NewDest{cfg: cfg, bl: bl, base: base, latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*NewDest) Name() string { return "new_destination" }

// Observe implements detect.Detector.
func (n *NewDest) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || !c.Chargeable || c.Dest.Country == "" || c.Rate < n.cfg.MinRate && !c.Premium {
		return
	}
	t := ts.Unix()
	_, p := c.Profiles(n.base)
	if !p.Warm(t, n.bl.WarmupDays, n.bl.MinCalls) || p.Knows(c.Class) {
		return
	}
	key := detect.Key(c.Rec.Tenant, c.Class)
	if n.latch.Active(key, t) {
		return
	}
	n.latch.Set(key, t+86400)
	f := detect.Finding{Detector: n.Name(), Code: "new_destination", Subject: c.Class,
		Text: fmt.Sprintf("tenant %s called %s (%s) for the first time in %d days of history", c.Rec.Tenant, c.Class, c.Dest.E164, (t-p.First)/86400),
		Time: ts.UTC(), Since: ts.UTC(), Calls: 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	dest := c.Country
	r := &n.cfg.Rule
	if n.cfg.BlockRate > 0 && c.Rate >= n.cfg.BlockRate {
		// Never called and costly: stop the tenant's calls there.
		r = &config.Rule{Action: "block_and_alert", Block: "destination", ExpiresS: n.cfg.BlockExpiresS, Severity: "critical"}
		f.Text += fmt.Sprintf(" at %.2f/min (block_rate %.2f): blocked for the tenant", c.Rate, n.cfg.BlockRate)
	}
	detect.Apply(&f, r, c, detect.Target{Kind: "prefix", Value: dest})
	emit(f)
}
