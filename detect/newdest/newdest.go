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
	// A call screening refused (Attempt) cost nothing and is not learned:
	// judging it would raise the same finding every day.
	if !c.Outbound() || c.Attempt || !c.Chargeable || c.Dest.Country == "" || c.Rate < n.cfg.MinRate && !c.Premium {
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
	// The latch outlasts the action, so one finding covers the block or
	// PIN it sets; afterwards a class still never called fires again.
	n.latch.Set(key, t+max(86400, int64(n.cfg.BlockExpiresS)))
	f := detect.Finding{Detector: n.Name(), Code: "new_destination", Subject: c.Class,
		Text: fmt.Sprintf("tenant %s called %s (%s) for the first time in %d days of history", c.Rec.Tenant, c.Class, c.Dest.E164, (t-p.First)/86400),
		Time: ts.UTC(), Since: ts.UTC(), Calls: 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	dest := detect.Target{Kind: "prefix", Value: c.Country}
	r := &n.cfg.Rule
	pin := false
	switch {
	case (n.cfg.QuietInHours == nil || *n.cfg.QuietInHours) && c.International && n.cfg.ChallengeRate > 0 && c.Rate >= n.cfg.ChallengeRate && inHours(c):
		// In business hours: an agent opening a new country as often as
		// an intruder. The tenant's later calls there need a PIN; this
		// one runs on (the in-call cost limits watch it); an event, not
		// an alert.
		r = &config.Rule{Action: "require_pin", ExpiresS: n.cfg.BlockExpiresS, Severity: "info"}
		f.Text += fmt.Sprintf(" in business hours at %.2f/min: PIN required for the tenant's later calls there (an event, not an alert)", c.Rate)
		f.Event = true
		pin = true
	case n.cfg.BlockRate > 0 && c.Rate >= n.cfg.BlockRate:
		// Never called and costly: stop the tenant's calls there.
		r = &config.Rule{Action: "block_and_alert", Block: "destination", ExpiresS: n.cfg.BlockExpiresS, Severity: "critical"}
		f.Text += fmt.Sprintf(" at %.2f/min (block_rate %.2f): blocked for the tenant", c.Rate, n.cfg.BlockRate)
		if n.cfg.EndCalls == nil || *n.cfg.EndCalls {
			// Seen at its start: end it before it runs up the bill.
			f.EndCalls = []string{c.Rec.CallID}
			f.Text += ", this call ended"
		}
	case n.cfg.ChallengeRate > 0 && c.Rate >= n.cfg.ChallengeRate && r.Action == "alert":
		// Never called and chargeable: the tenant's later calls there
		// need a PIN (an agent has one, an intruder does not).
		r = &config.Rule{Action: "require_pin", ExpiresS: n.cfg.BlockExpiresS, Severity: "warning"}
		f.Text += fmt.Sprintf(" at %.2f/min (challenge_rate %.2f): PIN required for the tenant's calls there", c.Rate, n.cfg.ChallengeRate)
		pin = true
	}
	detect.Apply(&f, r, c, dest)
	// One call to a new destination is evidence against the destination,
	// not against the agent who placed it: no extension block.
	f.Also = nil
	if pin {
		f.Target = dest
	}
	emit(f)
}

// inHours reports whether the call was placed in its tenant's business
// hours (not on a holiday).
func inHours(c *detect.Call) bool {
	if c.Policy == nil {
		return false
	}
	h := &c.Policy.Hours
	return h.Business.Set() && h.Business.Contains(c.Local) && !h.IsHoliday(c.Local)
}
