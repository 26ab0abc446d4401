// Package all holds the screening chain's order: one table, the only place
// the order of checks lives (CoreDNS's plugin.cfg without the generator,
// and no init-time registration).
package all

import (
	"github.com/tollgate-voip/tollgate/check"
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
)

// Order is the screening chain, first check first. Emergency calls stop
// the chain before anything can refuse them; hard refusals come before the
// checks that ask for counters. Those (ratelimit, spend, concurrency) only
// declare what they need; the engine runs every need of a call in one
// atomic batch after the last check. sourceip, destination, timewindow
// and dnc end in screen.StopIfRejected: the chain stops there once the
// call is refused, so the limit checks never see a refused call.
var Order = []check.Step{
	{Name: emergency.Name, Setup: emergency.Setup},
	{Name: killswitch.Name, Setup: killswitch.Setup},
	{Name: blocklist.Name, Setup: blocklist.Setup},
	{Name: sourceip.Name, Setup: sourceip.Setup},
	{Name: reputation.Name, Setup: reputation.Setup},
	{Name: callerid.Name, Setup: callerid.Setup},
	{Name: detected.Name, Setup: detected.Setup},
	{Name: destination.Name, Setup: destination.Setup},
	{Name: cost.Name, Setup: cost.Setup},
	{Name: timewindow.Name, Setup: timewindow.Setup},
	{Name: dnc.Name, Setup: dnc.Setup},
	{Name: ratelimit.Name, Setup: ratelimit.Setup},
	{Name: spend.Name, Setup: spend.Setup},
	{Name: concurrency.Name, Setup: concurrency.Setup},
}
