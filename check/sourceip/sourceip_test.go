package sourceip

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

func TestSourceIP(t *testing.T) {
	c, err := config.Parse("p.yaml", []byte(`
defaults:
  country: US
  on_error: fail_open
tenants:
  acme:
    source_ips:
      allow: [192.0.2.0/24, "2001:db8::/32", 198.51.100.7]
      deny: [192.0.2.66]
  beta:
    source_ips: {allow: ["::ffff:10.1.0.0/112"], outside: honeypot}
  open:
    source_ips: {deny: [203.0.113.0/24]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if New(c.Defaults) != nil {
		t.Errorf("a tenant without source_ips got a check")
	}
	cases := []struct {
		tenant, ip string
		want       screen.Action
		code       string
	}{
		{"acme", "192.0.2.10", screen.Allow, ""},
		{"acme", "::ffff:192.0.2.10", screen.Allow, ""},
		{"acme", "2001:db8::5", screen.Allow, ""},
		{"acme", "198.51.100.7", screen.Allow, ""},
		{"acme", "198.51.100.8", screen.Reject, "source_not_allowed"},
		{"acme", "192.0.2.66", screen.Reject, "source_denied"},
		{"acme", "", screen.Reject, "source_unknown"},
		{"beta", "10.2.0.1", screen.Honeypot, "source_not_allowed"},
		{"beta", "10.1.200.1", screen.Allow, ""},
		{"open", "203.0.113.9", screen.Reject, "source_denied"},
		{"open", "8.8.8.8", screen.Allow, ""},
		{"open", "", screen.Allow, ""},
	}
	for _, tc := range cases {
		k := New(c.Tenants[tc.tenant])
		call := &screen.Call{Tenant: tc.tenant}
		if tc.ip != "" {
			call.SourceIP = netip.MustParseAddr(tc.ip)
		}
		var v screen.Verdict
		k.Check(context.Background(), call, &v)
		if v.Action != tc.want || tc.code != "" && !v.Has(tc.code) {
			t.Errorf("%s from %q: %v %+v, want %v %s", tc.tenant, tc.ip, v.Action, v.Reasons(), tc.want, tc.code)
		}
	}
}

func TestSourceIPConfigErrors(t *testing.T) {
	_, err := config.Parse("p.yaml", []byte("defaults:\n  country: US\n  on_error: fail_open\n  source_ips:\n    allow: [10.0.0.0/33]\n    outside: drop\n"))
	if err == nil {
		t.Fatal("bad source_ips accepted")
	}
	for _, want := range []string{"p.yaml:5: defaults.source_ips.allow: entry 0", "p.yaml:6: defaults.source_ips.outside: want block, honeypot or auth"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
