// Package check is what every screening check is built from: the Env a
// check's Setup receives and the Step of an order table. The order itself
// lives in one table, check/all.Order, never in a config file: every check
// feels the effect of the checks before it and must not care what they
// found.
package check

import (
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/baseline"
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

// Env is everything a check may use when it is set up: the tenant's
// policy, and the node's shared state and services. Whoever builds the
// node fills the services once (engine.Options holds an Env); the engine
// hands a copy to every check's Setup with the policy fields (Tenant,
// System) and its own values (Counters and Blocks when nil, Lookup,
// StaleCallAfter) filled in. Nothing reaches a check any other way: no
// package-level registry, no global.
type Env struct {
	// Tenant is the tenant's resolved policy; System the system-wide
	// limits. The engine sets both for each tenant it builds.
	Tenant *config.Tenant
	System *config.System

	Counters counter.Store
	Blocks   *blocks.Live
	// Actions is what the detectors decided for later calls (PIN,
	// honeypot, remembered Wangiri callers), for the detected check; nil
	// when no detection pipeline runs, which leaves that check out.
	Actions *action.Live
	// Limits are the rate limits learned from the baselines, for the
	// ratelimit check; nil: the policy's limits only.
	Limits *baseline.LiveLimits
	// Timezones returns the IANA zones a number may be in, for the calling
	// window; nil disables zone lookups.
	Timezones func(e164 string) []string
	// StaleCallAfter bounds how long a concurrency slot is held for a call
	// that never reports its end (the engine sets it from
	// server.stale_call_after_s).
	StaleCallAfter time.Duration
	// Lookup is the engine's number intelligence, for checks that
	// normalize numbers other than the callee (the caller); the engine
	// sets it.
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
	// Alerter receives alerts the engine and the checks raise (it must
	// not block); may be nil.
	Alerter store.Alerter
}

// Setup builds one check for a tenant from env. It returns a nil Check
// (not a typed nil pointer) when the tenant's policy does not use the
// check. Every check package exports one, with the constant Name.
type Setup func(env *Env) (screen.Check, error)

// Step is one entry of an order table (check/all.Order).
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
