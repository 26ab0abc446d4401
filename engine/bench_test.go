package engine

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

// BenchmarkScreen measures one decision through the whole default chain
// (number intelligence, destination, cost, time, rate limits, spend,
// concurrency, verdict, decision record) in process.
func BenchmarkScreen(b *testing.B) {
	for _, bc := range []struct{ name, callee string }{
		{"domestic_allow", "2125551234"},
		{"uk_challenge", "011442071234567"},
		{"somalia_reject", "+252612345678"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, _ := newEngine(b, "")
			e.rec = discard{} // build the decision record, drop it
			ctx := context.Background()
			ids := make([]string, 1024)
			for i := range ids {
				ids[i] = "bench-" + strconv.Itoa(i)
			}
			var c screen.Call
			var v screen.Verdict
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c = screen.Call{ID: ids[i%len(ids)], Tenant: "acme", Extension: "1001", Callee: bc.callee, Time: monday10}
				if err := e.Screen(ctx, &c, &v); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkScreenParallel is BenchmarkScreen from every core at once, with
// distinct extensions so limits do not interfere.
func BenchmarkScreenParallel(b *testing.B) {
	e, _ := newEngine(b, "")
	e.rec = discard{}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var c screen.Call
		var v screen.Verdict
		i := 0
		for pb.Next() {
			c = screen.Call{ID: "p" + strconv.Itoa(i&1023), Tenant: "acme", Extension: "1001", Callee: "2125551234", Time: monday10.Add(time.Duration(i) * time.Millisecond)}
			if err := e.Screen(ctx, &c, &v); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

type discard struct{}

func (discard) Decision(d store.Decision) bool { return len(d.Reasons) >= 0 }
func (discard) Event(store.CallEvent) bool     { return true }
