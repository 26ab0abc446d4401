package dnc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

type alerts struct {
	mu sync.Mutex
	as []store.Alert
}

func (a *alerts) Alert(x store.Alert) { a.mu.Lock(); a.as = append(a.as, x); a.mu.Unlock() }

func setup(t *testing.T, extra string) (*DNC, *compliance.Live, *sqlite.Compliance, *alerts) {
	t.Helper()
	dir := t.TempDir()
	// The national registry's layout: area code, number.
	if err := os.WriteFile(filepath.Join(dir, "national.csv"), []byte("area_code,phone_number\n212,5550001\n212,5550002\n646,5550100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.txt"), []byte("# state list\n+13105550123\n\n+12125550003\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_open
  compliance:
    campaign: {extensions: ["5*"]}
    dnc:
      lists:
        national: {file: ` + filepath.Join(dir, "national.csv") + `, format: registry}
        state: {file: ` + filepath.Join(dir, "state.txt") + `}
` + extra
	c, err := config.Parse("p.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.OpenCompliance(filepath.Join(dir, "compliance.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	live := compliance.NewLive()
	al := &alerts{}
	k, err := New(c.Defaults, live, al)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*DNC), live, st, al
}

func run(k *DNC, ext, caller, callee string, at time.Time) *screen.Verdict {
	c := &screen.Call{ID: "c", Tenant: "defaults", Extension: ext, Caller: caller, Callee: callee, Time: at, Dest: number.Info{E164: callee}}
	var v screen.Verdict
	k.Check(context.Background(), c, &v)
	return &v
}

func TestScrubPrecedence(t *testing.T) {
	k, live, st, _ := setup(t, "")
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 15, 0, 0, 0, time.UTC) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// +12125550002: national list; consent on the 10th, expiring on the 20th.
	_, err := st.AddConsent(ctx, compliance.Consent{Tenant: "defaults", Number: "+12125550002", Type: "express_written", Source: "https://example.com/form#42", Time: day(10), Expires: day(20)})
	must(err)
	// A consent for another tenant lifts nothing here.
	_, err = st.AddConsent(ctx, compliance.Consent{Tenant: "other", Number: "+16465550100", Type: "express_written", Source: "web", Time: day(1)})
	must(err)
	// +12125559999: not listed; opted out on the 5th (every tenant).
	_, err = st.AddOptOut(ctx, compliance.OptOut{Number: "+12125559999", Source: "ivr", Time: day(5)})
	must(err)
	// +13105550123: state list; consent on the 1st, opt-out on the 12th, new consent on the 15th.
	_, err = st.AddConsent(ctx, compliance.Consent{Tenant: "defaults", Number: "+13105550123", Type: "express", Source: "call", Time: day(1)})
	must(err)
	_, err = st.AddOptOut(ctx, compliance.OptOut{Tenant: "defaults", Number: "+13105550123", Source: "agent", Time: day(12)})
	must(err)
	_, err = st.AddConsent(ctx, compliance.Consent{Tenant: "defaults", Number: "+13105550123", Type: "express_written", Source: "web", Time: day(15)})
	must(err)
	must(live.Refresh(ctx, st))

	cases := []struct {
		name, ext, callee string
		at                time.Time
		want              screen.Action
		code              string
	}{
		{"registry-listed, no consent", "5001", "+12125550001", day(11), screen.Reject, CodeListed},
		{"registry-listed, other tenant's consent", "5001", "+16465550100", day(11), screen.Reject, CodeListed},
		{"registry-listed, valid consent", "5001", "+12125550002", day(11), screen.Allow, CodeConsent},
		{"registry-listed, before consent", "5001", "+12125550002", day(9), screen.Reject, CodeListed},
		{"registry-listed, consent expired", "5001", "+12125550002", day(21), screen.Reject, CodeListed},
		{"e164 list", "5001", "+12125550003", day(11), screen.Reject, CodeListed},
		{"not listed", "5001", "+12125550004", day(11), screen.Allow, ""},
		{"internal opt-out (all tenants)", "5001", "+12125559999", day(11), screen.Reject, CodeOptOut},
		{"opt-out after consent revokes it", "5001", "+13105550123", day(13), screen.Reject, CodeOptOut},
		{"consent after opt-out lifts it", "5001", "+13105550123", day(16), screen.Allow, CodeConsent},
		{"not campaign traffic: not scrubbed", "1001", "+12125550001", day(11), screen.Allow, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := run(k, tc.ext, "+12125550100", tc.callee, tc.at)
			if v.Action != tc.want {
				t.Fatalf("action = %v, want %v (%+v)", v.Action, tc.want, v.Reasons())
			}
			if tc.code == "" {
				if len(v.Reasons()) != 0 {
					t.Errorf("reasons %+v, want none", v.Reasons())
				}
				return
			}
			if !v.Has(tc.code) {
				t.Errorf("reasons %+v lack %s", v.Reasons(), tc.code)
			}
		})
	}
	// The consent reason is the proof: it names the consent and its source.
	v := run(k, "5001", "", "+12125550002", day(11))
	if r := v.Reasons(); len(r) != 1 || !strings.Contains(r[0].Text, "form#42") || !strings.Contains(r[0].Text, "express_written") {
		t.Errorf("consent reason %+v does not cite the consent", r)
	}
	// Removing the opt-out (made by mistake) takes effect after a refresh.
	if _, err := st.RemoveOptOut(ctx, "", "+12125559999"); err != nil {
		t.Fatal(err)
	}
	must(live.Refresh(ctx, st))
	if v := run(k, "5001", "", "+12125559999", day(11)); v.Action != screen.Allow {
		t.Errorf("after removal: %v %+v", v.Action, v.Reasons())
	}
}

func TestConsentTypes(t *testing.T) {
	k, live, st, _ := setup(t, "      consent_types: [express_written]\n")
	ctx := context.Background()
	at := time.Date(2026, 11, 10, 15, 0, 0, 0, time.UTC)
	if _, err := st.AddConsent(ctx, compliance.Consent{Tenant: "defaults", Number: "+12125550001", Type: "ebr", Source: "crm", Time: at.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := live.Refresh(ctx, st); err != nil {
		t.Fatal(err)
	}
	if v := run(k, "5001", "", "+12125550001", at); v.Action != screen.Reject {
		t.Errorf("ebr consent lifted a listing when only express_written counts: %+v", v.Reasons())
	}
}

func TestCallerID(t *testing.T) {
	k, _, _, al := setup(t, "    caller_id: {owned: [\"+12125550100\", \"+1646555*\"]}\n")
	at := time.Date(2026, 11, 10, 15, 0, 0, 0, time.UTC)
	cases := []struct {
		caller string
		ok     bool
	}{
		{"+12125550100", true},
		{"12125550100", true},
		{"2125550100", true},
		{"(646) 555-0199", true},
		{"+16465550199", true},
		{"+12125550101", false},
		{"+442071234567", false},
		{"anonymous", false},
		{"", false},
	}
	for _, tc := range cases {
		v := run(k, "5001", tc.caller, "+12125550004", at)
		if got := !v.Has(CodeCallerID); got != tc.ok {
			t.Errorf("caller %q: owned = %v, want %v (%+v)", tc.caller, got, tc.ok, v.Reasons())
		}
		if !tc.ok && v.Action != screen.Reject {
			t.Errorf("caller %q: action %v, want reject", tc.caller, v.Action)
		}
	}
	// Not campaign traffic: no caller-ID rule.
	if v := run(k, "1001", "+442071234567", "+12125550004", at); v.Has(CodeCallerID) {
		t.Errorf("non-campaign call checked for caller ID: %+v", v.Reasons())
	}
	// A repeat within the minute raises no second alert.
	run(k, "5001", "+12125550101", "+12125550004", at.Add(30*time.Second))
	al.mu.Lock()
	defer al.mu.Unlock()
	// One alert per refused caller ID and minute: four distinct refused callers.
	if len(al.as) != 4 {
		t.Fatalf("%d alerts, want 4: %+v", len(al.as), al.as)
	}
	if al.as[0].Code != CodeCallerID || !strings.Contains(al.as[0].Text, "+12125550101") {
		t.Errorf("alert %+v", al.as[0])
	}
}

func TestBadListFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "bad.csv")
	os.WriteFile(f, []byte("212,5550001\n212,55x0002\n"), 0o600)
	c, err := config.Parse("p.yaml", []byte("defaults:\n  country: US\n  on_error: fail_open\n  compliance:\n    dnc:\n      lists:\n        national: {file: "+f+", format: registry}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(c.Defaults, compliance.NewLive(), nil)
	if err == nil || !strings.Contains(err.Error(), "bad.csv:2: want area code,number") || !strings.Contains(err.Error(), "compliance.dnc.lists.national") {
		t.Errorf("error %v", err)
	}
}
