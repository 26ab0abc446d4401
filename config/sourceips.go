package config

import (
	"net/netip"
	"strings"
)

// SourceIPs is a tenant's source-address policy (source_ips:): where its
// calls may come from. Allow lists the only networks the tenant's calls
// may come from (empty = anywhere); Deny lists networks refused even when
// allowed. Outside is what happens to a call from outside Allow: block
// (default), honeypot or auth.
type SourceIPs struct {
	Allow   []string  `yaml:"allow"`
	Deny    []string  `yaml:"deny"`
	Outside Treatment `yaml:"outside"`
	// Countries are source-country rules (ISO 3166-1 alpha-2 codes, read
	// from attack.geoip_db): calls from a Deny country are refused; when
	// Allow is set, calls placed in any other country get Outside.
	// Addresses the database does not place (private, unlisted) are left
	// to the address rules.
	Countries SourceCountries `yaml:"countries"`

	AllowNets []netip.Prefix `yaml:"-"`
	DenyNets  []netip.Prefix `yaml:"-"`
}

// SourceCountries lists countries by ISO code.
type SourceCountries struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

func (p *parser) sourceIPs(t *Tenant, bad func(field, format string, args ...any)) {
	s := &t.SourceIPs
	s.AllowNets, s.DenyNets = nil, nil
	for i, v := range s.Allow {
		pfx, err := parsePrefix(strings.TrimSpace(v))
		if err != nil {
			bad("source_ips.allow", "entry %d: want an IP address or CIDR prefix, got %q", i, v)
			continue
		}
		s.AllowNets = append(s.AllowNets, unmapPrefix(pfx))
	}
	for i, v := range s.Deny {
		pfx, err := parsePrefix(strings.TrimSpace(v))
		if err != nil {
			bad("source_ips.deny", "entry %d: want an IP address or CIDR prefix, got %q", i, v)
			continue
		}
		s.DenyNets = append(s.DenyNets, unmapPrefix(pfx))
	}
	for _, l := range []struct {
		field string
		codes []string
	}{{"source_ips.countries.allow", s.Countries.Allow}, {"source_ips.countries.deny", s.Countries.Deny}} {
		for i, c := range l.codes {
			u := strings.ToUpper(strings.TrimSpace(c))
			if len(u) != 2 || u[0] < 'A' || u[0] > 'Z' || u[1] < 'A' || u[1] > 'Z' {
				bad(l.field, "entry %d: want an ISO 3166-1 alpha-2 country code like US, got %q", i, c)
				continue
			}
			l.codes[i] = u
		}
	}
	if (len(s.Countries.Allow) > 0 || len(s.Countries.Deny) > 0) && !p.geoip {
		bad("source_ips.countries", "country rules need a country database: set attack.geoip_db")
	}
	switch s.Outside {
	case "":
		s.Outside = "block"
	case "block", "honeypot", "auth":
	default:
		bad("source_ips.outside", "want block, honeypot or auth, got %q", s.Outside)
	}
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into
// its IPv4 form (10.0.0.0/8), so it matches unmapped source addresses.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if !a.Is4In6() {
		return p
	}
	return netip.PrefixFrom(a.Unmap(), max(p.Bits()-96, 0)).Masked()
}
