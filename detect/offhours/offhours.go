// Package offhours detects FRAUD_INDICATORS.off_hours_international:
// international calls in the small hours of the tenant's day.
package offhours

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// OffHours is the detector.
type OffHours struct {
	cfg   *config.OffHoursRule
	latch detect.Latch
}

// New returns the detector, or nil when it is off.
func New(cfg *config.OffHoursRule) *OffHours {
	if !cfg.Rule().On() {
		return nil
	}
	return &OffHours{cfg: cfg, latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*OffHours) Name() string { return "off_hours_international" }

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
	if !c.Outbound() || !c.International || !In(c.Local, o.cfg.FromMin, o.cfg.ToMin) {
		return
	}
	key := c.ExtKey()
	t := ts.Unix()
	if o.latch.Active(key, t) {
		return
	}
	r := o.cfg.Rule()
	o.latch.Set(key, t+max(int64(r.ExpiresS), 3600))
	f := detect.Finding{Detector: o.Name(), Code: "off_hours_international", Subject: c.Rec.Extension,
		Text: fmt.Sprintf("extension %s called %s (%s) at %s local time, outside %s–%s", c.Rec.Extension, c.Dest.E164, c.Dest.Country,
			c.Local.Format("Mon 15:04"), o.cfg.From, o.cfg.To),
		Time: ts.UTC(), Since: ts.UTC(), Calls: 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	detect.Apply(&f, r, c, detect.Target{Kind: "number", Value: c.Far()})
	emit(f)
}
