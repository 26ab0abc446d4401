package cli

import (
	"context"
	"io"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
)

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	debug.SetMemoryLimit(math.MaxInt64)
	if got, auto := applyMemoryLimit(config.Server{}, log); got != math.MaxInt64 || !auto {
		t.Errorf("memory_limit_mb 0 without GOMEMLIMIT: limit %d auto %v, want none yet, automatic", got, auto)
	}
	if got, auto := applyMemoryLimit(config.Server{MemoryLimitMB: 300}, log); got != 300<<20 || auto || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Errorf("memory_limit_mb 300: limit %d auto %v, want %d fixed", got, auto, 300<<20)
	}
	if got, auto := applyMemoryLimit(config.Server{MemoryLimitMB: -1}, log); got != math.MaxInt64 || auto {
		t.Errorf("memory_limit_mb -1: limit %d auto %v, want none, not automatic", got, auto)
	}
	debug.SetMemoryLimit(123 << 20) // as GOMEMLIMIT=123MiB would
	if got, auto := applyMemoryLimit(config.Server{}, log); got != 123<<20 || auto {
		t.Errorf("memory_limit_mb 0 under GOMEMLIMIT: limit %d auto %v, want the environment's %d, not automatic", got, auto, 123<<20)
	}
}

// TestAutoLimitIgnoresHighDraws: with the held state constant the marked
// heap swings by a fifth (what a mark running for seconds under load
// counts as live). These are the marks of the third pass's SETUP=120 soak
// without a limit, from the first one with the call table full (gctrace,
// MiB): the default pacing's goal, twice each, went from 270 to 284 MiB
// and dropped to 232 — RSS kept the highest. The automatic limit never
// rises with the held state constant: it is 1.75× the lowest mark so far.
func TestAutoLimitIgnoresHighDraws(t *testing.T) {
	marks := []uint64{135, 117, 134, 142, 136, 125, 138, 141, 116, 134, 142, 149, 138}
	var a autoLimit
	prev := int64(math.MaxInt64)
	low := uint64(math.MaxUint64)
	for i, m := range marks {
		lim := a.observe(m << 20)
		low = min(low, m)
		if lim > prev {
			t.Errorf("mark %d (%d MiB): limit rose from %d to %d MiB", i, m, prev>>20, lim>>20)
		}
		if want := int64(autoLimitK * float64(low<<20)); lim != want {
			t.Errorf("mark %d (%d MiB): limit %d, want 1.75× the lowest, %d MiB: %d", i, m, lim, low, want)
		}
		if lim < int64(autoLimitFloor*float64(m<<20)) {
			t.Errorf("mark %d (%d MiB): limit %d below %.1f× the marked heap", i, m, lim, autoLimitFloor)
		}
		prev = lim
	}
}

// TestAutoLimitFollowsGrowth: traffic doubles and the marked heap with it.
// The limit must rise at the first collection that sees it (never below
// 1.3× the marked heap: no collection loop), and settle at 1.75× the new
// heap once the whole window has seen it; it comes down when the
// traffic does, at once.
func TestAutoLimitFollowsGrowth(t *testing.T) {
	const mb = 1_000_000
	var a autoLimit
	for range autoLimitWindow {
		a.observe(200 * mb)
	}
	if lim := a.observe(400 * mb); lim < 520*mb {
		t.Errorf("heap doubled: limit %d MB, want at least 1.3× 400 MB", lim/mb)
	}
	var lim int64
	for range autoLimitWindow / 2 {
		lim = a.observe(400 * mb)
	}
	if lim != 520*mb {
		t.Errorf("heap at 400 MB for most of the window: limit %d MB, want 1.3× 400 MB while a 200 MB mark is in the window", lim/mb)
	}
	for range autoLimitWindow {
		lim = a.observe(400 * mb)
	}
	if lim != 700*mb {
		t.Errorf("heap at 400 MB for the whole window: limit %d MB, want 1.75× 400 MB", lim/mb)
	}
	for range autoLimitWindow {
		lim = a.observe(100 * mb)
	}
	if lim != 175*mb {
		t.Errorf("heap back to 100 MB: limit %d MB, want 175", lim/mb)
	}
	for range autoLimitWindow {
		lim = a.observe(1 * mb)
	}
	if lim != autoLimitMin {
		t.Errorf("tiny heap: limit %d, want the %d floor", lim, autoLimitMin)
	}
}

// TestAutoMemoryLimitSets runs the loop with no warm-up against the real
// runtime: after a few collections the process has a finite limit at
// least 1.3× its marked heap; it is left alone before the warm-up and
// after ctx ends.
func TestAutoMemoryLimitSets(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	debug.SetMemoryLimit(math.MaxInt64)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keep := make([][]byte, 0, 64)
	for range 64 {
		keep = append(keep, make([]byte, 1<<20))
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { autoMemoryLimit(ctx, time.Hour, time.Millisecond, log); close(done) }()
	for range 5 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Errorf("limit %d set before the warm-up", lim)
	}
	cancel()
	<-done

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done = make(chan struct{})
	go func() { autoMemoryLimit(ctx, 0, time.Millisecond, log); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) == math.MaxInt64 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	lim := debug.SetMemoryLimit(-1)
	if lim == math.MaxInt64 {
		t.Fatal("no automatic limit after collections")
	}
	if lim < 64<<20 || lim < int64(len(keep))<<20 {
		t.Errorf("automatic limit %d below the 64 MiB floor or the 64 MiB held", lim)
	}
	cancel()
	<-done
	debug.SetMemoryLimit(math.MaxInt64)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit %d set after ctx ended", got)
	}
	runtime.KeepAlive(keep)
}
