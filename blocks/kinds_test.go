package blocks

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// TestKindsSkipNothing: the per-tenant kinds index only skips look-ups
// that cannot find a block. Random sets of number, prefix and extension
// blocks of a few tenants and of every tenant (""), some expired, give
// the same answers as the same set with the index saying every tenant
// holds every kind (every look-up made, as before the index).
func TestKindsSkipNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tenants := []string{"", "a", "b", "c"}
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('1' + rng.IntN(3))
		}
		return string(b)
	}
	scopes := []string{"", "international", "costly", "all"}
	for round := range 300 {
		var bs []store.Block
		for i := range rng.IntN(12) {
			b := store.Block{ID: int64(i + 1), Tenant: tenants[rng.IntN(len(tenants))]}
			switch rng.IntN(3) {
			case 0:
				b.Kind, b.Value = store.BlockNumber, "+"+digits(4)
			case 1:
				b.Kind, b.Value = store.BlockPrefix, digits(1+rng.IntN(3))
			default:
				b.Kind, b.Value, b.Scope = store.BlockExtension, []string{"10", "11", "*"}[rng.IntN(3)], scopes[rng.IntN(len(scopes))]
			}
			if rng.IntN(3) == 0 {
				b.Expires = now.Add(time.Duration(rng.IntN(120)-60) * time.Minute)
			}
			bs = append(bs, b)
		}
		s := Build(bs, nil, now)
		all := *s
		all.kinds, all.global = map[string]uint8{}, 0xff
		for _, tn := range tenants {
			all.kinds[tn] = 0xff
		}
		id := func(b *store.Block) int64 {
			if b == nil {
				return 0
			}
			return b.ID
		}
		for range 20 {
			tn, d, ext := tenants[rng.IntN(len(tenants))], digits(4), []string{"10", "11", "12"}[rng.IntN(3)]
			if got, want := id(s.Number(tn, d, now)), id(all.Number(tn, d, now)); got != want {
				t.Fatalf("round %d: Number(%q, %s) = block %d; want %d (%+v)", round, tn, d, got, want, bs)
			}
			if got, want := id(s.Prefix(tn, d, now)), id(all.Prefix(tn, d, now)); got != want {
				t.Fatalf("round %d: Prefix(%q, %s) = block %d; want %d (%+v)", round, tn, d, got, want, bs)
			}
			if got, want := id(s.Extension(tn, ext, now)), id(all.Extension(tn, ext, now)); got != want {
				t.Fatalf("round %d: Extension(%q, %s) = block %d; want %d (%+v)", round, tn, ext, got, want, bs)
			}
		}
	}
}
