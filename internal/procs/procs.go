// Package procs runs the Go scheduler on one P while the process uses a
// small part of one CPU, and on every P it may use as soon as it needs
// more.
//
// With two or more Ps, every goroutine a wake-up readies (a datagram on
// the UDP socket, a timer) also wakes a second OS thread to look for
// more work, which finds none and goes back to sleep: two futex calls
// and two context switches per wake-up that one P does not pay. At a
// thousand SIP calls a second that hand-off is a sixth of a redirected
// call's CPU (docs/benchmarks.md, issue 17, sip17e). One P is only right
// while the process needs well under one CPU, so the controller watches
// the CPU time the process used (user and system, from the kernel) and
// goes back to every P when it passes Up, or when it passes Down and a
// reader found a backlog meanwhile (Busy). A backlog alone says the
// process did not get a CPU for a while, which on a busy machine
// happens at any rate: one P is not the cause then.
//
// GOMAXPROCS set in the environment is an operator's choice: Run then
// changes nothing.
package procs

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// Options tunes the controller; zero values take the defaults.
type Options struct {
	// Up is the CPU the process may use on one P, in CPUs (CPU seconds
	// per second, averaged over Poll): above it every P is used.
	// Default 0.5.
	Up float64
	// Down is the CPU under which one P is enough, in CPUs; above it a
	// backlog (Busy) brings every P back. Default 0.25.
	Down float64
	// Calm is how long the CPU must stay under Down before one P is
	// used. Default 10 s.
	Calm time.Duration
	// Poll is how often the CPU time is read. Default 1 s.
	Poll time.Duration
	// Logger receives a line per change (slog.Default() when nil): at
	// most one a Calm for a move to one P.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Up <= 0 {
		o.Up = 0.5
	}
	if o.Down <= 0 || o.Down > o.Up {
		o.Down = min(0.25, o.Up/2)
	}
	if o.Calm <= 0 {
		o.Calm = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// controller is the running controller (nil when none runs).
type controller struct {
	max int
	// backlog is set by Busy, taken at the next reading.
	backlog atomic.Bool
	// one is true while the process runs on one P.
	one     atomic.Bool
	changes atomic.Int64
}

var running atomic.Pointer[controller]

// Busy says a reader found more work queued than it takes at once: at
// the next reading every P comes back if the process used more than
// Down. Cheap, never blocks; nothing without a running controller or
// when every P is in use already.
func Busy() {
	if c := running.Load(); c != nil && c.one.Load() && !c.backlog.Load() {
		c.backlog.Store(true)
	}
}

// Max is the number of Ps the process may use: what the runtime chose
// before the controller ran, or GOMAXPROCS now when none runs. Readers
// sized to the Ps use it, not the Ps of the moment.
func Max() int {
	if c := running.Load(); c != nil {
		return c.max
	}
	return runtime.GOMAXPROCS(0)
}

// Stats is what the controller did.
type Stats struct {
	Max     int   // Ps used under load
	Procs   int   // Ps now
	Changes int64 // changes of GOMAXPROCS since Run started
}

// Current returns the controller's state (Procs only when none runs).
func Current() Stats {
	s := Stats{Procs: runtime.GOMAXPROCS(0), Max: Max()}
	if c := running.Load(); c != nil {
		s.Changes = c.changes.Load()
	}
	return s
}

// Run controls GOMAXPROCS until ctx ends, then puts back every P. It
// returns at once when there is nothing to control: GOMAXPROCS set in the
// environment, one P only, no CPU time from the kernel, or another Run
// already running.
func Run(ctx context.Context, o Options) {
	o.defaults()
	all := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" || all < 2 {
		return
	}
	if _, ok := cpuTime(); !ok {
		return
	}
	c := &controller{max: all}
	if !running.CompareAndSwap(nil, c) {
		return
	}
	defer func() {
		if c.one.Load() {
			runtime.GOMAXPROCS(c.max)
		}
		running.CompareAndSwap(c, nil)
	}()
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	var d decider
	d.o = o
	lastCPU, _ := cpuTime()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		busy := c.backlog.Swap(false)
		now := time.Now()
		cpu, _ := cpuTime()
		used := float64(cpu-lastCPU) / float64(max(now.Sub(last), time.Millisecond))
		lastCPU, last = cpu, now
		if one := d.next(c.one.Load(), used, busy, now); one != c.one.Load() {
			n := c.max
			if one {
				n = 1
			}
			runtime.GOMAXPROCS(n)
			c.one.Store(one)
			c.changes.Add(1)
			o.Logger.Info("GOMAXPROCS changed", "procs", n, "cpu", used, "backlog", busy)
		}
	}
}

// decider is the controller's rule, apart from the runtime so that it
// can be tested with made-up readings.
type decider struct {
	o         Options
	calmSince time.Time // when the CPU last went under Down; zero: not under it
}

// next returns whether to run on one P, given whether it does now, the
// CPU used (in CPUs) since the last reading, and whether a reader found
// a backlog meanwhile.
func (d *decider) next(one bool, used float64, busy bool, now time.Time) bool {
	if used > d.o.Up || busy && used > d.o.Down {
		d.calmSince = time.Time{}
		return false
	}
	if one {
		return true
	}
	if used >= d.o.Down {
		d.calmSince = time.Time{}
		return false
	}
	if d.calmSince.IsZero() {
		d.calmSince = now
	}
	return now.Sub(d.calmSince) >= d.o.Calm
}
