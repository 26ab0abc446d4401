// Package timewindow applies the time-of-day rules in the tenant's time
// zone — after-hours and night-time international calling — and the
// calling window of outbound campaigns in the callee's time zone.
package timewindow

import (
	"context"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// TimeWindow is the check.
type TimeWindow struct {
	t         *config.Tenant
	after     screen.Action
	night     screen.Action
	window    bool
	timezones func(string) []string
	zones     sync.Map // zone name → *time.Location
}

var _ screen.Check = (*TimeWindow)(nil)

// New returns the check, or nil when the tenant has no time rules.
func New(t *config.Tenant, timezones func(string) []string) screen.Check {
	h := &t.Hours
	tw := &TimeWindow{t: t, timezones: timezones}
	if h.Business.Set() {
		tw.after = word(h.AfterHoursInternational)
	}
	if h.Night.Set() {
		tw.night = word(h.NightInternational)
	}
	tw.window = t.CallingWindow.Enabled && timezones != nil
	if tw.after == screen.Allow && tw.night == screen.Allow && !tw.window {
		return nil
	}
	return tw
}

func word(w config.Treatment) screen.Action {
	switch w {
	case "auth":
		return screen.Challenge
	case "block":
		return screen.Reject
	}
	return screen.Allow
}

// Name is the check's name in the order table and in its reasons.
const Name = "timewindow"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant, env.Timezones), nil }

// Name implements screen.Check.
func (*TimeWindow) Name() string { return Name }

// Check implements screen.Check.
func (k *TimeWindow) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Direction != screen.Outbound {
		return screen.Continue
	}
	h := &k.t.Hours
	if c.International {
		if k.night != screen.Allow && h.Night.Contains(c.Local) {
			v.Add(screen.Reason{Check: "timewindow", Code: "night_international", Text: "international call at night (" + h.Night.From + "–" + h.Night.To + " " + k.t.Timezone + ")", Rule: k.t.Rule("hours.night_international"), Action: k.night, Risk: 25})
		} else if k.after != screen.Allow && (!h.Business.Contains(c.Local) || h.IsHoliday(c.Local)) {
			v.Add(screen.Reason{Check: "timewindow", Code: "after_hours_international", Text: "international call outside business hours (" + h.Business.From + "–" + h.Business.To + " " + k.t.Timezone + ")", Rule: k.t.Rule("hours.after_hours_international"), Action: k.after, Risk: 20})
		}
	}
	if k.window && c.Dest.E164 != "" && k.t.Compliance.Campaign.Match(c.Extension, c.SourceIP) {
		k.callingWindow(c, v)
	}
	return screen.StopIfRejected
}

// callingWindow refuses a campaign call when it is outside the window, or
// on a compliance holiday, in any zone the callee may be in (the most
// restrictive reading). Campaign traffic is what the tenant's
// compliance.campaign marks (all outbound calls when it marks nothing).
func (k *TimeWindow) callingWindow(c *screen.Call, v *screen.Verdict) {
	cw := &k.t.CallingWindow
	hol := &k.t.Compliance
	var next time.Time
	for _, z := range k.timezones(c.Dest.E164) {
		loc := k.location(z)
		if loc == nil {
			continue
		}
		lt := c.Time.In(loc)
		if !cw.Contains(lt) || hol.IsHoliday(lt) {
			if n := k.next(lt); n.After(next) {
				next = n
			}
		}
	}
	if next.IsZero() {
		return
	}
	// The latest opening of one zone may still be closed in another
	// (a range spanning many hours): move on until every zone is open.
	for i := 0; i < 8; i++ {
		later := next
		for _, z := range k.timezones(c.Dest.E164) {
			if loc := k.location(z); loc != nil {
				if n := k.next(next.In(loc)); n.After(later) {
					later = n
				}
			}
		}
		if later.Equal(next) {
			break
		}
		next = later
	}
	v.Add(screen.Reason{Check: "timewindow", Code: "outside_calling_window", Text: "outside the calling window " + cw.From + "–" + cw.To + " in the callee's time zone; next allowed " + next.UTC().Format(time.RFC3339), Rule: k.t.Rule("calling_window"), Action: screen.Reject, Risk: 10})
}

// next returns the first time at or after local time lt that is inside
// the calling window and not on a compliance holiday.
func (k *TimeWindow) next(lt time.Time) time.Time {
	cw, hol := &k.t.CallingWindow, &k.t.Compliance
	n := cw.Next(lt)
	for i := 0; i < 366 && hol.IsHoliday(n); i++ {
		y, m, d := n.Date()
		n = cw.Next(time.Date(y, m, d+1, 0, 0, 0, 0, n.Location()))
	}
	return n
}

func (k *TimeWindow) location(z string) *time.Location {
	if l, ok := k.zones.Load(z); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(z)
	if err != nil {
		return nil
	}
	k.zones.Store(z, l)
	return l
}
