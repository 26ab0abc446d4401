package config

import (
	"strings"
	"testing"
)

func TestCallerIDConfig(t *testing.T) {
	cfg, err := Parse("p.yaml", []byte(`
stir:
  trust_anchors: /etc/tollgate/sti-ca
  x5u_allow_hosts: [cr.example.net]
  fetch_wait_ms: 0
defaults:
  country: US
  on_error: fail_open
  caller_id:
    enabled: true
    verify: true
    own_numbers: ["+1 212 555"]
    customer_numbers: ["1646"]
    signing_trunks: [198.51.100.0/24, 203.0.113.7]
    trunk_countries: {"198.51.100.0/24": [us, ca]}
    outcomes:
      failed: {action: block, risk: 90}
tenants:
  acme:
    caller_id:
      neighbour_digits: 0
      spoofing: {neighbour: {action: honeypot}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if w := *cfg.STIR.FetchWaitMS; w != 0 || cfg.STIR.FetchTimeoutMS != 2000 || cfg.STIR.IATMaxAgeS != 60 || !*cfg.STIR.RequireTNAuthList {
		t.Errorf("stir defaults: %+v", cfg.STIR)
	}
	d := cfg.Defaults.CallerID
	if d.Rules["outcomes.failed"].Action != "block" || *d.Rules["outcomes.failed"].Risk != 90 || d.Rules["outcomes.a"].Action != "allow" {
		t.Errorf("outcomes: failed %+v a %+v", d.Rules["outcomes.failed"], d.Rules["outcomes.a"])
	}
	if len(d.Signing) != 2 || d.Signing[1].Bits() != 32 || len(d.Trunks) != 1 || d.Trunks[0].Countries[1] != "CA" {
		t.Errorf("trunks: %v %v", d.Signing, d.Trunks)
	}
	for num, want := range map[string]string{"+12125550100": "A", "16465550100": "B", "+13125550100": "C"} {
		if got := d.Attestation(num); got != want {
			t.Errorf("Attestation(%s) = %s, want %s", num, got, want)
		}
	}
	a := cfg.Tenants["acme"].CallerID
	if a.Neighbour() != 0 || a.Rules["spoofing.neighbour"].Action != "honeypot" || *a.Rules["spoofing.neighbour"].Risk != 30 || !a.Verify {
		t.Errorf("acme: neighbour %d rule %+v verify %v", a.Neighbour(), a.Rules["spoofing.neighbour"], a.Verify)
	}
}

func TestCallerIDConfigErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"defaults:\n  country: US\n  on_error: fail_open\n  caller_id:\n    enabled: true\n    verify: true\n", "p.yaml:6: defaults.caller_id.verify: needs stir.trust_anchors"},
		{"defaults:\n  country: US\n  on_error: fail_open\n  caller_id:\n    outcomes:\n      b: {action: maybe}\n", "p.yaml:6: defaults.caller_id.outcomes.b.action: want allow, auth, block or honeypot"},
		{"defaults:\n  country: US\n  on_error: fail_open\n  caller_id:\n    anonymous: {risk: 101}\n", "p.yaml:5: defaults.caller_id.anonymous.risk: want 0–100"},
		{"defaults:\n  country: US\n  on_error: fail_open\n  caller_id:\n    signing_trunks: [nope]\n", "p.yaml:5: defaults.caller_id.signing_trunks: entry 0"},
		{"defaults:\n  country: US\n  on_error: fail_open\n  caller_id:\n    own_numbers: [abc]\n", "p.yaml:5: defaults.caller_id.own_numbers: entry 0"},
		{"defaults:\n  country: US\n  on_error: fail_open\n  caller_id:\n    spoofing: {neighbor: {action: auth}}\n", "p.yaml:5: defaults.caller_id.spoofing.neighbor: unknown field (did you mean \"neighbour\"?)"},
		{"stir:\n  fetch_wait_ms: 5000\ndefaults: {country: US, on_error: fail_open}\n", "p.yaml:2: stir.fetch_wait_ms: want 0–fetch_timeout_ms"},
		{"stir:\n  sign_key: k.pem\ndefaults: {country: US, on_error: fail_open}\n", "stir: set both sign_key and sign_x5u"},
		{"stir:\n  x5u_alow_hosts: [a]\ndefaults: {country: US, on_error: fail_open}\n", "p.yaml:2: stir.x5u_alow_hosts: unknown field"},
	} {
		_, err := Parse("p.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.src, err, c.want)
		}
	}
}
