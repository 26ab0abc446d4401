package decisionlog_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/decisionlog"
	"github.com/tollgate-voip/tollgate/store"
)

// discard is a store that accepts everything at once, so that the enqueue
// benchmarks measure the writer and not the disk.
type discard struct{}

func (discard) AppendDecisions(context.Context, []store.Decision) error   { return nil }
func (discard) AppendCallEvents(context.Context, []store.CallEvent) error { return nil }
func (discard) QueryDecisions(context.Context, store.DecisionQuery) ([]store.Decision, error) {
	return nil, nil
}
func (discard) CallEventsSince(context.Context, time.Time) ([]store.CallEvent, error) {
	return nil, nil
}
func (discard) DecisionsSince(context.Context, time.Time) ([]store.Decision, error) { return nil, nil }

// BenchmarkDecisionEnqueue measures what the screening path pays to log one
// decision. With the discard store it is the cost of an accepted record;
// with SQLite behind the queue, producers this fast outrun the disk, so most
// records take the (counted) drop path; dropped/op says how many.
func BenchmarkDecisionEnqueue(b *testing.B) {
	d := decision("bench")
	d.Reasons = json.RawMessage(`[{"check":"destination","code":"premium"}]`)
	for _, bc := range []struct {
		name     string
		sqlite   bool
		parallel bool
	}{
		{"discard/serial", false, false},
		{"discard/parallel", false, true},
		{"sqlite/serial", true, false},
		{"sqlite/parallel", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var dst store.Decisions = discard{}
			if bc.sqlite {
				dst, _ = openStore(b)
			}
			w := decisionlog.New(dst, decisionlog.Options{Logger: slog.New(slog.DiscardHandler)})
			b.ReportAllocs()
			b.ResetTimer()
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						w.Decision(d)
					}
				})
			} else {
				for b.Loop() {
					w.Decision(d)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
			w.Close(context.Background())
		})
	}
}

// BenchmarkEventEnqueue is BenchmarkDecisionEnqueue for call events, with the
// discard store.
func BenchmarkEventEnqueue(b *testing.B) {
	w := decisionlog.New(discard{}, decisionlog.Options{Logger: slog.New(slog.DiscardHandler)})
	e := store.CallEvent{CallID: "bench", Type: "end", Time: t0, Duration: 42}
	b.ReportAllocs()
	for b.Loop() {
		w.Event(e)
	}
	b.StopTimer()
	b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
	w.Close(context.Background())
}
