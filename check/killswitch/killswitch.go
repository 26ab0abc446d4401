// Package killswitch refuses every international call of a tenant (or of
// every tenant) while its kill switch is on.
package killswitch

import (
	"context"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/screen"
)

// KillSwitch is the check.
type KillSwitch struct{ live *blocks.Live }

var _ screen.Check = (*KillSwitch)(nil)

// New returns the check reading kill switches from live.
func New(live *blocks.Live) *KillSwitch { return &KillSwitch{live: live} }

// Name is the check's name in the order table and in its reasons.
const Name = "killswitch"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Blocks), nil }

// Name implements screen.Check.
func (*KillSwitch) Name() string { return Name }

// Check implements screen.Check.
func (k *KillSwitch) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if !c.International || c.Direction != screen.Outbound {
		return screen.Continue
	}
	ks := k.live.Load().Kill(c.Tenant)
	if ks == nil {
		return screen.Continue
	}
	scope := "tenant " + c.Tenant
	if ks.Tenant == "*" {
		scope = "all tenants"
	}
	text := "kill switch on for " + scope + ": international calling disabled"
	if ks.Reason != "" {
		text += " (" + ks.Reason + ")"
	}
	v.Add(screen.Reason{Check: "killswitch", Code: "kill_switch", Text: text, Rule: "killswitch." + ks.Tenant, Action: screen.Reject, Risk: 100})
	return screen.Stop
}
