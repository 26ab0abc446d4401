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
	Allow   []string `yaml:"allow"`
	Deny    []string `yaml:"deny"`
	Outside string   `yaml:"outside"`

	AllowNets []netip.Prefix `yaml:"-"`
	DenyNets  []netip.Prefix `yaml:"-"`
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
