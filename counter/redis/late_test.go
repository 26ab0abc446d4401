package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

// TestWindowCountsEveryEventWhateverTheOrder is the arrival-order attack
// on the shared store, with a real Redis: a window counts every event in
// it, whatever order the calls arrived in.
//
// First the case: ten calls stamped now-10 s … now-1 s fill a limit
// of ten an hour, then one stamped now-20 s arrives; it lies in the same
// hour and is refused. Then the pruning case: in a one-minute window with
// a limit of three, calls at 10 s, 65 s and 75 s (the last one's window
// starts at 15 s, so without a grace it prunes the 10 s event), then a call
// stamped 60 s, whose window (0 s, 60 s] still holds the 10 s event: three,
// refused.
func TestWindowCountsEveryEventWhateverTheOrder(t *testing.T) {
	r := testenv.NewRedis(t)
	s := newStore(t, r.Addr)
	res := make([]counter.Result, 1)
	apply := func(k counter.Key, id string, at time.Time, win time.Duration, limit int) (int, counter.Result) {
		f := s.Apply(at, []counter.Op{{Kind: counter.OpWindow, Key: k, ID: id, Window: win, Limit: limit}}, res)
		return f, res[0]
	}

	hour := counter.Key{Scope: counter.ExtIntlCalls, Tenant: "acme", Subject: "1001"}
	for i := 10; i >= 1; i-- {
		if f, r := apply(hour, fmt.Sprint("c", i), t0.Add(-time.Duration(i)*time.Second), time.Hour, 10); f != -1 {
			t.Fatalf("call at now-%ds refused: %+v", i, r)
		}
	}
	if f, r := apply(hour, "early", t0.Add(-20*time.Second), time.Hour, 10); f != 0 {
		t.Errorf("an 11th call stamped before the other ten was admitted: %+v", r)
	}

	burst := counter.Key{Scope: counter.ExtIntlBurst, Tenant: "acme", Subject: "1002"}
	for i, sec := range []int{10, 65, 75} {
		if f, r := apply(burst, fmt.Sprint("b", i), t0.Add(time.Duration(sec)*time.Second), time.Minute, 3); f != -1 {
			t.Fatalf("burst call at %d s refused: %+v", sec, r)
		}
	}
	if f, r := apply(burst, "late", t0.Add(60*time.Second), time.Minute, 3); f != 0 {
		t.Errorf("a call stamped at 60 s was admitted though its window holds the 10 s event and two later ones: %+v", r)
	}
	// The memory store answers the same.
	m := counter.NewMemory(0)
	for i, sec := range []int{10, 65, 75} {
		m.Reserve(burst, fmt.Sprint("b", i), t0.Add(time.Duration(sec)*time.Second), time.Minute, 3)
	}
	if _, ok, _ := m.Reserve(burst, "late", t0.Add(60*time.Second), time.Minute, 3); ok {
		t.Error("memory store admitted the late call Redis refused")
	}
}
