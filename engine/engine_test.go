package engine

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

var (
	intelOnce sync.Once
	intel     *number.Intel
)

func testIntel(t testing.TB) *number.Intel {
	intelOnce.Do(func() {
		var err error
		intel, err = number.New(number.Options{})
		if err != nil {
			panic(err)
		}
	})
	return intel
}

type recorder struct {
	mu     sync.Mutex
	ds     []store.Decision
	es     []store.CallEvent
	alerts []store.Alert
}

func (r *recorder) Decision(d store.Decision) bool {
	r.mu.Lock()
	r.ds = append(r.ds, d)
	r.mu.Unlock()
	return true
}

func (r *recorder) Event(e store.CallEvent) bool {
	r.mu.Lock()
	r.es = append(r.es, e)
	r.mu.Unlock()
	return true
}
func (r *recorder) Alert(a store.Alert) { r.mu.Lock(); r.alerts = append(r.alerts, a); r.mu.Unlock() }

func newEngine(t testing.TB, policy string) (*Engine, *recorder) {
	t.Helper()
	var cfg *config.Config
	if policy == "" {
		cfg = config.Default()
	} else {
		var err error
		if cfg, err = config.Parse("test.yaml", []byte(policy)); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	e, err := New(Options{Config: cfg, Numbers: testIntel(t), Recorder: rec, Env: check.Env{Alerter: rec}})
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
}

// monday10 is a Monday at 10:00 in New York: business hours.
var monday10 = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func call(id, ext, callee string, at time.Time) *screen.Call {
	return &screen.Call{ID: id, Tenant: "acme", Extension: ext, Caller: ext, Callee: callee, Time: at}
}

func screenOne(t testing.TB, e *Engine, c *screen.Call) *screen.Verdict {
	t.Helper()
	v := new(screen.Verdict)
	if err := e.Screen(context.Background(), c, v); err != nil {
		t.Fatalf("Screen(%s): %v", c.Callee, err)
	}
	return v
}

func codes(v *screen.Verdict) string {
	var s []string
	for _, r := range v.Reasons() {
		s = append(s, r.Code)
	}
	return strings.Join(s, ",")
}

func TestDefaultPolicy(t *testing.T) {
	e, _ := newEngine(t, "")
	night := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC) // 03:00 in New York
	cases := []struct {
		callee  string
		at      time.Time
		action  screen.Action
		code    string // must be among the reasons
		primary string // code of the primary reason ("" for allow)
	}{
		{"+252612345678", monday10, screen.Reject, "high_risk_destination", "high_risk_destination"},
		{"19005551234", monday10, screen.Reject, "premium_prefix", "high_risk_destination"},
		{"011442071234567", monday10, screen.Challenge, "destination_auth", "destination_auth"},
		{"2125551234", monday10, screen.Allow, "", ""},
		{"2125551234", night, screen.Allow, "", ""}, // domestic at night is fine
		{"911", monday10, screen.Allow, "emergency_number", ""},
		{"911", night, screen.Allow, "emergency_number", ""},
		{"011390212345678", monday10, screen.Reject, "destination_not_allowed", "destination_not_allowed"}, // Italy: default deny
		{"+5372345678", monday10, screen.Reject, "destination_blocked", "high_risk_destination"},           // Cuba
		{"+18095551234", monday10, screen.Allow, "limited_destination", ""},                                // 1809 limit, +1 allowed
		{"+88216123456", monday10, screen.Reject, "high_risk_destination", "high_risk_destination"},
		{"+14165550123", night, screen.Challenge, "night_international", "night_international"}, // Canada at 03:00
		{"+19999999999", monday10, screen.Reject, "invalid_number", "invalid_number"},
		{"*67011252612345678", monday10, screen.Reject, "high_risk_destination", "high_risk_destination"}, // a service code hides nothing
		{"*67 212 555 1234", monday10, screen.Allow, "", ""},
	}
	for i, tc := range cases {
		v := screenOne(t, e, call(fmt.Sprint("c", i), "1001", tc.callee, tc.at))
		if v.Action != tc.action {
			t.Errorf("%s: action = %v, want %v (reasons %s)", tc.callee, v.Action, tc.action, codes(v))
		}
		if tc.code != "" && !v.Has(tc.code) {
			t.Errorf("%s: reasons %s, want %s among them", tc.callee, codes(v), tc.code)
		}
		if p, ok := v.Primary(); ok && p.Code != tc.primary || !ok && tc.primary != "" {
			t.Errorf("%s: primary reason %q, want %q", tc.callee, p.Code, tc.primary)
		}
	}
}

