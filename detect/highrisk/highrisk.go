// Package highrisk detects FRAUD_INDICATORS.high_risk_country: attempts
// to call the listed high-risk calling codes, refused or not.
package highrisk

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// HighRisk is the detector.
type HighRisk struct {
	cfg   *config.HighRiskRule
	codes map[int]bool
	ws    *detect.Windows
	latch detect.Latch
}

// New returns the detector, or nil when it is off.
func New(cfg *config.HighRiskRule) *HighRisk {
	if !cfg.On() {
		return nil
	}
	h := &HighRisk{cfg: cfg, codes: map[int]bool{}, ws: detect.NewWindows(int64(cfg.WindowS) * 2), latch: detect.Latch{}}
	for _, c := range cfg.CountryCodes {
		n, _ := strconv.Atoi(c)
		h.codes[n] = true
	}
	return h
}

// Name implements detect.Detector.
func (*HighRisk) Name() string { return "high_risk_country" }

// Observe implements detect.Detector.
func (h *HighRisk) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if !c.Outbound() || !h.codes[c.Dest.CallingCode] {
		return
	}
	key := c.ExtKey()
	t := ts.Unix()
	w := h.ws.Add(key, t, c.Cost, c.Rec.CallID)
	n, cost, first, last := w.Peak(t, int64(h.cfg.WindowS))
	if n < h.cfg.Attempts || h.latch.Active(key, last) {
		return
	}
	r := &h.cfg.Rule
	h.latch.Set(key, last+max(int64(r.ExpiresS), int64(h.cfg.WindowS)))
	f := detect.Finding{Detector: h.Name(), Code: "high_risk_country", Subject: "+" + strconv.Itoa(c.Dest.CallingCode),
		Text: fmt.Sprintf("extension %s tried %d calls to high-risk countries (last %s, %s)", c.Rec.Extension, n, c.Dest.E164, c.Dest.Country),
		Time: time.Unix(last, 0).UTC(), Since: time.Unix(first, 0).UTC(), Calls: n, Cost: cost, CallIDs: w.IDs(first, last, 50)}
	detect.Apply(&f, r, c, detect.Target{Kind: "prefix", Value: strconv.Itoa(c.Dest.CallingCode)})
	emit(f)
}
