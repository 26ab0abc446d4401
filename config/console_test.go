package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestConsoleSection(t *testing.T) {
	const base = "defaults: {country: US, on_error: fail_open}\n"
	cfg, err := Parse("p.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Console, DefaultConsole()) {
		t.Errorf("no console section: %+v, want the defaults", cfg.Console)
	}
	cfg, err = Parse("p.yaml", []byte("console:\n  require_mfa: false\n  lockout_failures: 3\n"+base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Console.RequireMFA || cfg.Console.LockoutFailures != 3 || cfg.Console.LockoutS != 900 || !cfg.Console.Enabled {
		t.Errorf("console = %+v", cfg.Console)
	}
	cfg, err = Parse("p.yaml", []byte("console:\n  trusted_proxies: [10.0.0.1, 192.168.0.0/16]\n"+base))
	if err != nil || len(cfg.Console.Trusted) != 2 || cfg.Console.Trusted[1].String() != "192.168.0.0/16" || cfg.Console.Trusted[0].String() != "10.0.0.1/32" {
		t.Errorf("trusted_proxies = %v, %v", cfg.Console.Trusted, err)
	}
	bad := []struct{ src, want string }{
		{"console:\n  lockout_failures: 0\n", "p.yaml:2: console.lockout_failures: must be ≥ 1"},
		{"console:\n  cookie_secure: maybe\n", `p.yaml:2: console.cookie_secure: want auto, always or never, got "maybe"`},
		{"console:\n  session_idle_s: 7200\n  session_max_s: 3600\n", "p.yaml:3: console.session_max_s: shorter than session_idle_s"},
		{"console:\n  requre_mfa: true\n", "p.yaml:2: console.requre_mfa: unknown field"},
		{"console:\n  audit_retention_days: -1\n", "p.yaml:2: console.audit_retention_days: must be ≥ 1"},
	}
	for _, b := range bad {
		_, err := Parse("p.yaml", []byte(b.src+base))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Parse(%q) = %v, want %q", b.src, err, b.want)
		}
	}
}