const tenPerHour = `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"44": allow, "49": allow}
  limits:
    extension:
      international_calls_per_hour: 10
      concurrent_international: 3
    account:
      international_spend_daily: 5
      max_call_duration_intl: 3600
`

func TestEleventhInternationalCallRejected(t *testing.T) {
	e, _ := newEngine(t, tenPerHour)
	for i := 0; i < 10; i++ {
		at := monday10.Add(time.Duration(i) * time.Minute)
		c := call(fmt.Sprint("burst", i), "1001", "+442071234567", at)
		v := screenOne(t, e, c)
		if v.Action != screen.Allow {
			t.Fatalf("call %d: %v (%s), want allow", i+1, v.Action, codes(v))
		}
		// End each call so concurrency does not interfere.
		if _, err := e.Event(context.Background(), Event{CallID: c.ID, Type: "end", Time: at.Add(10 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	v := screenOne(t, e, call("burst10", "1001", "+442071234567", monday10.Add(30*time.Minute)))
	if v.Action != screen.Reject || !v.Has("rate_limit") {
		t.Fatalf("11th call: %v (%s), want reject by rate_limit", v.Action, codes(v))
	}
	p, _ := v.Primary()
	if !strings.Contains(p.Rule, "limits.extension.international_calls_per_hour") || !strings.Contains(p.Text, "limit 10") {
		t.Errorf("reason = %+v, want it to name the limit", p)
	}
	// Another extension is not affected; the first is free again an hour later.
	if v := screenOne(t, e, call("other", "1002", "+442071234567", monday10.Add(30*time.Minute))); v.Action != screen.Allow {
		t.Errorf("other extension: %v (%s)", v.Action, codes(v))
	}
	if v := screenOne(t, e, call("later", "1001", "+442071234567", monday10.Add(61*time.Minute))); v.Action != screen.Allow {
		t.Errorf("an hour later: %v (%s)", v.Action, codes(v))
	}
	// A retried screen of an admitted call does not count twice.
	if v := screenOne(t, e, call("later", "1001", "+442071234567", monday10.Add(61*time.Minute))); v.Action != screen.Allow {
		t.Errorf("retry: %v (%s)", v.Action, codes(v))
	}
}

func TestConcurrencySlotsReleased(t *testing.T) {
	e, _ := newEngine(t, tenPerHour)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		c := call(fmt.Sprint("live", i), "1001", "+4930123456", monday10)
		if v := screenOne(t, e, c); v.Action != screen.Allow {
			t.Fatalf("call %d: %v (%s)", i, v.Action, codes(v))
		}
		ids = append(ids, c.ID)
	}
	v := screenOne(t, e, call("live3", "1001", "+4930123456", monday10))
	if v.Action != screen.Reject || !v.Has("concurrency_limit") {
		t.Fatalf("4th concurrent: %v (%s)", v.Action, codes(v))
	}
	// One never answered (cancel), one answered and ended, one busy.
	if _, err := e.Event(ctx, Event{CallID: ids[0], Type: "cancel", Time: monday10.Add(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Event(ctx, Event{CallID: ids[1], Type: "answer", Time: monday10.Add(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	res, err := e.Event(ctx, Event{CallID: ids[1], Type: "end", Time: monday10.Add(63 * time.Second)})
	if err != nil || res.Duration != 60 || res.Released != 1 {
		t.Fatalf("end: %+v %v, want 60 s and one slot released", res, err)
	}
	if _, err := e.Event(ctx, Event{CallID: ids[2], Type: "busy", Time: monday10.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	// Duplicates and late events change nothing.
	if res, _ := e.Event(ctx, Event{CallID: ids[1], Type: "end", Time: monday10.Add(70 * time.Second)}); !res.Duplicate {
		t.Errorf("duplicate end: %+v", res)
	}
	if res, _ := e.Event(ctx, Event{CallID: ids[0], Type: "answer", Time: monday10.Add(70 * time.Second)}); !res.Late {
		t.Errorf("answer after end: %+v", res)
	}
	if _, err := e.Event(ctx, Event{CallID: "nope", Type: "end"}); err == nil {
		t.Errorf("unknown call id accepted")
	}
	if n := e.Counters().Held(keyExtConcurrent("acme", "1001"), monday10.Add(time.Minute)); n != 0 {
		t.Errorf("slots held after all calls ended = %d, want 0", n)
	}
	if v := screenOne(t, e, call("live4", "1001", "+4930123456", monday10.Add(2*time.Minute))); v.Action != screen.Allow {
		t.Errorf("after hangups: %v (%s)", v.Action, codes(v))
	}
}

func TestSpendCapAndMaxDuration(t *testing.T) {
	e, _ := newEngine(t, tenPerHour)
	ctx := context.Background()
	// UK fixed at the coarse default rate; 5.00 a day buys rate-limited minutes.
	c := call("s1", "1001", "+442071234567", monday10)
	v := screenOne(t, e, c)
	if v.Action != screen.Allow || v.MaxDuration <= 0 || v.MaxDuration > 3600 {
		t.Fatalf("first call: %v max %d", v.Action, v.MaxDuration)
	}
	rate := c.Dest.Rate
	want := int(5 / rate * 60)
	if want > 3600 {
		want = 3600
	}
	if v.MaxDuration != want {
		t.Errorf("max duration = %d, want %d (budget 5 at %.3f/min, capped at 3600)", v.MaxDuration, want, rate)
	}
	dur := int(6 / rate * 60) // more than the whole budget
	if _, err := e.Event(ctx, Event{CallID: "s1", Type: "end", Time: monday10.Add(time.Hour), Duration: &dur}); err != nil {
		t.Fatal(err)
	}
	v = screenOne(t, e, call("s2", "1001", "+442071234567", monday10.Add(2*time.Hour)))
	if v.Action != screen.Reject || !v.Has("spend_cap") {
		t.Errorf("after the budget is spent: %v (%s)", v.Action, codes(v))
	}
	// The next local day starts a new budget.
	if v := screenOne(t, e, call("s3", "1001", "+442071234567", monday10.Add(24*time.Hour))); v.Action != screen.Allow {
		t.Errorf("next day: %v (%s)", v.Action, codes(v))
	}
}

func TestShadowModeRecordsButAllows(t *testing.T) {
	e, rec := newEngine(t, tenPerHour+"tenants:\n  acme:\n    mode: shadow\n")
	v := screenOne(t, e, call("sh1", "1001", "+252612345678", monday10))
	if v.Action != screen.Reject || v.Enforced != screen.Allow || !v.Shadow {
		t.Fatalf("shadow: action %v enforced %v shadow %v", v.Action, v.Enforced, v.Shadow)
	}
	if SIPCode(v) != 302 {
		t.Errorf("shadow SIP code = %d, want 302", SIPCode(v))
	}
	if len(rec.ds) != 1 || rec.ds[0].Action != "reject" || rec.ds[0].Enforced != "allow" || !rec.ds[0].Shadow {
		t.Errorf("recorded %+v", rec.ds)
	}
}

func TestKillSwitchAndBlocks(t *testing.T) {
	e, _ := newEngine(t, tenPerHour)
	now := monday10
	e.Blocks().Replace(blocks.Build([]store.Block{
		{ID: 1, Kind: store.BlockNumber, Value: "+442079460000", Reason: "fraud"},
		{ID: 2, Kind: store.BlockPrefix, Value: "4930", Tenant: "acme"},
		{ID: 3, Kind: store.BlockExtension, Value: "1666", Tenant: "acme", Scope: "international"},
		{ID: 4, Kind: store.BlockIP, Value: "198.51.100.0/24"},
		{ID: 5, Kind: store.BlockNumber, Value: "+442071234568", Expires: now.Add(-time.Minute)},
	}, nil, now), now)
	cases := []struct {
		c    *screen.Call
		want string
	}{
		{call("b1", "1001", "+442079460000", now), "blocked_number"},
		{call("b2", "1001", "+493012345678", now), "blocked_prefix"},
		{call("b3", "1666", "+442071234567", now), "blocked_extension"},
		{&screen.Call{ID: "b4", Tenant: "acme", Extension: "1001", Callee: "2125551234", SourceIP: netip.MustParseAddr("198.51.100.7"), Time: now}, "blocked_ip"},
	}
	for _, tc := range cases {
		if v := screenOne(t, e, tc.c); v.Action != screen.Reject || !v.Has(tc.want) {
			t.Errorf("%s: %v (%s), want reject %s", tc.c.ID, v.Action, codes(v), tc.want)
		}
	}
	if v := screenOne(t, e, call("b5", "1666", "2125551234", now)); v.Action != screen.Allow {
		t.Errorf("international-only extension block stopped a domestic call: %s", codes(v))
	}
	if v := screenOne(t, e, call("b6", "1001", "+442071234568", now)); v.Action != screen.Allow {
		t.Errorf("expired block still applies: %s", codes(v))
	}
	e.Blocks().Replace(blocks.Build(nil, []store.KillSwitch{{Tenant: "acme", Active: true, Reason: "incident 42"}}, now), now)
	if v := screenOne(t, e, call("k1", "1001", "+442071234567", now)); v.Action != screen.Reject || !v.Has("kill_switch") {
		t.Errorf("kill switch: %v (%s)", v.Action, codes(v))
	}
	if v := screenOne(t, e, call("k2", "1001", "2125551234", now)); v.Action != screen.Allow {
		t.Errorf("kill switch stopped a domestic call: %s", codes(v))
	}
	if v := screenOne(t, e, call("k3", "1001", "112", now)); v.Action != screen.Allow {
		t.Errorf("kill switch stopped an emergency call: %s", codes(v))
	}
}

func TestFailModes(t *testing.T) {
	for _, mode := range []string{"fail_open", "fail_closed"} {
		pol := strings.Replace(tenPerHour, "on_error: fail_closed", "on_error: "+mode, 1) + "server:\n  state_max_age_s: 5\n"
		e, _ := newEngine(t, pol)
		e.blocks.Confirm(time.Now().Add(-time.Minute)) // the store has not answered for a minute
		v := screenOne(t, e, call("f-"+mode, "1001", "2125551234", monday10))
		if mode == "fail_open" && (v.Action != screen.Allow || !v.Has("fail_open")) {
			t.Errorf("fail_open: %v (%s)", v.Action, codes(v))
		}
		if mode == "fail_closed" && (v.Action != screen.Reject || SIPCode(v) != 503) {
			t.Errorf("fail_closed: %v code %d (%s)", v.Action, SIPCode(v), codes(v))
		}
		if v := screenOne(t, e, call("f911-"+mode, "1001", "911", monday10)); v.Action != screen.Allow {
			t.Errorf("%s: emergency call refused", mode)
		}
	}
}

func TestBadInput(t *testing.T) {
	e, _ := newEngine(t, strings.Replace(tenPerHour, "defaults:", "allow_unknown_tenants: false\ndefaults:", 1)+"tenants:\n  acme: {}\n")
	for _, c := range []*screen.Call{
		{ID: "", Tenant: "acme", Callee: "2125551234"},
		{ID: "x", Tenant: "acme", Callee: "call me maybe"},
		{ID: "x", Tenant: "acme", Callee: ""},
		{ID: "x", Tenant: "nobody", Callee: "2125551234"},
		{ID: strings.Repeat("x", 300), Tenant: "acme", Callee: "2125551234"},
		{ID: "y", Tenant: "acme", Callee: "2125551234", Time: time.Now().Add(48 * time.Hour)},
		{ID: "y", Tenant: "acme", Callee: "2125551234", Time: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := e.Screen(context.Background(), c, new(screen.Verdict)); err == nil {
			t.Errorf("Screen(%q, %q, %q) accepted", c.ID, c.Tenant, c.Callee)
		}
	}
	if e.LiveCalls() != 0 {
		t.Errorf("bad input left %d live calls", e.LiveCalls())
	}
}

func TestInternationalBurst(t *testing.T) {
	e, _ := newEngine(t, `
defaults:
  country: US
  on_error: fail_closed
  destinations: {default: allow}
  limits:
    extension:
      international_burst: {calls: 3, window_s: 300}
`)
	for i := 0; i < 4; i++ {
		v := screenOne(t, e, call(fmt.Sprint("bu", i), "1001", "+4930123456", monday10.Add(time.Duration(i)*time.Minute)))
		if want := i < 3; (v.Action == screen.Allow) != want {
			t.Fatalf("call %d: %v (%s)", i+1, v.Action, codes(v))
		}
		if i == 3 {
			if p, _ := v.Primary(); p.Rule != "defaults.limits.extension.international_burst" {
				t.Errorf("rule = %q", p.Rule)
			}
		}
	}
	if v := screenOne(t, e, call("bu5", "1001", "+4930123456", monday10.Add(5*time.Minute))); v.Action != screen.Allow {
		t.Errorf("after the first call left the 5-minute window: %v (%s)", v.Action, codes(v))
	}
}
