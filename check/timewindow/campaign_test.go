package timewindow

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

const campaignPolicy = `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_open
  calling_window: {enabled: true}
  compliance:
    campaign:
      extensions: ["5*", "7001"]
      trunks: ["192.0.2.0/24"]
    holidays: ["2026-12-25"]
`

// TestCallingWindowZonesAndDST uses libphonenumber's real zone data:
// area codes pick the zone, a range spanning zones takes the most
// restrictive one, and DST changes move the window in UTC.
func TestCallingWindowZonesAndDST(t *testing.T) {
	c, err := config.Parse("p.yaml", []byte(campaignPolicy))
	if err != nil {
		t.Fatal(err)
	}
	k := New(c.Defaults, number.Timezones)
	utc := func(s string) time.Time {
		x, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cases := []struct {
		name string
		at   string // UTC
		to   string
		ext  string
		ip   string
		want screen.Action
		next string // RFC 3339 UTC of the next allowed time, "" when allowed
	}{
		// New York, EST (UTC-5) before 8 March 2026 and after 1 November.
		{"NY 21:30 EST rejected, next 08:00 EST", "2026-11-24 02:30", "+12125551234", "5001", "", screen.Reject, "2026-11-24T13:00:00Z"},
		{"NY 20:59 EST allowed", "2026-11-24 01:59", "+12125551234", "5001", "", screen.Allow, ""},
		{"NY 07:30 EST rejected", "2026-03-07 12:30", "+12125551234", "5001", "", screen.Reject, "2026-03-07T13:00:00Z"},
		// 8 March 2026 is the first day of EDT (UTC-4): 12:30Z is 08:30.
		{"NY 08:30 EDT, first DST day, allowed", "2026-03-08 12:30", "+12125551234", "5001", "", screen.Allow, ""},
		// Saturday 22:00 EST; the next morning is already EDT, so 08:00 is 12:00Z.
		{"NY across spring-forward", "2026-03-08 03:00", "+12125551234", "5001", "", screen.Reject, "2026-03-08T12:00:00Z"},
		// 31 Oct 01:30Z is 21:30 EDT; the next morning is still EDT.
		{"NY 21:30 EDT", "2026-10-31 01:30", "+12125551234", "5001", "", screen.Reject, "2026-10-31T12:00:00Z"},
		// 1 Nov 2026 falls back: 1 Nov 23:30Z is 18:30 EST, allowed; 2 Nov 01:30Z is 20:30 EST.
		{"NY 20:30 after fall-back allowed", "2026-11-02 01:30", "+12125551234", "5001", "", screen.Allow, ""},
		// Saturday 31 Oct 22:00 EDT → Sunday 08:00 EST = 13:00Z.
		{"NY across fall-back", "2026-11-01 02:00", "+12125551234", "5001", "", screen.Reject, "2026-11-01T13:00:00Z"},
		// Area codes: 213 is Los Angeles (PST, UTC-8): 16:30Z is 08:30 there.
		{"LA 08:30 allowed", "2026-11-24 16:30", "+12135551234", "5001", "", screen.Allow, ""},
		{"LA 05:30 rejected", "2026-11-24 13:30", "+12135551234", "5001", "", screen.Reject, "2026-11-24T16:00:00Z"},
		// 808 is Honolulu (UTC-10, no DST).
		{"Honolulu 07:00 rejected", "2026-11-24 17:00", "+18085551234", "5001", "", screen.Reject, "2026-11-24T18:00:00Z"},
		// Toll-free 800 spans every NANP zone, Guam (UTC+10) included: at 15:00Z
		// it is 01:00 there, and 08:00 Guam (22:00Z) is inside every other zone's window.
		{"toll-free: most restrictive zone", "2026-11-24 15:00", "+18005551234", "5001", "", screen.Reject, "2026-11-24T22:00:00Z"},
		// +61 8 is Perth or Adelaide: most restrictive of both.
		{"Australia 8: Perth still closed", "2026-11-23 23:00", "+61892345678", "5001", "", screen.Reject, "2026-11-24T00:00:00Z"},
		{"London 21:30 GMT", "2026-11-23 21:30", "+442071234567", "5001", "", screen.Reject, "2026-11-24T08:00:00Z"},
		// Holiday in the callee's zone: closed all day, open the next morning.
		{"Christmas in NY", "2026-12-25 16:00", "+12125551234", "5001", "", screen.Reject, "2026-12-26T13:00:00Z"},
		// Campaign marking: extension classes and trunks.
		{"exact campaign extension", "2026-11-24 02:30", "+12125551234", "7001", "", screen.Reject, "2026-11-24T13:00:00Z"},
		{"campaign trunk", "2026-11-24 02:30", "+12125551234", "1001", "192.0.2.77", screen.Reject, "2026-11-24T13:00:00Z"},
		{"ordinary extension not campaign", "2026-11-24 02:30", "+12125551234", "1001", "198.51.100.1", screen.Allow, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := utc(tc.at)
			call := &screen.Call{Time: ts, Local: ts.In(c.Defaults.Location), Extension: tc.ext, Dest: number.Info{E164: tc.to}}
			if tc.ip != "" {
				call.SourceIP = netip.MustParseAddr(tc.ip)
			}
			var v screen.Verdict
			k.Check(context.Background(), call, &v)
			if v.Action != tc.want {
				t.Fatalf("action = %v, want %v (%+v)", v.Action, tc.want, v.Reasons())
			}
			if tc.next == "" {
				return
			}
			var text string
			for _, r := range v.Reasons() {
				if r.Code == "outside_calling_window" {
					text = r.Text
				}
			}
			if !strings.Contains(text, "next allowed "+tc.next) {
				t.Errorf("reason %q does not name next allowed %s", text, tc.next)
			}
		})
	}
}

func TestCompliancePolicyErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"compliance: {campaign: {trunks: [not-an-ip]}}", "p.yaml:5: defaults.compliance.campaign.trunks: entry 0: want an IP address or CIDR"},
		{"compliance: {holidays: [2026-13-01]}", "p.yaml:5: defaults.compliance.holidays: entry 0: want YYYY-MM-DD"},
		{"compliance: {caller_id: {owned: [\"12125550100\"]}}", "p.yaml:5: defaults.compliance.caller_id.owned: entry 0: want an E.164 number"},
		{"compliance: {dnc: {lists: {national: {file: x, format: xml}}}}", "p.yaml:5: defaults.compliance.dnc.lists.national.format: want e164 or registry"},
		{"compliance: {dnc: {lists: {national: {format: e164}}}}", "defaults.compliance.dnc.lists.national.file: required"},
		{"compliance: {dnc: {enabeld: true}}", "defaults.compliance.dnc.enabeld: unknown field (did you mean \"enabled\"?)"},
	}
	for _, tc := range cases {
		src := "defaults:\n  country: US\n  on_error: fail_open\n  calling_window: {enabled: true}\n  " + tc.yaml + "\n"
		_, err := config.Parse("p.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
