// Package sourceip applies a tenant's source-address policy: calls from
// networks on its deny list are refused, and when it has an allow list,
// calls from anywhere else are refused, sent to the honeypot or asked for
// a PIN. It is IP allowlisting for the SIP edge, per tenant.
package sourceip

import (
	"context"
	"net/netip"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// SourceIP is the check.
type SourceIP struct {
	t       *config.Tenant
	allow   []netip.Prefix
	deny    []netip.Prefix
	outside screen.Action
}

var _ screen.Check = (*SourceIP)(nil)

// New returns the check, or nil when the tenant has no source policy.
func New(t *config.Tenant) screen.Check {
	s := &t.SourceIPs
	if len(s.AllowNets) == 0 && len(s.DenyNets) == 0 {
		return nil
	}
	k := &SourceIP{t: t, allow: s.AllowNets, deny: s.DenyNets, outside: screen.Reject}
	switch s.Outside {
	case "honeypot":
		k.outside = screen.Honeypot
	case "auth":
		k.outside = screen.Challenge
	}
	return k
}

// Name implements screen.Check.
func (*SourceIP) Name() string { return "sourceip" }

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
			return k.flow(v)
		}
		return screen.Continue
	}
	if contains(k.deny, a) {
		v.Add(screen.Reason{Check: "sourceip", Code: "source_denied", Text: "source address " + a.String() + " is on tenant " + k.t.Name + "'s deny list", Rule: k.t.Rule("source_ips.deny"), Action: screen.Reject, Risk: 80})
		return screen.Stop
	}
	if len(k.allow) > 0 && !contains(k.allow, a) {
		v.Add(screen.Reason{Check: "sourceip", Code: "source_not_allowed", Text: "source address " + a.String() + " is outside tenant " + k.t.Name + "'s allowed networks", Rule: k.t.Rule("source_ips.allow"), Action: k.outside, Risk: 60})
		return k.flow(v)
	}
	return screen.Continue
}

func (k *SourceIP) flow(v *screen.Verdict) screen.Flow {
	if v.Action == screen.Reject {
		return screen.Stop
	}
	return screen.Continue
}
