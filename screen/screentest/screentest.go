// Package screentest runs screening checks in tests, as net/http/httptest
// does for handlers: it builds calls, passes them through checks the way
// the engine's chain does, and compares verdicts.
package screentest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// Outbound returns an outbound call with id "c1" from extension ext of
// tenant to the E.164 number e164 ("+4930…") placed at at, with the
// fields the engine derives filled as far as they follow from the number
// alone: Dest.E164, Digits, Local (at, in UTC). Set Dest's other fields,
// International, Premium or Limited on the result where a test needs them.
func Outbound(tenant, ext, e164 string, at time.Time) *screen.Call {
	return &screen.Call{
		ID: "c1", Tenant: tenant, Extension: ext, Callee: e164, Time: at, Local: at.UTC(),
		Direction: screen.Outbound, Dest: number.Info{E164: e164, Kind: number.Subscriber},
		Digits: strings.TrimPrefix(e164, "+"),
	}
}

// Run passes c through checks in order, as the engine's chain does (Stop
// and StopIfRejected included), and returns the verdict. Nil checks (a
// Setup that left its check out) are skipped. The needs the checks
// declare stay on c; no counter changes.
func Run(c *screen.Call, checks ...screen.Check) *screen.Verdict {
	var cs []screen.Check
	for _, k := range checks {
		if k != nil {
			cs = append(cs, k)
		}
	}
	var v screen.Verdict
	screen.NewChain(cs...).Run(context.Background(), c, &v)
	return &v
}

// Codes lists the verdict's reason codes in order.
func Codes(v *screen.Verdict) []string {
	var out []string
	for _, r := range v.Reasons() {
		out = append(out, r.Code)
	}
	return out
}

// Expect reports through t when the verdict's action or its reason codes
// (in order) are not the wanted ones.
func Expect(t testing.TB, v *screen.Verdict, action screen.Action, codes ...string) {
	t.Helper()
	if got := Codes(v); v.Action != action || !slices.Equal(got, codes) {
		t.Errorf("verdict = %v %q; want %v %q", v.Action, got, action, codes)
	}
}
