// Package newsource detects stolen credentials used from a new place:
// chargeable calls of a tenant, with a warm baseline, from a source
// address it has never used on an earlier day. The second such call within
// the window is the finding (one new address with one call is a remote
// agent as often as a thief); its default action blocks the address for
// the tenant and the extension's international and premium calling.
package newsource

import (
	"fmt"
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
}

// New returns the detector, or nil when it is off.
func New(cfg *config.NewSourceRule, bl *config.Baseline, base *baseline.Learner) *NewSource {
	if !cfg.On() {
		return nil
	}
	return &NewSource{cfg: cfg, bl: bl, base: base, ws: detect.NewWindows(int64(cfg.WindowS) * 2), latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*NewSource) Name() string { return "new_source" }

// Observe implements detect.Detector.
func (n *NewSource) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	ip := c.Rec.SourceIP
	if ip == "" || !c.Outbound() || !c.Chargeable {
		return
	}
	t := ts.Unix()
	_, p := c.Profiles(n.base)
	if !p.Warm(t, n.bl.WarmupDays, n.bl.MinCalls) || p.KnowsSource(ip, t) {
		return
	}
	key := detect.Key(c.Rec.Tenant, ip)
	span := int64(n.cfg.WindowS)
	w := n.ws.Add(key, t, c.Cost, c.Rec.CallID)
	k, cost, first, last := w.Peak(t, span)
	if k < n.cfg.Calls || n.latch.Active(key, last) {
		return
	}
	r := &n.cfg.Rule
	n.latch.Set(key, last+max(int64(r.ExpiresS), span))
	f := detect.Finding{Detector: n.Name(), Code: "new_source", Subject: ip,
		Text: fmt.Sprintf("tenant %s: %d chargeable calls from %s, an address it never used before today (extension %s, last to %s)",
			c.Rec.Tenant, k, ip, c.Rec.Extension, c.Dest.E164),
		Time: time.Unix(last, 0).UTC(), Since: time.Unix(first, 0).UTC(), Calls: k, Cost: cost, CallIDs: w.IDs(first, last, 50)}
	detect.Apply(&f, r, c, detect.Target{Kind: "number", Value: c.Far()})
	emit(f)
}
