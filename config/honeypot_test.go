package config

import (
	"strings"
	"testing"
)

func TestHoneypotAttackSections(t *testing.T) {
	const base = "defaults:\n  country: US\n  on_error: fail_open\n"
	good := `defaults:
  country: US
  on_error: fail_closed
honeypot:
  listen: udp:127.0.0.1:5070
  call_duration_s: 5
  learning:
    networks: 4
    protected_numbers: ["+1 212 555 0100", "+4420"]
    protected_types: [toll_free, premium_rate]
attack:
  trusted: [192.0.2.10, 198.51.100.0/24]
  ban_times_s: [86400, 604800]
  ip_action: reject
  ipv6_bits: 56
  account_known_good_s: 86400
`
	cfg, err := Parse("p.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Honeypot.Addr != "127.0.0.1:5070" || len(cfg.Attack.TrustedPrefixes) != 2 || cfg.Attack.NumberAction != "reject" || cfg.Attack.IPAction != "reject" ||
		cfg.Attack.IPv6Bits != 56 || cfg.Attack.AccountKnownGoodS != 86400 {
		t.Fatalf("parsed %+v %+v", cfg.Honeypot, cfg.Attack)
	}
	if l := cfg.Honeypot.Learning; l.Networks != 4 || l.SpanS != 600 || l.HighCostNetworks != 2 || strings.Join(l.Protected, ",") != "12125550100,4420" ||
		strings.Join(l.ProtectedTypes, ",") != "toll_free,premium_rate" {
		t.Fatalf("learning %+v", l)
	}
	def, err := Parse("d.yaml", []byte(base))
	if err != nil || def.Attack.IPAction != "honeypot" || def.Attack.NumberAction != "reject" {
		t.Fatalf("defaults: %+v %v", def.Attack, err)
	}
	if l := def.Honeypot.Learning; l.Networks != 3 || l.SpanS != 600 || l.HighCostNetworks != 2 || l.HighCostSpanS != 600 ||
		strings.Join(l.ProtectedTypes, ",") != "toll_free,shared_cost,uan" {
		t.Fatalf("default learning %+v", l)
	}
	for _, c := range []struct{ yaml, want string }{
		{"honeypot:\n  listen: 5070\n", "p.yaml:2: honeypot.listen: want an IP address and port"},
		{"honeypot:\n  call_duration_s: -1\n", "p.yaml:2: honeypot.call_duration_s: want 0"},
		{"attack:\n  trusted:\n    - 10.0.0.0/8\n    - pbx.example\n", "p.yaml:2: attack.trusted[1]: want an address or CIDR"},
		{"attack:\n  number_action: block\n", "p.yaml:2: attack.number_action: want reject, challenge or score"},
		{"attack:\n  logs:\n    - path: /var/log/x\n      format: syslog\n", "attack.logs[0].format: want asterisk or freeswitch"},
		{"attack:\n  max_failure: 3\n", "p.yaml:2: attack.max_failure: unknown field"},
		{"attack:\n  ipv6_bits: 32\n", "p.yaml:2: attack.ipv6_bits: want 0 (default 64) or 48 to 128, got 32"},
		{"attack:\n  ipv6_bits: 129\n", "p.yaml:2: attack.ipv6_bits: want 0 (default 64) or 48 to 128, got 129"},
		{"attack:\n  account_known_good_s: -1\n", "p.yaml:2: attack.account_known_good_s: want 0 (default) to 31536000"},
		{"honeypot:\n  learning:\n    networks: 99\n", "honeypot.learning.networks: want 0 (default) to 32"},
		{"honeypot:\n  learning:\n    protected_types: [tollfree]\n", "honeypot.learning.protected_types[0]: want a number type"},
		{"honeypot:\n  learning:\n    protected_numbers: [\"+1-800-FLOWERS\"]\n", "honeypot.learning.protected_numbers[0]: want an E.164 number or prefix"},
	} {
		_, err := Parse("p.yaml", []byte(base+c.yaml))
		if err == nil || !strings.Contains(err.Error(), strings.Replace(c.want, "p.yaml:2", "p.yaml:5", 1)) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}
