package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/decisionlog/seglog"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/metrics"
	"github.com/tollgate-voip/tollgate/store"
)

// stateFile is the state snapshot in the data directory.
const stateFile = "state.snap"

// snapshotEvery is how often serve writes the state snapshot.
const snapshotEvery = 10 * time.Second

// snapshotter writes the engine's state snapshot (counters, live calls,
// event clock) every snapshotEvery and at shutdown, so a restart loads it
// and replays only the decisions taken since instead of a day of them.
type snapshotter struct {
	eng  *engine.Engine
	path string
	skew time.Duration
	log  *slog.Logger
	// seg is the embedded decision log, whose write position each
	// snapshot records; nil in cluster mode (the tail is read by time).
	seg *seglog.Log

	stop    chan struct{}
	done    chan struct{}
	started bool
	once    sync.Once

	writes, failures atomic.Uint64
	lastNanos        atomic.Int64 // wall time of the last good snapshot
	lastTook         atomic.Int64 // ns
	lastBytes        atomic.Int64
}

// restoreState rebuilds the engine's counters and live calls after a
// start: from the state snapshot plus the decision log's tail since it,
// or, when there is no usable snapshot, from the whole last day of the
// log (restore). It returns the snapshotter that keeps the snapshot
// fresh; nil when snapshots are off (server.max_clock_skew_s 0).
func restoreState(ctx context.Context, eng *engine.Engine, st store.Store, dataDir string, log *slog.Logger) (*snapshotter, error) {
	skew := eng.MaxClockSkew()
	if skew <= 0 {
		log.Info("state snapshots off: server.max_clock_skew_s is 0 (off), so the decision log's tail since a snapshot has no bound; counters are rebuilt from the last day of the log")
		return nil, restore(ctx, eng, st, log)
	}
	sn := &snapshotter{eng: eng, path: filepath.Join(dataDir, stateFile), skew: skew, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	if sg, ok := st.(*seglog.Store); ok {
		sn.seg = sg.Log
	}
	t0 := time.Now()
	info, err := eng.LoadSnapshot(sn.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		log.Info("no state snapshot yet; rebuilding counters from the decision log", "file", sn.path)
		return sn, restore(ctx, eng, st, log)
	case err != nil:
		bad := sn.path + ".corrupt"
		log.Error("state snapshot unusable; rebuilding counters from the decision log instead", "file", sn.path, "err", err, "moved_to", bad)
		os.Rename(sn.path, bad)
		return sn, restore(ctx, eng, st, log)
	case time.Since(info.Taken) > restoreWindow(eng):
		log.Warn("state snapshot older than the longest limit window; rebuilding counters from the decision log", "file", sn.path, "taken", info.Taken)
		eng.ClearState()
		return sn, restore(ctx, eng, st, log)
	}
	if calls, events, tail, ok, err := sn.replayAfterMark(ctx, info.Mark); err != nil {
		return nil, err
	} else if ok {
		eng.Sweep(time.Now())
		log.Info("state restored from the snapshot and the decision log written since", "snapshot_age", time.Since(info.Taken).Round(time.Millisecond),
			"snapshot_calls", info.Calls, "snapshot_counters", info.Counters, "snapshot_bytes", info.Bytes, "tail_decisions", tail, "replayed_calls", calls,
			"replayed_events", events, "took", time.Since(t0).Round(time.Millisecond))
		return sn, nil
	}
	// Every decision taken after the snapshot is stamped at least skew
	// before the wall clock of its screening, so the tail starts there.
	since := info.Taken.Add(-skew - time.Second)
	es, err := st.CallEventsSince(ctx, since)
	if err != nil {
		if !startsWithout(err, log, "the decision log's tail since the state snapshot (the snapshot's call table only)") {
			return sn, nil
		}
		return nil, fmt.Errorf("reading call events since the state snapshot: %w", err)
	}
	calls, events, tail, err := replayTail(ctx, eng, st, since, time.Now().Add(skew+time.Second), es)
	if err != nil {
		return nil, err
	}
	eng.Sweep(time.Now())
	log.Info("state restored from the snapshot and the decision log's tail", "snapshot_age", time.Since(info.Taken).Round(time.Millisecond),
		"snapshot_calls", info.Calls, "snapshot_counters", info.Counters, "tail_decisions", tail, "replayed_calls", calls, "replayed_events", events,
		"took", time.Since(t0).Round(time.Millisecond))
	return sn, nil
}

// replayAfterMark replays the records the decision log took after the
// snapshot's mark: exactly those the snapshot may lack, whatever their
// times. ok is false when there is no mark or it does not fit the log
// (then the tail is read by time).
func (sn *snapshotter) replayAfterMark(ctx context.Context, mark []byte) (calls, events, tail int, ok bool, err error) {
	if sn.seg == nil || len(mark) == 0 {
		return 0, 0, 0, false, nil
	}
	var m seglog.Mark
	if err := m.UnmarshalBinary(mark); err != nil {
		sn.log.Warn("state snapshot: its decision-log mark does not parse; reading the log's tail by time", "err", err)
		return 0, 0, 0, false, nil
	}
	ds, es, err := sn.seg.After(ctx, m)
	if errors.Is(err, seglog.ErrMarkUnusable) {
		sn.log.Warn("state snapshot: the decision log is not the one it marked; reading the log's tail by time")
		return 0, 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("reading the decision log since the state snapshot: %w", err)
	}
	calls, events = sn.eng.Restore(ctx, ds, es)
	return calls, events, len(ds), true, nil
}

// tailSlice is how much of the tail is read and replayed at once, so a
// restart holds a second of decisions in memory, not the whole tail.
const tailSlice = time.Second

// replayTail replays the decisions stamped in [since, until) a slice at a
// time with the call events of the same slice (es, oldest first), then
// whatever lies after until. A slice that fills a query's page (the store
// caps it) makes it read the rest in one piece instead.
func replayTail(ctx context.Context, eng *engine.Engine, st store.Store, since, until time.Time, es []store.CallEvent) (calls, events, tail int, err error) {
	j := 0
	eventsBefore := func(t time.Time) []store.CallEvent {
		k := j
		for k < len(es) && es[k].Time.Before(t) {
			k++
		}
		out := es[j:k]
		j = k
		return out
	}
	from := since
	for from.Before(until) {
		to := from.Add(tailSlice)
		ds, err := st.QueryDecisions(ctx, store.DecisionQuery{From: from, To: to, Limit: tailPage})
		if err != nil {
			return calls, events, tail, fmt.Errorf("reading the decision log since the state snapshot: %w", err)
		}
		if len(ds) >= tailPage {
			break // too dense for a page: the rest in one piece
		}
		c, e := eng.Restore(ctx, ds, eventsBefore(to))
		calls, events, tail, from = calls+c, events+e, tail+len(ds), to
	}
	ds, err := st.DecisionsSince(ctx, from)
	if err != nil {
		return calls, events, tail, fmt.Errorf("reading the decision log since the state snapshot: %w", err)
	}
	c, e := eng.Restore(ctx, ds, es[j:])
	return calls + c, events + e, tail + len(ds), nil
}

// tailPage is the most decisions one query of the tail asks for (the
// stores' page limit).
const tailPage = 10000

// restoreWindow is how far back the decision log is read without a
// snapshot: a day (and an hour), or 31 days when a monthly limit is on.
func restoreWindow(eng *engine.Engine) time.Duration {
	window := 25 * time.Hour
	for _, t := range append([]*config.Tenant{eng.Config().Defaults}, tenantsOf(eng.Config())...) {
		if t.Limits.Extension.DistinctCalleesPerMonth.On {
			window = 31 * 24 * time.Hour
		}
	}
	return window
}

// start writes the snapshot every snapshotEvery until close.
func (sn *snapshotter) start() {
	if sn == nil {
		return
	}
	sn.started = true
	go func() {
		defer close(sn.done)
		tick := time.NewTicker(snapshotEvery)
		defer tick.Stop()
		for {
			select {
			case <-sn.stop:
				return
			case <-tick.C:
				sn.write()
			}
		}
	}()
}

// write takes one snapshot and keeps its figures for /metrics.
func (sn *snapshotter) write() {
	t0 := time.Now()
	// Ended calls screened since a little before this snapshot's tail
	// starts stay in it, so their replayed decisions are recognised.
	_, err := sn.eng.WriteSnapshot(sn.path, t0, t0.Add(-sn.skew-2*time.Second), sn.mark)
	if err != nil {
		if sn.failures.Add(1) == 1 || sn.failures.Load()%60 == 0 {
			sn.log.Error("writing the state snapshot", "err", err, "failures", sn.failures.Load())
		}
		return
	}
	sn.writes.Add(1)
	sn.lastNanos.Store(t0.UnixNano())
	sn.lastTook.Store(int64(time.Since(t0)))
	if fi, err := os.Stat(sn.path); err == nil {
		sn.lastBytes.Store(fi.Size())
	}
}

// mark is the decision log's write position (nil without one), taken by
// WriteSnapshot before it copies the state: every record written before
// it was applied before the copy.
func (sn *snapshotter) mark() []byte {
	if sn.seg == nil {
		return nil
	}
	b, _ := sn.seg.Mark().AppendBinary(nil)
	return b
}

// close stops the loop and writes a last snapshot (serve's drain: the
// next start then replays almost nothing).
func (sn *snapshotter) close() {
	if sn == nil {
		return
	}
	sn.once.Do(func() {
		close(sn.stop)
		if sn.started {
			<-sn.done
		}
		sn.write()
	})
}

func (sn *snapshotter) metrics() prometheus.Collector {
	if sn == nil {
		return nil
	}
	last := func(v func() float64) func(metrics.Emit) {
		return func(emit metrics.Emit) {
			if sn.lastNanos.Load() > 0 { // nothing written yet: no sample
				emit(v())
			}
		}
	}
	return metrics.Set{
		metrics.Counter("tollgate_state_snapshots_total", "State snapshots written, by outcome.", []string{"outcome"}, func(emit metrics.Emit) {
			emit(float64(sn.writes.Load()), "written")
			emit(float64(sn.failures.Load()), "failed")
		}),
		metrics.Gauge("tollgate_state_snapshot_age_seconds", "Time since the last state snapshot was written.", nil,
			last(func() float64 { return time.Since(time.Unix(0, sn.lastNanos.Load())).Seconds() })),
		metrics.Gauge("tollgate_state_snapshot_duration_seconds", "How long the last state snapshot took.", nil,
			last(func() float64 { return time.Duration(sn.lastTook.Load()).Seconds() })),
		metrics.Gauge("tollgate_state_snapshot_bytes", "Size of the last state snapshot.", nil,
			last(func() float64 { return float64(sn.lastBytes.Load()) })),
	}
}
