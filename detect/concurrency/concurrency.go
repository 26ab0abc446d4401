// Package concurrency detects an extension with more calls up at once
// than its baseline's robust daily peak allows.
package concurrency

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
)

// Concurrency is the detector.
type Concurrency struct {
	cfg   *config.ConcurrencyRule
	bl    *config.Baseline
	base  *baseline.Learner
	latch detect.Latch
}

// New returns the detector, or nil when it is off.
func New(cfg *config.ConcurrencyRule, bl *config.Baseline, base *baseline.Learner) *Concurrency {
	if !cfg.On() {
		return nil
	}
	return &Concurrency{cfg: cfg, bl: bl, base: base, latch: detect.Latch{}}
}

// Name implements detect.Detector.
func (*Concurrency) Name() string { return "concurrency" }

// Limit is the concurrency above which an extension is judged unusual.
func (c *Concurrency) Limit(p *baseline.Profile, t int64) float64 {
	limit := float64(c.cfg.Min)
	if p.Warm(t, c.bl.WarmupDays, c.bl.MinCalls) {
		limit = max(limit, c.cfg.Factor*p.PeakConcurrency())
	}
	return limit
}

// Observe implements detect.Detector.
func (c *Concurrency) Observe(call *detect.Call, ts time.Time, emit detect.Emit) {
	if !call.Outbound() || call.Attempt {
		return
	}
	if call.Concurrent <= c.cfg.Min { // the limit is never below Min
		return
	}
	t := ts.Unix()
	ext, _ := call.Profiles(c.base)
	limit := c.Limit(ext, t)
	if float64(call.Concurrent) <= limit {
		return
	}
	key := call.ExtKey()
	if c.latch.Active(key, t) {
		return
	}
	r := &c.cfg.Rule
	c.latch.Set(key, t+max(int64(r.ExpiresS), 3600))
	f := detect.Finding{Detector: c.Name(), Code: "concurrency", Subject: call.Rec.Extension,
		Text: fmt.Sprintf("extension %s had %d calls up at once (its normal allows %.0f)", call.Rec.Extension, call.Concurrent, limit),
		Time: ts.UTC(), Since: ts.UTC(), Calls: call.Concurrent, Cost: call.Cost, CallIDs: []string{call.Rec.CallID}}
	detect.Apply(&f, r, call, detect.Target{Kind: "number", Value: call.Far()})
	emit(f)
}

// EndOnly implements detect.EndOnly: it judges a call by its end.
func (*Concurrency) EndOnly() bool { return true }
