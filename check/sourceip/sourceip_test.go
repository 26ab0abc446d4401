package sourceip

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/geoip"
	"github.com/tollgate-voip/tollgate/geoip/geoiptest"
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
	if New(c.Defaults, nil) != nil {
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
		k := New(c.Tenants[tc.tenant], nil)
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

// TestSourceCountries: country rules from a real MMDB file; addresses the
// database does not place are left to the address rules; allowlisted
// networks are judged by address first.
func TestSourceCountries(t *testing.T) {
	db, err := geoip.Open(geoiptest.Write(t, map[string]string{
		"192.0.2.0/24": "US", "198.51.100.0/24": "RU", "203.0.113.0/24": "GB", "2001:db8::/32": "KP",
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := config.Parse("p.yaml", []byte(`
attack: {geoip_db: /somewhere/country.mmdb}
defaults:
  country: US
  on_error: fail_open
tenants:
  acme:
    source_ips:
      countries: {allow: [us, GB], deny: [KP]}
      outside: honeypot
  open:
    source_ips:
      countries: {deny: [RU]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if New(c.Tenants["acme"], nil) != nil {
		t.Error("country rules without a database built a check")
	}
	cases := []struct {
		tenant, ip string
		want       screen.Action
		code       string
	}{
		{"acme", "192.0.2.10", screen.Allow, ""},
		{"acme", "203.0.113.9", screen.Allow, ""},
		{"acme", "198.51.100.7", screen.Honeypot, "source_country_not_allowed"},
		{"acme", "2001:db8::1", screen.Reject, "source_country_denied"},
		{"acme", "10.0.0.7", screen.Allow, ""}, // the PBX's LAN: not placed
		{"open", "198.51.100.7", screen.Reject, "source_country_denied"},
		{"open", "192.0.2.10", screen.Allow, ""},
	}
	for _, tc := range cases {
		k := New(c.Tenants[tc.tenant], db)
		call := &screen.Call{Tenant: tc.tenant, SourceIP: netip.MustParseAddr(tc.ip)}
		var v screen.Verdict
		k.Check(context.Background(), call, &v)
		if v.Action != tc.want || tc.code != "" && !v.Has(tc.code) {
			t.Errorf("%s from %s: %v %+v, want %v %s", tc.tenant, tc.ip, v.Action, v.Reasons(), tc.want, tc.code)
		}
	}
}

func TestSourceCountryConfigErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"defaults:\n  country: US\n  on_error: fail_open\n  source_ips:\n    countries: {deny: [RU]}\n",
			"p.yaml:5: defaults.source_ips.countries: country rules need a country database: set attack.geoip_db"},
		{"attack: {geoip_db: x.mmdb}\ndefaults:\n  country: US\n  on_error: fail_open\n  source_ips:\n    countries: {allow: [USA]}\n",
			"p.yaml:6: defaults.source_ips.countries.allow: entry 0: want an ISO 3166-1 alpha-2 country code like US, got \"USA\""},
	} {
		_, err := config.Parse("p.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}
