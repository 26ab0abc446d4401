package action_test

import (
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/action"
)

// A dialog timer given through the manager (the in-call watch's LongAt)
// reaches the end-call stream, which keeps it until the call's end
// arrives; enders without timers are left alone.
func TestEndCallAtReachesStream(t *testing.T) {
	s := action.NewEndStream()
	m := &action.Manager{}
	m.AddEnder(s)
	at := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	m.EndCallAt("c1", at)
	if got, ok := s.Timer("c1"); !ok || !got.Equal(at) {
		t.Fatalf("Timer(c1) = %s, %v; want %s", got, ok, at)
	}
	if _, ok := s.Timer("c2"); ok {
		t.Fatal("a timer for a call never given one")
	}
	s.Ended("c1")
	if _, ok := s.Timer("c1"); ok {
		t.Fatal("the timer outlived the call's end")
	}
}
