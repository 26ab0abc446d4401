package callerid_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/tollgate-voip/tollgate/screen"
)

// BenchmarkScreenInbound is engine.Screen of an inbound call with the
// callerid check on: without an Identity header (spoofing heuristics
// only) and with one signed A whose certificate is cached. The difference
// is what STIR/SHAKEN verification adds to a screening.
func BenchmarkScreenInbound(b *testing.B) {
	e := newEnv(b, "")
	const caller, callee = "+13125550100", "+12025550123"
	h := e.sign(b, caller, callee, "A", at)
	e.screen(b, screen.Call{ID: "warm", Caller: caller, Callee: callee, Identity: h}) // fetch once
	for _, bc := range []struct{ name, identity string }{{"no_identity", ""}, {"identity_A_cached", h}} {
		b.Run(bc.name, func(b *testing.B) {
			var v screen.Verdict
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c := screen.Call{ID: "b" + strconv.Itoa(i), Caller: caller, Callee: callee, Identity: bc.identity, Direction: screen.Inbound, Time: at}
				if err := e.eng.Screen(context.Background(), &c, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
