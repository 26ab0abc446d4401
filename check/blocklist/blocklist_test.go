package blocklist

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

// TestCostlyExtensionBlock: an extension a detector blocked for costly
// calls (beside the range an attack pumped) still refuses the attack's
// premium and costly international calls, and lets its agent's cheap
// call abroad and domestic call through.
func TestCostlyExtensionBlock(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	live := blocks.NewLive()
	live.Replace(blocks.Build([]store.Block{{ID: 1, Kind: store.BlockExtension, Tenant: "acme", Value: "1001", Scope: "costly", Expires: now.Add(time.Hour)}}, nil, now), now)
	b := New("acme", live)
	for _, tc := range []struct {
		name          string
		intl, premium bool
		rate          float64
		refused       bool
	}{
		{"IRSF range", true, false, 1.2, true},
		{"domestic premium", false, true, 1.5, true},
		{"price unknown abroad", true, false, 0, true},
		{"cheap mobile abroad", true, false, 0.03, false},
		{"domestic", false, false, 0.01, false},
	} {
		c := &screen.Call{Tenant: "acme", Extension: "1001", Time: now, International: tc.intl, Premium: tc.premium, Dest: number.Info{Rate: tc.rate}}
		var v screen.Verdict
		flow := b.Check(context.Background(), c, &v)
		if got := flow == screen.Stop && v.Has("blocked_extension"); got != tc.refused {
			t.Errorf("%s: refused %v, want %v", tc.name, got, tc.refused)
		}
	}
}
