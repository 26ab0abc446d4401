// Package cost makes risk grow with the destination's termination rate —
// the price of one fraudulent minute — and asks for a PIN (or refuses)
// above a tenant's maximum price per minute.
package cost

import (
	"context"
	"strconv"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// Cost is the check.
type Cost struct {
	t        *config.Tenant
	maxPrice config.Amount
	above    screen.Action
	perUnit  float64
	capRisk  int
}

var _ screen.Check = (*Cost)(nil)

// New returns the check for a tenant, or nil when the tenant has no cost rules.
func New(t *config.Tenant) screen.Check {
	c := t.Cost
	if !c.MaxPricePerMin.On && c.RiskPerPricePerMin == 0 {
		return nil
	}
	a := screen.Challenge
	if c.AbovePriceAction == "block" {
		a = screen.Reject
	}
	capRisk := c.MaxRateRisk
	if capRisk == 0 {
		capRisk = 40
	}
	return &Cost{t: t, maxPrice: c.MaxPricePerMin, above: a, perUnit: c.RiskPerPricePerMin, capRisk: capRisk}
}

// Name is the check's name in the order table and in its reasons.
const Name = "cost"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant), nil }

// Name implements screen.Check.
func (*Cost) Name() string { return Name }

// Check implements screen.Check.
func (k *Cost) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	rate := c.Dest.Rate
	if c.Direction != screen.Outbound || rate <= 0 {
		return screen.Continue
	}
	if k.perUnit > 0 {
		if r := min(int(rate*k.perUnit), k.capRisk); r > 0 {
			v.Add(screen.Reason{Check: "cost", Code: "termination_rate", Text: "termination rate " + price(rate) + "/min (+" + c.Dest.RatePrefix + ")", Rule: k.t.Rule("cost.risk_per_price_per_min"), Action: screen.Allow, Risk: r})
		}
	}
	if k.maxPrice.On && rate > k.maxPrice.V {
		what := "needs a PIN"
		if k.above == screen.Reject {
			what = "is refused"
		}
		v.Add(screen.Reason{Check: "cost", Code: "price_above_max", Text: "termination rate " + price(rate) + "/min is above the maximum " + price(k.maxPrice.V) + "/min and " + what, Rule: k.t.Rule("cost.max_price_per_min"), Action: k.above, Risk: 20})
		if k.above == screen.Reject {
			return screen.Stop
		}
	}
	return screen.Continue
}

func price(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
