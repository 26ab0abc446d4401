package config

import (
	"strings"
	"testing"
)

// TestIncidentNotifierConfig: the alertmanager, pagerduty and incidents
// keys parse, default, and reject bad values with the key named.
func TestIncidentNotifierConfig(t *testing.T) {
	const defaults = "defaults: {country: US, timezone: America/New_York, on_error: fail_closed}\n"
	cfg, err := Parse("ok", []byte(defaults+`alerts:
  alertmanager: [{url: "http://127.0.0.1:9093", retries: 2, min_severity: warning}]
  pagerduty: [{routing_key_env: PD_KEY, min_severity: critical}]
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Alerts
	if len(a.Alertmanager) != 1 || a.Alertmanager[0].Retries != 2 || len(a.PagerDuty) != 1 || a.PagerDuty[0].RoutingKeyEnv != "PD_KEY" {
		t.Errorf("alerts %+v", a)
	}
	if a.Incidents.QuietS != 900 || a.Incidents.UpdateS != 60 {
		t.Errorf("incident defaults %+v", a.Incidents)
	}
	for _, c := range []struct{ yaml, key string }{
		{`alertmanager: [{url: "ftp://x"}]`, "alerts.alertmanager[0].url"},
		{`alertmanager: [{url: "http://x:9093", min_severity: loud}]`, "alerts.alertmanager[0].min_severity"},
		{`pagerduty: [{url: "http://x"}]`, "alerts.pagerduty[0].routing_key_env"},
		{`pagerduty: [{routing_key_env: K, retries: 99}]`, "alerts.pagerduty[0].retries"},
		{`incidents: {quiet_s: 10}`, "alerts.incidents.quiet_s"},
		{`incidents: {quiet_s: 600, update_s: 600}`, "alerts.incidents.update_s"},
		{`incidents: {external_url: "tollgate"}`, "alerts.incidents.external_url"},
	} {
		_, err := Parse("bad", []byte(defaults+"alerts:\n  "+c.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: err %v, want one naming %s", c.yaml, err, c.key)
		}
	}
}

// TestSIEMConfig: server.siem parses and rejects bad values by key.
func TestSIEMConfig(t *testing.T) {
	const defaults = "defaults: {country: US, timezone: America/New_York, on_error: fail_closed}\n"
	cfg, err := Parse("ok", []byte(defaults+"server:\n  siem: {addr: \"127.0.0.1:6514\", network: tcp, format: json, records: audit}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if x := cfg.Server.SIEM; x.Addr != "127.0.0.1:6514" || x.Network != "tcp" || x.Format != "json" || x.Records != "audit" {
		t.Errorf("siem %+v", x)
	}
	for _, c := range []struct{ yaml, key string }{
		{`{network: tcp}`, "server.siem.addr"},
		{`{addr: "h:514", network: sctp}`, "server.siem.network"},
		{`{addr: "h:514", format: cef}`, "server.siem.format"},
		{`{addr: "h:514", facility: 24}`, "server.siem.facility"},
		{`{addr: "h:514", records: calls}`, "server.siem.records"},
	} {
		_, err := Parse("bad", []byte(defaults+"server:\n  siem: "+c.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: err %v, want one naming %s", c.yaml, err, c.key)
		}
	}
}
