package timewindow

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

const policy = `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_open
  hours:
    business: {days: [mon-fri], from: "08:00", to: "18:00"}
    after_hours_international: auth
    night: {from: "00:00", to: "06:00"}
    night_international: block
    holidays: ["2026-12-25"]
  calling_window: {enabled: true, from: "08:00", to: "21:00"}
`

func TestTimeWindow(t *testing.T) {
	c, err := config.Parse("p.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	tz := c.Defaults.Location
	zones := map[string][]string{
		"+442071234567": {"Europe/London"},
		"+12125551234":  {"America/New_York"},
		"+18005551234":  {"America/New_York", "America/Los_Angeles"}, // spans zones: most restrictive wins
	}
	k := New(c.Defaults, func(e string) []string { return zones[e] })
	at := func(s string) time.Time {
		x, err := time.ParseInLocation("2006-01-02 15:04", s, tz)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cases := []struct {
		name  string
		when  string
		to    string
		intl  bool
		want  screen.Action
		codes []string
	}{
		{"business hours intl", "2026-11-23 10:00", "+442071234567", true, screen.Allow, nil},
		{"evening intl", "2026-11-23 19:00", "+442071234567", true, screen.Reject, []string{"after_hours_international", "outside_calling_window"}},
		{"night intl", "2026-11-24 03:00", "+442071234567", true, screen.Reject, []string{"night_international"}},
		{"weekend intl", "2026-11-28 12:00", "+442071234567", true, screen.Challenge, []string{"after_hours_international"}},
		{"holiday intl", "2026-12-25 12:00", "+442071234567", true, screen.Challenge, []string{"after_hours_international"}},
		{"domestic evening, callee 19:00", "2026-11-23 19:00", "+12125551234", false, screen.Allow, nil},
		{"domestic late, callee 21:30", "2026-11-23 21:30", "+12125551234", false, screen.Reject, []string{"outside_calling_window"}},
		{"two zones, west not yet 08:00", "2026-11-23 10:30", "+18005551234", false, screen.Reject, []string{"outside_calling_window"}},
		{"two zones, both open", "2026-11-23 11:30", "+18005551234", false, screen.Allow, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := at(tc.when)
			call := &screen.Call{Time: ts, Local: ts.In(tz), International: tc.intl, Dest: number.Info{E164: tc.to}}
			var v screen.Verdict
			k.Check(context.Background(), call, &v)
			if v.Action != tc.want {
				t.Errorf("action = %v, want %v (%+v)", v.Action, tc.want, v.Reasons())
			}
			for _, c := range tc.codes {
				if !v.Has(c) {
					t.Errorf("reasons %+v lack %s", v.Reasons(), c)
				}
			}
		})
	}
}
