package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCallsLiveInEventTime (issue 15, cause 1): a drive of history in fast
// event time — calls stamped two weeks ago, played in milliseconds — must
// not lose its calls to the wall clock. The server's periodic sweep
// (SweepDue) runs at the event clock: a call answered in the stream is
// still known when its end arrives, and a call whose end never comes
// expires once event time passes its lease, not before.
func TestCallsLiveInEventTime(t *testing.T) {
	e, _ := newEngine(t, "")
	ctx := context.Background()
	t0 := time.Now().Add(-14 * 24 * time.Hour).Truncate(time.Hour)
	screenOne(t, e, call("long", "1001", "2125551234", t0))
	screenOne(t, e, call("lost", "1002", "2125551235", t0))
	screenOne(t, e, call("silent", "1004", "2125551237", t0.Add(28*time.Minute)))
	for _, id := range []string{"long", "lost"} {
		if _, err := e.Event(ctx, Event{CallID: id, Type: "answer", Time: t0.Add(5 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	// The stream moves on 30 minutes; the server sweeps (on the wall clock
	// every call's lease ran out two weeks ago). Only "silent", screened 2
	// min earlier in event time, is still awaiting its first event
	// (call_setup_s, 5 min by default).
	screenOne(t, e, call("later", "1003", "2125551236", t0.Add(30*time.Minute)))
	if n := e.SweepDue(); n != 0 || e.metrics.noEvent.Load() != 0 {
		t.Fatalf("SweepDue expired %d calls and forgot %d 30 min into the stream; want 0 and 0", n, e.metrics.noEvent.Load())
	}
	d := 1500
	res, err := e.Event(ctx, Event{CallID: "long", Type: "end", Time: t0.Add(25*time.Minute + 5*time.Second), Duration: &d})
	if err != nil {
		t.Fatalf("end of a call answered 25 min earlier in event time: %v", err)
	}
	if res.Duration != 1500 {
		t.Errorf("duration %d; want 1500", res.Duration)
	}
	// Event time passes the lost call's lease (stale_call_after_s, 4 h by
	// default): now it expires, and "silent" is forgotten.
	screenOne(t, e, call("much-later", "1003", "2125551236", t0.Add(5*time.Hour)))
	if n := e.SweepDue(); n < 1 {
		t.Errorf("SweepDue after the lease ran out in event time expired %d calls; want ≥ 1", n)
	}
	if e.metrics.noEvent.Load() < 1 {
		t.Errorf("the call without an event was not forgotten 5 h into the stream")
	}
	if _, err := e.Event(ctx, Event{CallID: "lost", Type: "end", Time: t0.Add(5 * time.Hour)}); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("end of the expired call = %v; want ErrUnknownCall", err)
	}
}

// TestEventClockForgedFuture: a screen stamped hours ahead of the wall
// clock (a client with a wrong or forged clock; saneTime lets a day
// through) moves the event clock at most eventclock.MaxLead ahead, so it
// cannot expire every live call at once.
func TestEventClockForgedFuture(t *testing.T) {
	e, _ := newEngine(t, "")
	ctx := context.Background()
	now := time.Now()
	screenOne(t, e, call("live", "1001", "2125551234", now))
	if _, err := e.Event(ctx, Event{CallID: "live", Type: "answer", Time: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	screenOne(t, e, call("forged", "1002", "2125551235", now.Add(20*time.Hour)))
	if got := e.Clock().Now(); got.After(time.Now().Add(6 * time.Minute)) {
		t.Fatalf("event clock at %s after a forged future call; want at most ~5 min ahead", got)
	}
	if n := e.SweepDue(); n != 0 {
		t.Errorf("a forged future call made the sweep expire %d live calls", n)
	}
}
