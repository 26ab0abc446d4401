package callerid_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/check/callerid"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/stir"
	"github.com/tollgate-voip/tollgate/stir/stirtest"
	"github.com/tollgate-voip/tollgate/store"
)

var (
	intelOnce sync.Once
	intel     *number.Intel
	intelErr  error
)

func numbers(t testing.TB) *number.Intel {
	intelOnce.Do(func() { intel, intelErr = number.New(number.Options{}) })
	if intelErr != nil {
		t.Fatal(intelErr)
	}
	return intel
}

var at = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

const policy = `
stir:
  trust_anchors: %ANCHORS%
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_open
  destinations: {default: allow}
  caller_id:
    enabled: true
    verify: true
    own_numbers: ["+1 202 555 01"]
    customer_numbers: ["1646"]
    signing_trunks: [198.51.100.0/24]
    trunk_countries: {"192.0.2.0/24": [US, CA]}
`

type env struct {
	eng    *engine.Engine
	pki    *stirtest.PKI
	srv    *stirtest.Server
	signer *stir.Signer
	live   *blocks.Live
	cfg    *config.Config
}

func newEnv(t testing.TB, extra string) *env {
	t.Helper()
	pki := stirtest.NewPKI(t, "1234", at)
	srv := stirtest.NewServer(t, pki.ChainPEM())
	dir := t.TempDir()
	anchors := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(anchors, pki.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("p.yaml", []byte(strings.Replace(policy, "%ANCHORS%", anchors, 1)+extra))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := stir.LoadTrust(cfg.STIR.TrustAnchors, "")
	if err != nil {
		t.Fatal(err)
	}
	// The SSRF guard is relaxed explicitly for the loopback certificate server.
	ver, err := stir.NewVerifier(stir.Options{Trust: trust, RequireTNAuthList: true, Wait: 3 * time.Second,
		Fetch: stir.FetchPolicy{AllowSpecialAddrs: true, Ports: []int{srv.Port()}, RootCAs: srv.RootCAs()}})
	if err != nil {
		t.Fatal(err)
	}
	live := blocks.NewLive()
	live.Replace(blocks.Build([]store.Block{{ID: 7, Kind: "number", Value: "12125559876", Reason: "robocaller"}}, nil, at), at)
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: numbers(t), Env: check.Env{STIR: ver, Blocks: live}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := stir.NewSigner(pki.LeafKey, srv.X5U)
	if err != nil {
		t.Fatal(err)
	}
	return &env{eng: eng, pki: pki, srv: srv, signer: signer, live: live, cfg: cfg}
}

func (e *env) sign(t testing.TB, orig, dest, attest string, iat time.Time) string {
	h, err := e.signer.Sign(orig, dest, attest, "", iat)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (e *env) screen(t testing.TB, c screen.Call) *screen.Verdict {
	t.Helper()
	if c.ID == "" {
		c.ID = "call-" + c.Caller
	}
	c.Direction = screen.Inbound
	if c.Time.IsZero() {
		c.Time = at
	}
	var v screen.Verdict
	if err := e.eng.Screen(context.Background(), &c, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func codes(v *screen.Verdict) string {
	var s []string
	for _, r := range v.Reasons() {
		if r.Check == "callerid" {
			s = append(s, r.Code)
		}
	}
	return strings.Join(s, ",")
}

func TestSTIROutcomes(t *testing.T) {
	e := newEnv(t, "")
	const callee, caller = "+12025550123", "+13125550100"
	good := func(att string) string { return e.sign(t, caller, callee, att, at) }
	cases := []struct {
		name     string
		call     screen.Call
		codes    string
		action   screen.Action
		risk     int
		verstat  string
		sipError int
	}{
		{"attestation A", screen.Call{Caller: caller, Callee: callee, Identity: good("A")}, "stir_passed_a", screen.Allow, 0, "TN-Validation-Passed", 0},
		{"attestation B", screen.Call{Caller: "3125550100", Callee: callee, Identity: good("B")}, "stir_passed_b", screen.Allow, 10, "TN-Validation-Passed", 0},
		{"attestation C", screen.Call{Caller: caller, Callee: callee, Identity: good("C")}, "stir_passed_c", screen.Allow, 25, "TN-Validation-Passed", 0},
		{"stale iat", screen.Call{Caller: caller, Callee: callee, Identity: e.sign(t, caller, callee, "A", at.Add(-2*time.Minute))}, "stir_failed", screen.Honeypot, 60, "TN-Validation-Failed", 403},
		{"future iat", screen.Call{Caller: caller, Callee: callee, Identity: e.sign(t, caller, callee, "A", at.Add(2*time.Minute))}, "stir_failed", screen.Honeypot, 60, "TN-Validation-Failed", 403},
		{"orig mismatch", screen.Call{Caller: "+13125550199", Callee: callee, Identity: good("A")}, "stir_failed", screen.Honeypot, 60, "TN-Validation-Failed", 438},
		{"dest mismatch", screen.Call{Caller: caller, Callee: "+12025550999", Identity: good("A")}, "stir_failed", screen.Honeypot, 60, "TN-Validation-Failed", 438},
		{"garbage", screen.Call{Caller: caller, Callee: callee, Identity: "aaaa.bbbb.cccc"}, "stir_failed", screen.Honeypot, 60, "TN-Validation-Failed", 438},
		{"absent, other trunk", screen.Call{Caller: caller, Callee: callee, SourceIP: netip.MustParseAddr("203.0.113.9")}, "stir_absent", screen.Allow, 10, "No-TN-Validation", 0},
		{"absent, signing trunk", screen.Call{Caller: caller, Callee: callee, SourceIP: netip.MustParseAddr("198.51.100.20")}, "stir_absent", screen.Challenge, 40, "No-TN-Validation", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := e.screen(t, c.call)
			if got := codes(v); got != c.codes {
				t.Errorf("codes %q, want %q (%+v)", got, c.codes, v.Reasons())
			}
			if v.Action != c.action || v.Risk != c.risk {
				t.Errorf("action %v risk %d, want %v %d", v.Action, v.Risk, c.action, c.risk)
			}
			if got := callerid.Verstat(v); got != c.verstat {
				t.Errorf("Verstat = %q, want %q", got, c.verstat)
			}
			if code, _ := callerid.IdentityError(v); code != c.sipError {
				t.Errorf("IdentityError = %d, want %d", code, c.sipError)
			}
		})
	}
	// Outbound calls are not judged.
	c := screen.Call{ID: "out", Caller: caller, Callee: callee, Time: at, Direction: screen.Outbound}
	var v screen.Verdict
	if err := e.eng.Screen(context.Background(), &c, &v); err != nil || codes(&v) != "" {
		t.Errorf("outbound: %v %q, want no callerid reason", err, codes(&v))
	}
}

func TestCertificateFailures(t *testing.T) {
	e := newEnv(t, "")
	const callee, caller = "+12025550123", "+13125550100"
	other := stirtest.NewPKI(t, "999", at) // not trusted
	otherSrv := stirtest.NewServer(t, other.ChainPEM())
	for _, c := range []struct {
		name string
		x5u  string
		key  *stir.Signer
		code int
	}{
		{"x5u 404", e.srv.URL + "/nothing.pem", nil, 436},
		{"x5u port not allowed", otherSrv.X5U, nil, 436},
	} {
		s, _ := stir.NewSigner(e.pki.LeafKey, c.x5u)
		h, _ := s.Sign(caller, callee, "A", "", at)
		v := e.screen(t, screen.Call{Caller: caller, Callee: callee, Identity: h})
		if code, _ := callerid.IdentityError(v); code != c.code || v.Action != screen.Honeypot {
			t.Errorf("%s: code %d action %v (%+v), want %d honeypot", c.name, code, v.Action, v.Reasons(), c.code)
		}
	}
	// Another signer's key under our x5u: the signature fails.
	s, _ := stir.NewSigner(other.LeafKey, e.srv.X5U)
	h, _ := s.Sign(caller, callee, "A", "", at)
	v := e.screen(t, screen.Call{Caller: caller, Callee: callee, Identity: h})
	if code, _ := callerid.IdentityError(v); code != 438 {
		t.Errorf("wrong key: code %d (%+v), want 438", code, v.Reasons())
	}
}

func TestSpoofingHeuristics(t *testing.T) {
	e := newEnv(t, `
tenants:
  strict:
    caller_id:
      anonymous: {action: block}
      spoofing: {neighbour: {action: honeypot, risk: 45}}
`)
	const callee = "+12025550123"
	cases := []struct {
		name   string
		call   screen.Call
		codes  string
		action screen.Action
	}{
		{"neighbour", screen.Call{Caller: "+12025559999", Callee: callee}, "stir_absent,neighbour_spoofing", screen.Challenge},
		{"neighbour, strict tenant", screen.Call{Tenant: "strict", Caller: "+12025559999", Callee: callee}, "stir_absent,neighbour_spoofing", screen.Honeypot},
		{"caller is callee", screen.Call{Caller: callee, Callee: callee}, "stir_absent,caller_is_callee", screen.Challenge},
		{"own number", screen.Call{Caller: "+12025550177", Callee: "+13125550100"}, "stir_absent,caller_own_number", screen.Challenge},
		{"anonymous", screen.Call{Caller: "anonymous", Callee: callee}, "stir_absent,anonymous_caller", screen.Challenge},
		{"withheld, strict", screen.Call{Tenant: "strict", Caller: "", Callee: callee}, "stir_absent,anonymous_caller", screen.Reject},
		{"invalid", screen.Call{Caller: "+1555", Callee: callee}, "stir_absent,caller_invalid", screen.Challenge},
		{"premium", screen.Call{Caller: "+19005551234", Callee: callee}, "stir_absent,caller_premium", screen.Challenge},
		{"toll-free", screen.Call{Caller: "+18005551234", Callee: callee}, "stir_absent,caller_toll_free", screen.Allow},
		{"country vs trunk", screen.Call{Caller: "+442071234567", Callee: callee, SourceIP: netip.MustParseAddr("192.0.2.5")}, "stir_absent,caller_country_mismatch", screen.Allow},
		{"country fits trunk", screen.Call{Caller: "+14165550123", Callee: callee, SourceIP: netip.MustParseAddr("192.0.2.5")}, "stir_absent", screen.Allow},
		{"reputation", screen.Call{Caller: "+12125559876", Callee: callee}, "stir_absent,caller_reputation", screen.Reject},
		{"plain caller", screen.Call{Caller: "+13125550100", Callee: callee}, "stir_absent", screen.Allow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := e.screen(t, c.call)
			if got := codes(v); got != c.codes || v.Action != c.action {
				t.Errorf("codes %q action %v, want %q %v (%+v)", got, v.Action, c.codes, c.action, v.Reasons())
			}
		})
	}
	// The same neighbour number signed with attestation A is believed.
	h := e.sign(t, "+12025559999", callee, "A", at)
	v := e.screen(t, screen.Call{Caller: "+12025559999", Callee: callee, Identity: h})
	if got := codes(v); got != "stir_passed_a" || v.Action != screen.Allow {
		t.Errorf("signed neighbour: %q %v, want stir_passed_a allow", got, v.Action)
	}
	// Risk adds up: neighbour (30) + absent (10).
	v = e.screen(t, screen.Call{Caller: "+12025559999", Callee: callee})
	if v.Risk != 40 {
		t.Errorf("neighbour risk %d, want 40", v.Risk)
	}
}

func TestSignCallAttestation(t *testing.T) {
	e := newEnv(t, "")
	cid := &e.cfg.Defaults.CallerID
	for caller, want := range map[string]string{"+12025550142": "A", "+16465550100": "B", "+13125550100": "C"} {
		h, err := callerid.SignCall(e.signer, cid, caller, "+12025550123", at)
		if err != nil {
			t.Fatal(err)
		}
		id, err := stir.ParseIdentity(h)
		if err != nil || id.Claims.Attest != want {
			t.Errorf("SignCall(%s): %v attest %q, want %s", caller, err, id.Claims.Attest, want)
		}
	}
}
