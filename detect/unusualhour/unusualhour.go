// Package unusualhour detects calls in an hour of the week the extension
// (by its warm baseline) practically never uses.
package unusualhour

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// UnusualHour is the detector.
type UnusualHour struct {
	cfg   *config.UnusualHourRule
	bl    *config.Baseline
	base  *baseline.Learner
	latch detect.Latch
}

// New returns the detector, or nil when it is off.
func New(cfg *config.UnusualHourRule, bl *config.Baseline, base *baseline.Learner) *UnusualHour {
	if !cfg.On() {
		return nil
	}
	return &UnusualHour{cfg: cfg, bl: bl, base: base, latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*UnusualHour) Name() string { return "unusual_hour" }

// Observe implements detect.Detector.
func (u *UnusualHour) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || c.Attempt {
		return
	}
	t := ts.Unix()
	p, _ := c.Profiles(u.base)
	if !p.Warm(t, u.bl.WarmupDays, u.bl.MinCalls) || p.HourShare(c.Local) > u.cfg.MaxShare {
		return
	}
	key := c.ExtKey()
	if u.latch.Active(key, t) {
		return
	}
	u.latch.Set(key, t+3600)
	f := detect.Finding{Detector: u.Name(), Code: "unusual_hour", Subject: c.Rec.Extension,
		Text: fmt.Sprintf("extension %s called at %s local time, an hour of the week it has used for %.2f%% of %d calls",
			c.Rec.Extension, c.Local.Format("Mon 15:04"), 100*p.HourShare(c.Local), p.Calls),
		Time: ts.UTC(), Since: ts.UTC(), Calls: 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	detect.Apply(&f, &u.cfg.Rule, c, detect.Target{Kind: "number", Value: c.Far()})
	emit(f)
}
