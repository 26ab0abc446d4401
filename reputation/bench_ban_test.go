package reputation_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// processCPU is the process's user+system CPU time.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBanWrite is what one ban the guard decides costs the node, on
// SQLite with a reputation database of n learned numbers:
//
//   - decide: Live.AddBan alone (the ban laid over the snapshot, one
//     rebuild, the store's commit); the refresh loop reads it back later,
//     at most once a second whatever the number of bans.
//   - decide+refresh: the same and then a refresh at once, as the
//     guard's OnBan did (the version moved: every entry and ban re-read
//     from the store, a second rebuild).
//
// cpu-ns/op is the process's CPU time per ban (getrusage), which a
// loaded machine inflates less than ns/op.
func BenchmarkBanWrite(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		db, err := sqlite.OpenReputation(filepath.Join(b.TempDir(), "rep.db"))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		now := time.Now()
		es := make([]reputation.Entry, n)
		for i := range es {
			es[i] = reputation.Entry{Kind: reputation.KindNumber, Value: fmt.Sprintf("+882160%08d", i), Source: reputation.SourceHoneypot, Score: 80}
		}
		for i := 0; i < n; i += 1000 {
			if err := db.UpsertBatch(ctx, es[i:min(i+1000, n)]); err != nil {
				b.Fatal(err)
			}
		}
		for _, refresh := range []bool{false, true} {
			name := fmt.Sprintf("entries=%d/decide", n)
			if refresh {
				name += "+refresh"
			}
			b.Run(name, func(b *testing.B) {
				live := reputation.NewLive(reputation.DefaultPolicy)
				ref := &reputation.Refresher{Store: db, Live: live}
				if err := ref.Reload(ctx, now); err != nil {
					b.Fatal(err)
				}
				seq := 0
				cpu := processCPU(b)
				b.ResetTimer()
				for b.Loop() {
					seq++
					ip := netip.AddrFrom4([4]byte{10, byte(seq >> 16), byte(seq >> 8), byte(seq)})
					ban := reputation.Ban{IP: ip.String(), Reason: "bench", Source: "sipfront", Created: now, Expires: now.Add(time.Hour)}
					if _, err := live.AddBan(ctx, db, ban); err != nil {
						b.Fatal(err)
					}
					if refresh {
						if _, err := ref.Refresh(ctx, now); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
				if live.Load().Banned(netip.AddrFrom4([4]byte{10, 0, 0, 1}), now) == nil {
					b.Fatal("the first ban is not enforced")
				}
			})
		}
		db.Close()
	}
}
