package config

import (
	"errors"
	"strings"
	"testing"
)

// TestBadWordsNameFileLineField: a word outside its type's set is an
// error when the file is read, naming the file, the line and the field,
// and saying what was wanted and what was found, whether the value
// stands on its own line, in a flow mapping that shares a line with
// other keys, in a list item, or in a tenant merged over defaults.
func TestBadWordsNameFileLineField(t *testing.T) {
	const tenant = "defaults: {country: US, on_error: fail_open}\n"
	cases := []struct {
		name, src string
		want      string // the whole located error line
	}{
		{"tenant mode", "defaults:\n  country: US\n  on_error: fail_open\n  mode: loud\n",
			`w.yaml:4: defaults.mode: want enforce or shadow, got "loud"`},
		{"tenant on_error", "defaults:\n  country: US\n  on_error: fail_opn\n",
			`w.yaml:3: defaults.on_error: want fail_open or fail_closed, got "fail_opn"`},
		{"on_error in a flow mapping", "defaults: {country: US, on_error: open, mode: shadow}\n",
			`w.yaml:1: defaults.on_error: want fail_open or fail_closed, got "open"`},
		{"merged tenant", tenant + "tenants:\n  acme:\n    timezone: UTC\n    on_error: sometimes\n",
			`w.yaml:5: tenants.acme.on_error: want fail_open or fail_closed, got "sometimes"`},
		{"sip mode", tenant + "sip:\n  mode: b2bua\n",
			`w.yaml:3: sip.mode: want redirect or proxy, got "b2bua"`},
		{"detector action", tenant + "detectors:\n  wangiri:\n    action: nuke\n",
			`w.yaml:4: detectors.wangiri.action: want alert, require_pin, block_and_alert, honeypot or kill_switch, got "nuke"`},
		{"pumping action", tenant + "detectors:\n  pumping:\n    fast: {score: 2, action: nuke}\n",
			`w.yaml:4: detectors.pumping.fast.action: want alert, require_pin, block_and_alert, honeypot or kill_switch, got "nuke"`},
		{"pumping alias outside pumping", tenant + "detectors:\n  international_burst:\n    action: report\n",
			`w.yaml:4: detectors.international_burst.action: want alert, require_pin, block_and_alert, honeypot or kill_switch, got "report"`},
		{"block scope", tenant + "detectors:\n  range_dialing:\n    block: planet\n",
			`w.yaml:4: detectors.range_dialing.block: want extension, destination, source_ip or tenant, got "planet"`},
		{"severity", tenant + "detectors:\n  spend:\n    over:\n      severity: dire\n",
			`w.yaml:5: detectors.spend.over.severity: want info, warning or critical, got "dire"`},
		{"webhook min_severity in a list", tenant + "alerts:\n  webhooks:\n    - url: http://x.example\n      min_severity: loud\n",
			`w.yaml:5: alerts.webhooks[0].min_severity: want info, warning or critical, got "loud"`},
		{"pagerduty min_severity, second item", tenant + "alerts:\n  pagerduty:\n    - {routing_key_env: PD}\n    - {routing_key_env: PD, min_severity: high}\n",
			`w.yaml:5: alerts.pagerduty[1].min_severity: want info, warning or critical, got "high"`},
		{"token role", "server:\n  tokens:\n    - {name: a, role: root, secret_env: X}\n" + tenant,
			`w.yaml:3: server.tokens[0].role: want admin, operator, screen or read, got "root"`},
		{"word given a list", "defaults:\n  country: US\n  on_error: [fail_open]\n",
			`w.yaml:3: defaults.on_error: want fail_open or fail_closed`},
		// Treatments are checked per key, by the tenant's validation.
		{"wangiri callback", tenant + "detectors:\n  wangiri:\n    callback: ring\n",
			`w.yaml:4: detectors.wangiri.callback: want block or auth, got "ring"`},
		{"destination default", "defaults:\n  country: US\n  on_error: fail_open\n  destinations: {default: maybe}\n",
			`w.yaml:4: defaults.destinations.default: want deny, allow or auth, got "maybe"`},
		{"after-hours treatment", "defaults:\n  country: US\n  on_error: fail_open\n  hours:\n    business: {from: \"08:00\", to: \"18:00\"}\n    after_hours_international: score\n",
			`w.yaml:6: defaults.hours.after_hours_international: want allow, auth or block, got "score"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tc.src))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse error = %v (%T), want config.Errors", err, err)
			}
			found := false
			for _, e := range es {
				found = found || strings.HasPrefix(e.Error(), tc.want)
			}
			if !found {
				t.Errorf("errors:\n%v\nwant one starting %q", err, tc.want)
			}
			if len(es) != 1 {
				t.Errorf("got %d errors, want the one:\n%v", len(es), err)
			}
		})
	}
}

// TestWordsLoadTyped: good words arrive as the typed constants, empty
// ones get their defaults, and the pumping aliases become the words they
// stand for.
func TestWordsLoadTyped(t *testing.T) {
	src := `defaults: {country: US, on_error: fail_closed}
tenants:
  acme: {mode: shadow, on_error: fail_open}
sip: {mode: proxy, upstream: "sip:pbx.example:5060"}
detectors:
  pumping:
    slow: {action: block}
    fast: {action: report}
  range_dialing: {block: tenant, severity: info}
alerts:
  slack: [{url: "https://hooks.example/x", min_severity: critical}]
`
	c, err := Parse("w.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Defaults.Mode != ModeEnforce || c.Defaults.OnError != FailClosed {
		t.Errorf("defaults mode, on_error = %q, %q; want enforce (default), fail_closed", c.Defaults.Mode, c.Defaults.OnError)
	}
	if a := c.Tenants["acme"]; a.Mode != ModeShadow || a.OnError != FailOpen {
		t.Errorf("acme mode, on_error = %q, %q", a.Mode, a.OnError)
	}
	if c.SIP.Mode != SIPProxy {
		t.Errorf("sip mode = %q", c.SIP.Mode)
	}
	d := c.Detect
	if d.Pumping.Slow.Action != ActionBlockAndAlert || d.Pumping.Fast.Action != ActionAlert {
		t.Errorf("pumping aliases: slow %q, fast %q; want block_and_alert, alert", d.Pumping.Slow.Action, d.Pumping.Fast.Action)
	}
	if d.RangeDialing.Block != BlockTenant || d.RangeDialing.Severity != SeverityInfo {
		t.Errorf("range_dialing = %q, %q", d.RangeDialing.Block, d.RangeDialing.Severity)
	}
	if d.Wangiri.Callback != TreatBlock || c.Defaults.Destinations.Default != TreatDeny {
		t.Errorf("treatment defaults: callback %q, destinations.default %q", d.Wangiri.Callback, c.Defaults.Destinations.Default)
	}
	if c.Alerts.Slack[0].MinSeverity != SeverityCritical {
		t.Errorf("slack min_severity = %q", c.Alerts.Slack[0].MinSeverity)
	}
}
