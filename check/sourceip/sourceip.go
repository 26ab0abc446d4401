// Package sourceip applies a tenant's source-address policy: calls from
// networks on its deny list are refused, and when it has an allow list,
// calls from anywhere else are refused, sent to the honeypot or asked for
// a PIN. It is IP allowlisting for the SIP edge, per tenant, with
// source-country rules when the operator provides a country database.
package sourceip

import (
	"context"
	"net/netip"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/geoip"
	"github.com/tollgate-voip/tollgate/screen"
)

// SourceIP is the check.
type SourceIP struct {
	t       *config.Tenant
	allow   []netip.Prefix
	deny    []netip.Prefix
	outside screen.Action

	geo            *geoip.DB
	allowCountries []string
	denyCountries  []string
}

var _ screen.Check = (*SourceIP)(nil)

// New returns the check, or nil when the tenant has no source policy.
// geo places addresses in countries for the tenant's country rules (nil:
// the rules cannot be applied and are left out).
func New(t *config.Tenant, geo *geoip.DB) screen.Check {
	s := &t.SourceIPs
	k := &SourceIP{t: t, allow: s.AllowNets, deny: s.DenyNets, outside: screen.Reject}
	if geo != nil {
		k.geo, k.allowCountries, k.denyCountries = geo, s.Countries.Allow, s.Countries.Deny
	}
	if len(k.allow) == 0 && len(k.deny) == 0 && len(k.allowCountries) == 0 && len(k.denyCountries) == 0 {
		return nil
	}
	switch s.Outside {
	case "honeypot":
		k.outside = screen.Honeypot
	case "auth":
		k.outside = screen.Challenge
	}
	return k
}

// Name is the check's name in the order table and in its reasons.
const Name = "sourceip"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant, env.GeoIP), nil }

// Name implements screen.Check.
func (*SourceIP) Name() string { return Name }

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Check implements screen.Check.
func (k *SourceIP) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	a := c.SourceIP.Unmap()
	if !a.IsValid() {
		if len(k.allow) > 0 {
			// An allow list with no source to check: the front end did not
			// say where the call came from, so it cannot be shown to be inside.
			v.Add(screen.Reason{Check: "sourceip", Code: "source_unknown", Text: "no source address given, and tenant " + k.t.Name + " only takes calls from its allowed networks", Rule: k.t.Rule("source_ips.allow"), Action: k.outside, Risk: 40})
			return screen.StopIfRejected
		}
		return screen.Continue
	}
	if contains(k.deny, a) {
		v.Add(screen.Reason{Check: "sourceip", Code: "source_denied", Text: "source address " + a.String() + " is on tenant " + k.t.Name + "'s deny list", Rule: k.t.Rule("source_ips.deny"), Action: screen.Reject, Risk: 80})
		return screen.Stop
	}
	if len(k.allow) > 0 && !contains(k.allow, a) {
		v.Add(screen.Reason{Check: "sourceip", Code: "source_not_allowed", Text: "source address " + a.String() + " is outside tenant " + k.t.Name + "'s allowed networks", Rule: k.t.Rule("source_ips.allow"), Action: k.outside, Risk: 60})
		return screen.StopIfRejected
	}
	if k.geo == nil {
		return screen.Continue
	}
	cc := k.geo.Country(a)
	if cc == "" {
		return screen.Continue // private or unlisted: the address rules decide
	}
	if has(k.denyCountries, cc) {
		v.Add(screen.Reason{Check: "sourceip", Code: "source_country_denied", Text: "source address " + a.String() + " is in " + cc + ", a country tenant " + k.t.Name + " refuses calls from", Rule: k.t.Rule("source_ips.countries.deny"), Action: screen.Reject, Risk: 80})
		return screen.Stop
	}
	if len(k.allowCountries) > 0 && !has(k.allowCountries, cc) {
		v.Add(screen.Reason{Check: "sourceip", Code: "source_country_not_allowed", Text: "source address " + a.String() + " is in " + cc + ", outside tenant " + k.t.Name + "'s allowed countries", Rule: k.t.Rule("source_ips.countries.allow"), Action: k.outside, Risk: 60})
		return screen.StopIfRejected
	}
	return screen.Continue
}

func has(codes []string, cc string) bool {
	for _, c := range codes {
		if c == cc {
			return true
		}
	}
	return false
}
