package config

import (
	"strings"
	"testing"
)

func TestDetectDefaults(t *testing.T) {
	c, err := Parse("p.yaml", []byte("defaults:\n  on_error: fail_closed\n  country: US\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Detect
	if !d.Enabled || d.InternationalBurst.Calls != 10 || d.InternationalBurst.WindowS != 300 || d.OffHours.ToMin != 360 ||
		d.Pumping.Targeted.WindowS != 900 || d.Pumping.Fast.WindowS != 300 || d.Pumping.Slow.WindowS != 3600 || c.Alerts.DedupS != 900 {
		t.Errorf("defaults = %+v", d)
	}
}

func TestDetectOverrideAndErrors(t *testing.T) {
	src := `defaults:
  on_error: fail_closed
  country: US
detectors:
  international_burst:
    calls: 4
    action: require_pin
  pumping:
    fast:
      action: report
      score: 2
  wangiri:
    callback: maybe
  off_hours_international:
    from: "25:00"
alerts:
  webhooks:
    - url: ftp://x
  email:
    addr: localhost
`
	_, err := Parse("p.yaml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"p.yaml:13: detectors.wangiri.callback: want block or auth",
		"p.yaml:15: detectors.off_hours_international.from: want HH:MM",
		"p.yaml:17: alerts.webhooks[0].url: want an http or https URL",
		"p.yaml:20: alerts.email.addr: want host:port",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	good := strings.Split(src, "  wangiri:")[0]
	c, err := Parse("p.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Detect.InternationalBurst.Calls != 4 || c.Detect.InternationalBurst.Action != "require_pin" || c.Detect.InternationalBurst.WindowS != 300 {
		t.Errorf("burst = %+v", c.Detect.InternationalBurst)
	}
	if c.Detect.Pumping.Fast.Action != "alert" || c.Detect.Pumping.Fast.Score != 2 {
		t.Errorf("fast = %+v; report means alert", c.Detect.Pumping.Fast)
	}
	if _, err := Parse("p.yaml", []byte("defaults: {on_error: fail_open, country: US}\ndetectors:\n  burst: {}\n")); err == nil || !strings.Contains(err.Error(), "p.yaml:3: detectors.burst: unknown field") {
		t.Errorf("typo: %v", err)
	}
}

func TestDetectFollow(t *testing.T) {
	src := `defaults:
  on_error: fail_closed
  country: US
detectors:
  follow:
    - path: /var/log/asterisk/cdr-csv/Master.csv
      timezone: America/New_York
    - path: ""
      format: xml
    - path: /x.json
      timezone: Mars/Olympus
      poll_ms: -1
`
	_, err := Parse("p.yaml", []byte(src))
	for _, want := range []string{
		"p.yaml:8: detectors.follow[1].path: required",
		"p.yaml:8: detectors.follow[1].format: want auto, asterisk, freeswitch or json",
		"p.yaml:10: detectors.follow[2].timezone: unknown time zone",
		"p.yaml:10: detectors.follow[2].poll_ms: want 0–60000",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	good := strings.Split(src, "    - path: \"\"")[0]
	c, err := Parse("p.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Detect.Follow; len(f) != 1 || f[0].Path != "/var/log/asterisk/cdr-csv/Master.csv" || f[0].Timezone != "America/New_York" {
		t.Errorf("follow = %+v", f)
	}
}

// The common keys of a detector rule (config.Rule, inline) sit in the
// rule's own mapping beside its keys: both decode, a typo among them is
// named with its line, and the reference lists them under the rule.
func TestDetectRuleInline(t *testing.T) {
	src := "defaults: {on_error: fail_open, country: US}\ndetectors:\n  new_source:\n    enabled: false\n    block: extension\n    expires_s: 60\n    severity: info\n    calls: 5\n"
	c, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Detect.NewSource
	if ns.On() || ns.Block != "extension" || ns.ExpiresS != 60 || ns.Severity != "info" || ns.Calls != 5 || ns.Action != "block_and_alert" || ns.WindowS != 3600 {
		t.Errorf("new_source = %+v; want the file's keys over the defaults", ns)
	}
	if _, err := Parse("p.yaml", []byte(strings.Replace(src, "expires_s", "expire_s", 1))); err == nil || !strings.Contains(err.Error(), "p.yaml:6: detectors.new_source.expire_s: unknown field") {
		t.Errorf("typo in a common key: %v", err)
	}
	keys := map[string]string{}
	for _, k := range Keys() {
		keys[k.Path] = k.Type
	}
	for _, p := range []string{"detectors.new_source.enabled", "detectors.new_source.expires_s", "detectors.new_source.calls", "detectors.pumping.fast.severity"} {
		if keys[p] == "" {
			t.Errorf("reference lacks %s", p)
		}
	}
	if _, ok := keys["detectors.new_source.rule"]; ok {
		t.Error("reference lists the inline Rule as a key of its own")
	}
}
