package newsource_test

import (
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/newsource"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// tenant is a warm tenant profile that calls ES as a matter of course and
// knows one office address from its first day.
func tenant() *baseline.Profile {
	return &baseline.Profile{Calls: 5000, First: day0.Unix(), Countries: map[string]uint32{"ES": 400, "DE": 4000},
		Sources: map[string]int32{"10.0.0.1": int32(day0.Unix() / 86400)}}
}

type call struct {
	at         time.Duration // after day 30, 00:00 UTC
	ext, ip    string
	to, class  string
	rate       float64
	chargeable bool
	attempt    bool // refused by screening (not learned)
}

func run(t *testing.T, calls []call) []detect.Finding {
	t.Helper()
	d := config.DefaultDetect()
	learner := baseline.New()
	n := newsource.New(&d.NewSource, &d.Baseline, learner)
	p := tenant()
	var got []detect.Finding
	for i, x := range calls {
		ts := day0.AddDate(0, 0, 30).Add(x.at)
		c := &detect.Call{Rec: &cdr.Record{CallID: "c" + string(rune('a'+i)), Tenant: "acme", Extension: x.ext, Direction: screen.Outbound, SourceIP: x.ip, Start: ts},
			Dest: &number.Info{E164: x.to}, Class: x.class, Rate: x.rate, Chargeable: x.chargeable, International: x.chargeable,
			Handle: &baseline.Handle{Tenant: p, Key: detect.Key("acme", x.ext)}, Attempt: x.attempt, Running: !x.attempt}
		n.Observe(c, ts, func(f detect.Finding) { got = append(got, f) })
		if !x.attempt {
			learner.LearnSource(c.Handle, x.ip, ts.Unix()) // as the engine does after the detectors
		}
	}
	return got
}

// A remote agent's new home address (a new lease) carrying the agent's
// cheap calls to a country the tenant calls every day is no stolen
// credential: no finding, so no block of the address.
func TestNewLeaseUsualCallsNoFinding(t *testing.T) {
	got := run(t, []call{
		{at: 9 * time.Hour, ext: "1001", ip: "203.0.113.7", to: "+34911000001", class: "ES", rate: 0.02, chargeable: true},
		{at: 9*time.Hour + 10*time.Minute, ext: "1001", ip: "203.0.113.7", to: "+34911000002", class: "ES", rate: 0.02, chargeable: true},
		{at: 9*time.Hour + 20*time.Minute, ext: "1001", ip: "203.0.113.7", to: "+34911000003", class: "ES", rate: 0.02, chargeable: true},
	})
	if len(got) != 0 {
		t.Fatalf("findings %+v; want none for usual cheap calls from a new lease", got)
	}
}

// The attack: stolen credentials from a new address, costly calls to a
// country the tenant never calls. The address is blocked.
func TestStolenCredentialsBlocksAddress(t *testing.T) {
	got := run(t, []call{
		{at: 2 * time.Hour, ext: "1009", ip: "198.51.100.9", to: "+6771234567", class: "PG", rate: 1.2, chargeable: true},
		{at: 2*time.Hour + time.Minute, ext: "1009", ip: "198.51.100.9", to: "+6771234568", class: "PG", rate: 1.2, chargeable: true},
	})
	if len(got) != 1 || got[0].Target.Kind != "ip" || got[0].Target.Value != "198.51.100.9" || got[0].Action != "block_and_alert" {
		t.Fatalf("findings %+v; want one block of the address", got)
	}
}

// The same attack through an address that already carried the tenant's
// ordinary calls today (an office NAT): the extension and the number are
// blocked, not the address its agents share.
func TestSharedAddressBlocksExtensionNotAddress(t *testing.T) {
	got := run(t, []call{
		{at: 8 * time.Hour, ext: "1001", ip: "198.51.100.20", to: "+4930123456", class: "", rate: 0.01},
		{at: 8*time.Hour + 5*time.Minute, ext: "1002", ip: "198.51.100.20", to: "+34911000001", class: "ES", rate: 0.02, chargeable: true},
		{at: 9 * time.Hour, ext: "1009", ip: "198.51.100.20", to: "+6771234567", class: "PG", rate: 1.2, chargeable: true},
		{at: 9*time.Hour + time.Minute, ext: "1009", ip: "198.51.100.20", to: "+6771234568", class: "PG", rate: 1.2, chargeable: true},
	})
	if len(got) != 1 {
		t.Fatalf("findings %+v; want one", got)
	}
	f := got[0]
	if f.Target.Kind != "extension" || f.Target.Value != "1009" || f.Action != "block_and_alert" {
		t.Fatalf("target %+v; want extension 1009 blocked", f.Target)
	}
	for _, a := range f.Also {
		if a.Kind == "ip" {
			t.Fatalf("also %+v: the shared address must not be blocked", f.Also)
		}
	}
	if len(f.Also) == 0 || f.Also[0].Kind != "number" && f.Also[0].Kind != "prefix" {
		t.Fatalf("also %+v; want the destination blocked too", f.Also)
	}
}

// An intruder's own cheap calls to a usual country (stolen credentials
// mixing in ordinary-looking calls) do not make its address established:
// the address is still blocked, and with it the cheap calls.
func TestIntruderCheapCallsKeepAddressBlock(t *testing.T) {
	got := run(t, []call{
		{at: 14 * time.Hour, ext: "2007", ip: "198.51.100.30", to: "+34911000001", class: "ES", rate: 0.02, chargeable: true},
		{at: 14*time.Hour + 5*time.Minute, ext: "2007", ip: "198.51.100.30", to: "+34911000002", class: "ES", rate: 0.02, chargeable: true},
		{at: 14*time.Hour + 10*time.Minute, ext: "2007", ip: "198.51.100.30", to: "+6771234567", class: "PG", rate: 1.2, chargeable: true},
		{at: 14*time.Hour + 15*time.Minute, ext: "2007", ip: "198.51.100.30", to: "+6771234568", class: "PG", rate: 1.2, chargeable: true},
	})
	if len(got) != 1 || got[0].Target.Kind != "ip" || got[0].Target.Value != "198.51.100.30" {
		t.Fatalf("findings %+v; want the address blocked", got)
	}
}

// Stolen credentials first used at 23:55 UTC: the address is still new
// for the intruder's next calls after midnight (it was first used less
// than a day before), and is blocked.
func TestNewSourceAcrossMidnight(t *testing.T) {
	got := run(t, []call{
		{at: -5 * time.Minute, ext: "2025", ip: "198.51.100.40", to: "+4970052227225", class: "DE/personal", rate: 0.27, chargeable: true},
		{at: 10 * time.Minute, ext: "2025", ip: "198.51.100.40", to: "+23522709348", class: "TD", rate: 0.66, chargeable: true},
	})
	if len(got) != 1 || got[0].Target.Kind != "ip" || got[0].Target.Value != "198.51.100.40" {
		t.Fatalf("findings %+v; want the address blocked", got)
	}
}

// An address the tenant first used more than a day ago (a remote agent's
// lease from the day before yesterday) is known: its costly calls are no
// evidence of stolen credentials.
func TestNewSourceKnownAfterADay(t *testing.T) {
	got := run(t, []call{
		{at: -26 * time.Hour, ext: "1004", ip: "198.51.100.50", to: "+34911000001", class: "ES", rate: 0.02, chargeable: true},
		{at: 10 * time.Hour, ext: "1004", ip: "198.51.100.50", to: "+6771234567", class: "PG", rate: 1.2, chargeable: true},
		{at: 10*time.Hour + time.Minute, ext: "1004", ip: "198.51.100.50", to: "+6771234568", class: "PG", rate: 1.2, chargeable: true},
	})
	if len(got) != 0 {
		t.Fatalf("findings %+v; want none from an address used for over a day", got)
	}
}

// TestNewSourceRenewedAfterRefusals (issue 15, stolen_credentials): the
// intruder's address is blocked for new_source's expires_s (24 h), keeps
// calling through the block (refused), and calls again as soon as it
// lapses: that call is the finding again, ended while it runs.
func TestNewSourceRenewedAfterRefusals(t *testing.T) {
	ip := "198.51.100.9"
	got := run(t, []call{
		{at: 1 * time.Hour, ext: "1009", ip: ip, to: "+2203328688", class: "GM", rate: 0.91, chargeable: true},
		{at: 1*time.Hour + 10*time.Minute, ext: "1009", ip: ip, to: "+639252942778", class: "PH", rate: 0.11, chargeable: true},
		{at: 3 * time.Hour, ext: "1009", ip: ip, to: "+2203323695", class: "GM", rate: 0.91, chargeable: true, attempt: true},
		{at: 20 * time.Hour, ext: "1009", ip: ip, to: "+2203328050", class: "GM", rate: 0.91, chargeable: true, attempt: true},
		{at: 25*time.Hour + 15*time.Minute, ext: "1009", ip: ip, to: "+639557630387", class: "PH", rate: 0.09, chargeable: true},
	})
	if len(got) != 2 {
		t.Fatalf("%d findings, want 2 (the first two calls, then the call after the block): %+v", len(got), got)
	}
	f := got[1]
	if f.Code != "new_source" || f.Target.Kind != "ip" || f.Target.Value != ip || len(f.EndCalls) != 1 || f.EndCalls[0] != "ce" {
		t.Errorf("renewed finding %+v; want the address blocked and call ce ended", f)
	}
}
