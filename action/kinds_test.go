package action

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestKindsSkipNothing: the per-tenant kinds index and the prefix
// lengths only skip look-ups that cannot find a record. Random sets of
// extension, number and prefix records of a few tenants and of every
// tenant (""), some expired, give the same answers as the same set with
// every look-up made (the index saying every tenant holds every kind,
// every prefix length present).
func TestKindsSkipNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tenants := []string{"", "a", "b", "c"}
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('1' + rng.IntN(3))
		}
		return string(b)
	}
	for round := range 300 {
		var rs []Record
		for i := range rng.IntN(12) {
			r := Record{ID: int64(i + 1), Tenant: tenants[rng.IntN(len(tenants))], Verdict: Reject}
			switch rng.IntN(3) {
			case 0:
				r.Kind, r.Value = "number", "+"+digits(4)
			case 1:
				r.Kind, r.Value = "prefix", digits(1+rng.IntN(3))
			default:
				r.Kind, r.Value = "extension", []string{"10", "11", "*"}[rng.IntN(3)]
			}
			if rng.IntN(3) == 0 {
				r.Expires = t0.Add(time.Duration(rng.IntN(120)-60) * time.Minute)
			}
			rs = append(rs, r)
		}
		s := Build(rs)
		all := *s
		all.kinds, all.global, all.plens = map[string]uint8{}, 0xff, ^uint64(0)
		for _, tn := range tenants {
			all.kinds[tn] = 0xff
		}
		id := func(r *Record) int64 {
			if r == nil {
				return 0
			}
			return r.ID
		}
		for range 20 {
			tn, d, ext := tenants[rng.IntN(len(tenants))], digits(4), []string{"10", "11", "12"}[rng.IntN(3)]
			if got, want := id(s.Destination(tn, d, t0)), id(all.Destination(tn, d, t0)); got != want {
				t.Fatalf("round %d: Destination(%q, %s) = record %d; want %d (%+v)", round, tn, d, got, want, rs)
			}
			if got, want := id(s.Extension(tn, ext, t0)), id(all.Extension(tn, ext, t0)); got != want {
				t.Fatalf("round %d: Extension(%q, %s) = record %d; want %d (%+v)", round, tn, ext, got, want, rs)
			}
		}
	}
}
