package eventclock

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	wall := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c := New(func() time.Time { return wall })
	if !c.Now().Equal(wall) || c.Started() {
		t.Fatalf("before any event: %s, started %v; want the wall clock", c.Now(), c.Started())
	}
	// A drive of history: the first event sets the clock back to it.
	h := wall.Add(-14 * 24 * time.Hour)
	c.Observe(h)
	if !c.Now().Equal(h) {
		t.Fatalf("after an event two weeks ago: %s; want %s", c.Now(), h)
	}
	// Between events the clock runs at wall-clock speed.
	wall = wall.Add(10 * time.Second)
	if want := h.Add(10 * time.Second); !c.Now().Equal(want) {
		t.Errorf("10 s later: %s; want %s", c.Now(), want)
	}
	// Fast event time: an hour of stream in no wall time.
	c.Observe(h.Add(time.Hour))
	if want := h.Add(time.Hour); !c.Now().Equal(want) {
		t.Errorf("after the stream moved an hour: %s; want %s", c.Now(), want)
	}
	// Late, retried and backdated events never move it back.
	c.Observe(h)
	c.Observe(h.Add(-24 * time.Hour))
	if want := h.Add(time.Hour); !c.Now().Equal(want) {
		t.Errorf("after a backdated event: %s; want %s", c.Now(), want)
	}
	// A forged future stamp moves it at most MaxLead ahead of the wall.
	c.Observe(wall.Add(20 * time.Hour))
	if want := wall.Add(MaxLead); !c.Now().Equal(want) {
		t.Errorf("after a future event: %s; want %s", c.Now(), want)
	}
}

func TestReplayClock(t *testing.T) {
	c := New(nil)
	if !c.Now().IsZero() {
		t.Fatal("a replay clock before any event is not zero")
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Observe(t0.Add(time.Hour))
	c.Observe(t0)
	if !c.Now().Equal(t0.Add(time.Hour)) {
		t.Errorf("replay clock %s; want the latest event", c.Now())
	}
}
