// Package burst detects FRAUD_INDICATORS.international_burst: an
// extension placing many international calls in a short window.
package burst

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// Burst is the detector.
type Burst struct {
	cfg   *config.BurstRule
	ws    *detect.Windows
	latch detect.Latch
}

// New returns the detector, or nil when it is off.
func New(cfg *config.BurstRule) *Burst {
	if !cfg.On() {
		return nil
	}
	return &Burst{cfg: cfg, ws: detect.NewWindows(int64(cfg.WindowS) * 2), latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*Burst) Name() string { return "international_burst" }

// Observe implements detect.Detector.
func (b *Burst) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || !c.Chargeable {
		return
	}
	key := c.ExtKey()
	t := ts.Unix()
	span := int64(b.cfg.WindowS)
	w := b.ws.Add(key, t, c.Cost, c.Rec.CallID)
	n, cost, first, last := w.Peak(t, span)
	if n < b.cfg.Calls || b.latch.Active(key, last) {
		return
	}
	r := &b.cfg.Rule
	b.latch.Set(key, last+max(int64(r.ExpiresS), span))
	f := detect.Finding{Detector: b.Name(), Code: "international_burst", Subject: c.Rec.Extension,
		Text: fmt.Sprintf("extension %s placed %d chargeable calls in %s", c.Rec.Extension, n, time.Duration(span)*time.Second),
		Time: time.Unix(last, 0).UTC(), Since: time.Unix(first, 0).UTC(), Calls: n, Cost: cost, CallIDs: w.IDs(first, last, 50)}
	detect.Apply(&f, r, c, detect.Target{Kind: "prefix", Value: c.Far()})
	emit(f)
}
