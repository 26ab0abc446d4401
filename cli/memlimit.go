package cli

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
)

// applyMemoryLimit sets the Go runtime's soft memory limit from
// server.memory_limit_mb (MiB). 0 leaves what the runtime read from
// GOMEMLIMIT at start and, without it, asks for the automatic limit
// (auto true: autoMemoryLimit); -1 is no limit. It returns the limit in
// force, in bytes (math.MaxInt64 when there is none), and logs it.
func applyMemoryLimit(s config.Server, log *slog.Logger) (limit int64, auto bool) {
	switch {
	case s.MemoryLimitMB > 0:
		debug.SetMemoryLimit(int64(s.MemoryLimitMB) << 20)
	case s.MemoryLimitMB < 0:
		debug.SetMemoryLimit(math.MaxInt64)
	}
	lim := debug.SetMemoryLimit(-1) // -1 reads without changing it
	if lim != math.MaxInt64 {
		log.Info("soft memory limit", "mib", lim>>20)
	}
	return lim, s.MemoryLimitMB == 0 && lim == math.MaxInt64
}

// The automatic soft memory limit (server.memory_limit_mb 0, no
// GOMEMLIMIT). Without a limit Go lets the heap grow to twice the heap
// marked live at the last collection, and RSS keeps the highest such goal.
// The marked heap overstates what is held: everything allocated while a
// mark runs counts as live, so under load, with marks of seconds to tens
// of seconds, it swings by a fifth or more above the held state with a
// constant call table, and RSS climbs with each new high draw
// (docs/benchmarks.md, issue 17 third and fourth passes). The lowest of
// the last autoLimitWindow marks is the closest to the held state; the
// automatic limit is autoLimitK times it, so a high draw no longer sets
// the goal, and never below autoLimitFloor times the last mark, so a
// heap that grows with the traffic is followed at once and a long mark
// keeps its headroom. It starts after warm-up (call_setup_s plus a
// minute, when calls without events have started being forgotten), from
// the last mark; before that the runtime's default pacing applies.
const (
	autoLimitK      = 1.75
	autoLimitFloor  = 1.3
	autoLimitWindow = 9
	autoLimitMin    = 64 << 20
)

// autoLimit is the automatic limit's state: the last marked heaps.
type autoLimit struct {
	live []uint64 // oldest first, at most autoLimitWindow
}

// observe takes the heap marked live by a completed collection and
// returns the limit, in bytes.
func (a *autoLimit) observe(live uint64) int64 {
	if len(a.live) == autoLimitWindow {
		a.live = append(a.live[:0], a.live[1:]...)
	}
	a.live = append(a.live, live)
	low := float64(slices.Min(a.live))
	lim := max(autoLimitK*low, autoLimitFloor*float64(live), autoLimitMin)
	return int64(min(lim, math.MaxInt64/2))
}

// autoMemoryLimit runs the automatic limit until ctx ends: after warm
// it sets the limit from the marked heap at each completed collection,
// read from runtime/metrics every poll. It logs the limit when it starts
// and whenever it has moved by a tenth since last logged.
func autoMemoryLimit(ctx context.Context, warm, poll time.Duration, log *slog.Logger) {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(poll)
	defer t.Stop()
	start := time.Now()
	var (
		a      autoLimit
		seen   uint64
		armed  bool
		logged int64
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
			return // not this runtime's metrics: leave the default pacing
		}
		cycles, live := s[0].Value.Uint64(), s[1].Value.Uint64()
		if cycles == 0 || cycles == seen && armed {
			continue
		}
		if !armed {
			if time.Since(start) < warm {
				continue
			}
			armed = true
		}
		seen = cycles
		lim := a.observe(live)
		debug.SetMemoryLimit(lim)
		if d := lim - logged; logged == 0 || d > logged/10 || -d > logged/10 {
			log.Info("automatic soft memory limit", "mib", lim>>20, "live_heap_mib", live>>20)
			logged = lim
		}
	}
}

// autoLimitWarm is the automatic limit's warm-up for a server config.
func autoLimitWarm(s config.Server) time.Duration {
	setup := s.CallSetup.Duration()
	if setup <= 0 {
		setup = engine.DefaultCallSetup
	}
	return setup + time.Minute
}
