package sqlite_test

import (
	"strconv"
	"testing"

	"github.com/tollgate-voip/tollgate/store"
)

// BenchmarkAppendDecisionsBatch measures decision-log throughput: one op is
// one AppendDecisions call with a batch of new decisions, committed with
// synchronous=FULL.
func BenchmarkAppendDecisionsBatch(b *testing.B) {
	for _, size := range []int{1, 64, 512} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			s := newStore(b)
			batch := make([]store.Decision, size)
			for i := range batch {
				batch[i] = decision(i)
			}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				for i := range batch {
					batch[i].CallID = strconv.Itoa(n)
					n++
				}
				if err := s.AppendDecisions(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}
