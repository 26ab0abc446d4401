// Package wangiri detects Wangiri ("one ring and cut") fraud both ways:
// waves of very short or unanswered inbound calls from international
// numbers (or domestic ones chargeable to call back) raise an alert and their callers are remembered; an outbound
// call back to a remembered number is reported, and screening (check
// package detected) blocks or challenges such callbacks.
package wangiri

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/screen"
)

// Wangiri is the detector.
type Wangiri struct {
	cfg      *config.WangiriRule
	ws       *detect.Windows
	latch    detect.Latch
	callers  map[string]int64 // tenant+number → remembered until
	wave     map[string]string
	lastSeen map[string]int64
}

// New returns the detector, or nil when it is off.
func New(cfg *config.WangiriRule) *Wangiri {
	if !cfg.On() {
		return nil
	}
	return &Wangiri{cfg: cfg, ws: detect.NewWindows(int64(cfg.WindowS) * 2), latch: detect.Latch{},
		callers: map[string]int64{}, wave: map[string]string{}, lastSeen: map[string]int64{}}
}

// Name implements detect.Detector.
func (*Wangiri) Name() string { return "wangiri" }

// Observe implements detect.Detector.
func (w *Wangiri) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	t := ts.Unix()
	if c.Outbound() {
		// Only international or chargeable domestic callers are
		// remembered, and a number is so for a tenant both ways: ordinary
		// domestic calls skip the look-up.
		if (c.International || c.Chargeable) && len(w.callers) > 0 {
			w.callback(c, t, emit)
		}
		return
	}
	// A domestic caller counts when calling it back is chargeable (a
	// personal, premium-rate or shared-cost number): Wangiri bait from
	// such numbers at home pays like a foreign one.
	if c.Rec.Direction != screen.Inbound || !c.International && !c.Chargeable || (c.Rec.Disposition == cdr.Answered && c.Rec.Duration > int(w.cfg.MaxRingS)) || c.Rec.Duration > int(w.cfg.MaxRingS) {
		return
	}
	cc := strconv.Itoa(c.Dest.CallingCode)
	if !c.International {
		// Waves of domestic chargeable callers are told apart by range,
		// never the home country's code.
		cc = c.Range
	}
	key := detect.Key(c.Rec.Tenant, cc)
	far := c.Far()
	w.costly(c, t, far, emit)
	win := w.ws.Add(key, t, 0, far)
	span := int64(w.cfg.WindowS)
	r := &w.cfg.Rule
	if w.latch.Active(key, t) {
		// The wave goes on: remember this caller too.
		w.remember(c.Rec.Tenant, far, t)
		f := detect.Finding{Detector: w.Name(), Code: "wangiri_caller", Subject: "+" + cc, Text: "another one-ring caller of the wave: +" + far,
			Time: ts.UTC(), Since: ts.UTC(), Calls: 1, Remember: []string{far}, Callback: string(w.cfg.Callback), Tenant: c.Rec.Tenant}
		detect.Apply(&f, r, c, detect.Target{Kind: "number", Value: far})
		f.Severity, f.Action, f.Target = "info", "alert", detect.Target{}
		emit(f)
		return
	}
	_, _, first, last := win.Peak(t, span)
	ids := win.IDs(first, last, 1000)
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	if len(distinct) < w.cfg.Callers {
		return
	}
	w.latch.Set(key, last+max(span, 3600))
	nums := make([]string, 0, len(distinct))
	for n := range distinct {
		nums = append(nums, n)
	}
	slices.Sort(nums) // the alert's evidence reads the same on every run
	for _, n := range nums {
		w.remember(c.Rec.Tenant, n, t)
	}
	f := detect.Finding{Detector: w.Name(), Code: "wangiri_wave", Subject: "+" + cc, Tenant: c.Rec.Tenant,
		Text: fmt.Sprintf("Wangiri wave: %d international callers from +%s rang tenant %s for at most %ds within %s; callbacks to them will be %s",
			len(distinct), cc, c.Rec.Tenant, w.cfg.MaxRingS, time.Duration(span)*time.Second, map[string]string{"block": "blocked", "auth": "challenged"}[string(w.cfg.Callback)]),
		Time: time.Unix(last, 0).UTC(), Since: time.Unix(first, 0).UTC(), Calls: len(ids), Remember: nums, Callback: string(w.cfg.Callback)}
	detect.Apply(&f, r, c, detect.Target{Kind: "prefix", Value: cc})
	f.Extension = ""
	emit(f)
}

func (w *Wangiri) remember(tenant, num string, t int64) {
	w.callers[detect.Key(tenant, num)] = t + int64(w.cfg.RememberS)
	if len(w.callers) > 200000 {
		for k, u := range w.callers {
			if u < t {
				delete(w.callers, k)
			}
		}
	}
}

// costly remembers a single one-ring caller, wave or not, when calling it
// back is chargeable at caller_rate or more and its country is not one the
// tenant usually calls: a missed call from such a number is bait whatever
// the size of the wave.
func (w *Wangiri) costly(c *detect.Call, t int64, far string, emit detect.Emit) {
	if w.cfg.CallerRate <= 0 || c.Rate < w.cfg.CallerRate || w.Remembered(c.Rec.Tenant, far, t) {
		return
	}
	if c.Handle != nil && c.Handle.Tenant != nil && c.Handle.Tenant.Countries[c.Class] >= detect.UsualCalls {
		return
	}
	w.remember(c.Rec.Tenant, far, t)
	f := detect.Finding{Detector: w.Name(), Code: "wangiri_caller", Subject: "+" + c.Range, Tenant: c.Rec.Tenant,
		Text: fmt.Sprintf("one-ring call from +%s (%s), %.2f/min to call back, a country tenant %s does not usually call; callbacks will be %s",
			far, c.Class, c.Rate, c.Rec.Tenant, map[string]string{"block": "blocked", "auth": "challenged"}[string(w.cfg.Callback)]),
		Time: time.Unix(t, 0).UTC(), Since: time.Unix(t, 0).UTC(), Calls: 1, CallIDs: []string{c.Rec.CallID}, Remember: []string{far}, Callback: string(w.cfg.Callback)}
	detect.Apply(&f, &config.Rule{Action: "alert", Severity: "warning"}, c, detect.Target{})
	f.Extension = ""
	emit(f)
}

// Remembered reports whether a tenant's outbound call to num at t is a
// callback to a Wangiri caller.
func (w *Wangiri) Remembered(tenant, num string, t int64) bool {
	u, ok := w.callers[detect.Key(tenant, num)]
	return ok && t < u
}

func (w *Wangiri) callback(c *detect.Call, t int64, emit detect.Emit) {
	far := c.Far()
	if !w.Remembered(c.Rec.Tenant, far, t) {
		return
	}
	f := detect.Finding{Detector: w.Name(), Code: "wangiri_callback", Subject: c.Dest.E164,
		Text: fmt.Sprintf("extension %s called back Wangiri number %s%s", c.Rec.Extension, c.Dest.E164, map[bool]string{true: " (refused by screening)"}[c.Attempt]),
		Time: time.Unix(t, 0).UTC(), Since: time.Unix(t, 0).UTC(), Calls: 1, Cost: c.Cost, CallIDs: []string{c.Rec.CallID}}
	detect.Apply(&f, &config.Rule{Action: "alert", Severity: map[bool]config.Severity{true: config.SeverityInfo, false: config.SeverityCritical}[c.Attempt]}, c, detect.Target{})
	emit(f)
}

// EndOnly implements detect.EndOnly: it judges a call by its end.
func (*Wangiri) EndOnly() bool { return true }
