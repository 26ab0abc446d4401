// Package check assembles the screening checks into a chain. The order of
// checks is fixed here, in one table, never by the order of a config file:
// every check feels the effect of the checks before it and must not care
// what they found.
package check

import (
	"time"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/geoip"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/stir"
	"github.com/tollgate-voip/tollgate/store"
)

// Env is what a check may use when it is set up for one tenant.
type Env struct {
	Tenant   *config.Tenant
	System   *config.System
	Counters counter.Store
	Blocks   *blocks.Live
	// Timezones returns the IANA zones a number may be in, for the calling
	// window; nil disables zone lookups.
	Timezones func(e164 string) []string
	// StaleCallAfter bounds how long a concurrency slot is held for a call
	// that never reports its end.
	StaleCallAfter time.Duration
	// Lookup is the engine's number intelligence, for checks that
	// normalize numbers other than the callee (the caller); may be nil.
	Lookup func(dialed string, dp *number.DialPlan) (number.Info, error)
	// STIR verifies Identity headers (STIR/SHAKEN); nil when not set up.
	STIR *stir.Verifier
	// Reputation is the reputation database's snapshot (bans, scanners,
	// numbers attackers dialed); nil leaves the reputation check out.
	Reputation *reputation.Live
	// GeoIP places source addresses in countries (nil: no database).
	GeoIP *geoip.DB
	// Compliance holds DNC lists, opt-outs and consents; nil = none.
	Compliance *compliance.Live
	// Alerter receives alerts a check raises (it must not block); may be nil.
	Alerter store.Alerter
}

// Setup builds one check for a tenant. It returns nil when the tenant's
// policy does not use the check.
type Setup func(env *Env) (screen.Check, error)

// Step is one entry of the order table.
type Step struct {
	Name  string
	Setup Setup
}

// Build returns the tenant's chain in the order of steps.
func Build(env *Env, steps []Step) (*screen.Chain, error) {
	var cs []screen.Check
	for _, s := range steps {
		c, err := s.Setup(env)
		if err != nil {
			return nil, err
		}
		if c != nil {
			cs = append(cs, c)
		}
	}
	return screen.NewChain(cs...), nil
}

// Action maps a policy word to a screening action.
func Action(word string) screen.Action {
	switch word {
	case "block", "deny":
		return screen.Reject
	case "auth":
		return screen.Challenge
	case "honeypot":
		return screen.Honeypot
	}
	return screen.Allow
}
