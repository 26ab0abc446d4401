// Package eventclock is the time that actions, the call table, the
// stale-call sweep and alert windows run on: event time, taken from the
// calls, call events and CDRs themselves, never the wall clock alone.
//
// How it advances. A Clock is the wall clock shifted by an offset: the
// largest (event time − wall time at which it was seen) over every event
// observed. So
//
//   - live traffic, stamped at about the wall clock, keeps the offset near
//     zero and the clock reads the wall clock;
//   - a drive of history in fast event time (a simulator, an evaluator, a
//     replay through the API) moves the clock with the stream, and between
//     two events it runs on at wall-clock speed (an idle server still
//     expires calls whose end never came);
//   - an event stamped earlier than the clock (late, retried, backdated)
//     never moves it back;
//   - an event stamped more than MaxLead ahead of the wall clock moves it
//     no further than MaxLead: a client with a wrong or forged clock cannot
//     push every expiry into the past.
//
// Before the first event the clock reads the wall clock. A Clock without a
// wall clock (Wall nil; the replay) is the latest event time seen.
package eventclock

import (
	"math"
	"sync/atomic"
	"time"
)

// MaxLead bounds how far ahead of the wall clock events can move a Clock.
const MaxLead = 5 * time.Minute

// unset marks a Clock that has seen no event.
const unset = math.MinInt64

// Clock is the event clock; the zero value is not ready (use New).
type Clock struct {
	wall func() time.Time
	off  atomic.Int64 // ns: event time − wall time, largest seen; unset before any
}

// New returns a clock over wall (nil: event time only, for replays).
func New(wall func() time.Time) *Clock {
	c := &Clock{wall: wall}
	c.off.Store(unset)
	return c
}

// Observe moves the clock to t if t is later than it (bounded by MaxLead
// ahead of the wall clock).
func (c *Clock) Observe(t time.Time) {
	if c == nil || t.IsZero() {
		return
	}
	ns := t.UnixNano()
	var w int64
	if c.wall != nil {
		w = c.wall().UnixNano()
		ns = min(ns, w+int64(MaxLead))
	}
	off := ns - w
	for {
		cur := c.off.Load()
		if cur != unset && off <= cur {
			return
		}
		if c.off.CompareAndSwap(cur, off) {
			return
		}
	}
}

// Now is the event time now.
func (c *Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	off := c.off.Load()
	if c.wall == nil {
		if off == unset {
			return time.Time{}
		}
		return time.Unix(0, off).UTC()
	}
	w := c.wall()
	if off == unset {
		return w
	}
	return w.Add(time.Duration(off))
}

// Started reports whether any event was observed.
func (c *Clock) Started() bool { return c != nil && c.off.Load() != unset }

// EventOnly reports whether the clock has no wall clock: it is moved only
// by the events observed and stands still between them (a replay, or a
// server driven in event time, cli.Options.EventTime).
func (c *Clock) EventOnly() bool { return c != nil && c.wall == nil }
