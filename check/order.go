package check

import (
	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/check/blocklist"
	"github.com/tollgate-voip/tollgate/check/callerid"
	"github.com/tollgate-voip/tollgate/check/concurrency"
	"github.com/tollgate-voip/tollgate/check/cost"
	"github.com/tollgate-voip/tollgate/check/destination"
	"github.com/tollgate-voip/tollgate/check/detected"
	"github.com/tollgate-voip/tollgate/check/dnc"
	"github.com/tollgate-voip/tollgate/check/emergency"
	"github.com/tollgate-voip/tollgate/check/killswitch"
	"github.com/tollgate-voip/tollgate/check/ratelimit"
	"github.com/tollgate-voip/tollgate/check/reputation"
	"github.com/tollgate-voip/tollgate/check/sourceip"
	"github.com/tollgate-voip/tollgate/check/spend"
	"github.com/tollgate-voip/tollgate/check/timewindow"
	"github.com/tollgate-voip/tollgate/screen"
)

// Order is the screening chain, first check first. Emergency calls stop
// the chain before anything can refuse them; hard refusals come before the
// checks that ask for counters. Those (ratelimit, spend, concurrency) only
// declare what they need; the engine runs every need of a call in one
// atomic batch after the last check.
var Order = []Step{
	{"emergency", func(*Env) (screen.Check, error) { return emergency.New(), nil }},
	{"killswitch", func(e *Env) (screen.Check, error) { return killswitch.New(e.Blocks), nil }},
	{"blocklist", func(e *Env) (screen.Check, error) { return blocklist.New(e.Tenant.Name, e.Blocks), nil }},
	{"sourceip", func(e *Env) (screen.Check, error) { return sourceip.New(e.Tenant, e.GeoIP), nil }},
	{"reputation", func(e *Env) (screen.Check, error) { return reputation.Setup(e.Reputation) }},
	{"callerid", func(e *Env) (screen.Check, error) { return callerid.Setup(e.Tenant, e.Lookup, e.STIR, e.Blocks) }},
	{"detected", func(e *Env) (screen.Check, error) { return detected.New(e.Tenant.Name, action.For(e.Blocks)), nil }},
	{"destination", func(e *Env) (screen.Check, error) { return destination.New(e.Tenant), nil }},
	{"cost", func(e *Env) (screen.Check, error) { return cost.New(e.Tenant), nil }},
	{"timewindow", func(e *Env) (screen.Check, error) { return timewindow.New(e.Tenant, e.Timezones), nil }},
	{"dnc", func(e *Env) (screen.Check, error) { return dnc.New(e.Tenant, e.Compliance, e.Alerter) }},
	{"ratelimit", func(e *Env) (screen.Check, error) {
		return ratelimit.New(e.Tenant, e.System, baseline.LimitsFor(e.Blocks)), nil
	}},
	{"spend", func(e *Env) (screen.Check, error) { return spend.New(e.Tenant), nil }},
	{"concurrency", func(e *Env) (screen.Check, error) {
		return concurrency.New(e.Tenant, e.StaleCallAfter, baseline.LimitsFor(e.Blocks)), nil
	}},
}
