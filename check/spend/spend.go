// Package spend caps a tenant's international spend per local day and
// turns what is left of the budget, the tenant's maximum international
// duration and the limited-destination duration into the call's maximum
// duration.
package spend

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/screen"
)

// Spend is the check.
type Spend struct {
	t *config.Tenant
}

var (
	_ screen.Check     = (*Spend)(nil)
	_ screen.NeedOwner = (*Spend)(nil)
)

// New returns the check, or nil when the tenant has no spend or duration limits.
func New(t *config.Tenant) screen.Check {
	a := &t.Limits.Account
	if !a.InternationalSpendDaily.On && !a.MaxCallDurationIntl.On && !a.LimitedMaxDuration.On {
		return nil
	}
	return &Spend{t: t}
}

// Name is the check's name in the order table and in its reasons.
const Name = "spend"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant), nil }

// Name implements screen.Check.
func (*Spend) Name() string { return Name }

// Key is the counter of a tenant's international spend on the local day
// of the call.
func Key(c *screen.Call) counter.Key {
	y, m, d := c.Local.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	return counter.Key{Scope: counter.TenantIntlSpend, Tenant: c.Tenant, Bucket: day}
}

// MaxDuration is how long the tenant's account limits let an outbound
// international call last, in seconds (0: no cap): the smallest of
// max_call_duration_intl and, for a limited destination,
// limited_max_duration. The spend check puts it on the verdict; the
// concurrency check leases the call's slot for it. It reads only the call
// and the policy.
func MaxDuration(t *config.Tenant, c *screen.Call) int {
	if c.Direction != screen.Outbound || !c.International {
		return 0
	}
	a := &t.Limits.Account
	d := 0
	if a.MaxCallDurationIntl.On && a.MaxCallDurationIntl.N > 0 {
		d = a.MaxCallDurationIntl.N
	}
	if c.Limited && a.LimitedMaxDuration.On && a.LimitedMaxDuration.N > 0 && (d == 0 || a.LimitedMaxDuration.N < d) {
		d = a.LimitedMaxDuration.N
	}
	return d
}

// Check implements screen.Check.
func (s *Spend) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Direction != screen.Outbound || !c.International {
		return screen.Continue
	}
	v.LimitDuration(MaxDuration(s.t, c))
	a := &s.t.Limits.Account
	if !a.InternationalSpendDaily.On {
		return screen.Continue
	}
	if !c.AddNeed(screen.Need{Op: counter.Op{Kind: counter.OpSumBelow, Key: Key(c), Max: a.InternationalSpendDaily.V}, Owner: s}) {
		v.Add(screen.Reason{Check: "spend", Code: "too_many_limits", Text: "more limits than a call can carry", Action: screen.Reject})
		return screen.Stop
	}
	return screen.Continue
}

// Refused implements screen.NeedOwner: the day's budget is spent.
func (s *Spend) Refused(c *screen.Call, v *screen.Verdict, n *screen.Need, r counter.Result) {
	v.Add(screen.Reason{Check: "spend", Code: "spend_cap", Text: "daily international spend cap " + money(n.Op.Max) + " reached (spent " + money(r.Sum) + " today)", Rule: s.t.Rule("limits.account.international_spend_daily"), Action: screen.Reject, Risk: 60})
}

// Admitted implements screen.NeedOwner: what is left of the day's budget
// at the destination's rate bounds the call's duration.
func (s *Spend) Admitted(c *screen.Call, v *screen.Verdict, n *screen.Need, r counter.Result) {
	if rate := c.Dest.Rate; rate > 0 {
		secs := (n.Op.Max - r.Sum) / rate * 60
		if secs < 1 {
			secs = 1
		}
		if secs < math.MaxInt32 {
			v.LimitDuration(int(secs))
		}
	}
}

func money(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
