// Package duration detects FRAUD_INDICATORS.extended_duration: an
// international call lasting longer than the threshold.
package duration

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// Duration is the detector.
type Duration struct{ cfg *config.DurationRule }

// New returns the detector, or nil when it is off.
func New(cfg *config.DurationRule) *Duration {
	if !cfg.On() {
		return nil
	}
	return &Duration{cfg: cfg}
}

// Name implements detect.Detector.
func (*Duration) Name() string { return "extended_duration" }

// Observe implements detect.Detector.
func (d *Duration) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || !c.Chargeable || c.Rec.Billsec <= int(d.cfg.ThresholdS) {
		return
	}
	end := ts.Add(time.Duration(c.Rec.Duration) * time.Second).UTC()
	f := detect.Finding{Detector: d.Name(), Code: "extended_duration", Subject: c.Dest.E164,
		Text: fmt.Sprintf("chargeable call %s → %s lasted %s (threshold %s)", c.Rec.Extension, c.Dest.E164,
			time.Duration(c.Rec.Billsec)*time.Second, d.cfg.ThresholdS.Duration()),
		Time: end, Since: ts.UTC(), Calls: 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	detect.Apply(&f, &d.cfg.Rule, c, detect.Target{Kind: "number", Value: c.Far()})
	if d.cfg.EventBelow > 0 && c.Cost < d.cfg.EventBelow && f.Action == "alert" && c.Handle != nil && c.Handle.Tenant != nil &&
		c.Handle.Tenant.Countries[c.Class] >= detect.UsualCalls {
		f.Event, f.Severity = true, "info"
		f.Text += fmt.Sprintf(", cost %.2f (below event_below %.2f) to a destination the tenant calls as a matter of course: an event", c.Cost, d.cfg.EventBelow)
	}
	emit(f)
}

// EndOnly implements detect.EndOnly: it judges a call by its end.
func (*Duration) EndOnly() bool { return true }
