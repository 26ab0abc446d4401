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
	if n < b.threshold(c, t) || b.latch.Active(key, last) {
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

// Learned threshold. A dialer agent's ordinary hour has more than Calls
// cheap international calls in a window (fraudeval -profile wide seed 3:
// a mostly-international tenant's agents tripped the burst every busy day
// of their history, and in the attack week the block refused 70 of their
// calls). A call that is itself cheap — international, not premium, no
// risk range, priced under detect.ChargeableRate — is held to the
// extension's learned busiest burst before today (baseline IntlBurst, the
// same window as the default 300 s) × LearnedMargin + LearnedSlack, never less than
// Calls; a costly call keeps Calls, so a burst to expensive ranges from a
// busy extension is caught as before.
const (
	LearnedMargin = 1.5
	LearnedSlack  = 2
	// WarmDays and WarmCalls are the default baseline warm-up
	// (detectors.baseline): a younger or smaller profile lifts nothing.
	WarmDays  = 7
	WarmCalls = 30
)

func (b *Burst) threshold(c *detect.Call, t int64) int {
	n := b.cfg.Calls
	if !c.International || c.Premium || c.Rate >= detect.ChargeableRate || c.Dest == nil || len(c.Dest.Risk) > 0 || c.Handle == nil {
		return n
	}
	p := c.Handle.Ext
	if !p.Warm(t, WarmDays, WarmCalls) {
		return n
	}
	// The busiest burst of the days before today: today's calls, an
	// attack's among them, lift nothing.
	today, peak := int32(t/86400), 0
	for i, v := range p.IntlBurst {
		if d := p.PeakDay[i]; d != 0 && d < today {
			peak = max(peak, int(v))
		}
	}
	if peak <= 0 {
		return n
	}
	return max(n, int(float64(peak)*LearnedMargin+0.999)+LearnedSlack)
}
