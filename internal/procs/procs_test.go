package procs

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// reading is one poll's input to the decider.
type reading struct {
	used float64
	busy bool
}

// drive feeds readings a second apart and returns the P count (1 or
// "all", as false) after each.
func drive(t *testing.T, one bool, rs []reading) []bool {
	t.Helper()
	d := decider{o: Options{}}
	d.o.defaults()
	now := time.Unix(1_000_000, 0)
	var got []bool
	for _, r := range rs {
		now = now.Add(time.Second)
		one = d.next(one, r.used, r.busy, now)
		got = append(got, one)
	}
	return got
}

func quiet(n int, used float64) []reading {
	rs := make([]reading, n)
	for i := range rs {
		rs[i].used = used
	}
	return rs
}

func TestOnePAfterCalm(t *testing.T) {
	got := drive(t, false, quiet(12, 0.05))
	// The first reading under Down starts the calm; one P once it has
	// lasted Calm (10 s): the 11th reading.
	for i, one := range got {
		if want := i >= 10; one != want {
			t.Fatalf("reading %d: one P = %v, want %v (%v)", i+1, one, want, got)
		}
	}
}

func TestCalmRestartsAboveDown(t *testing.T) {
	rs := quiet(8, 0.05)
	rs = append(rs, reading{used: 0.3}) // between Down and Up: not calm, not busy
	rs = append(rs, quiet(11, 0.05)...)
	got := drive(t, false, rs)
	for i, one := range got {
		if want := i >= 19; one != want {
			t.Fatalf("reading %d: one P = %v, want %v (%v)", i+1, one, want, got)
		}
	}
}

func TestAllPsAboveUp(t *testing.T) {
	got := drive(t, true, []reading{{used: 0.4}, {used: 0.6}, {used: 0.05}})
	if want := []bool{true, false, false}; !equal(got, want) {
		t.Fatalf("one P after each reading = %v, want %v", got, want)
	}
}

// A backlog brings every P back only when the process is using more than
// Down: on a loaded machine a reader finds a full batch whenever its
// thread waited for a CPU, whatever the rate.
func TestBacklogNeedsCPU(t *testing.T) {
	got := drive(t, true, []reading{{used: 0.05, busy: true}, {used: 0.2, busy: true}, {used: 0.3, busy: true}})
	if want := []bool{true, true, false}; !equal(got, want) {
		t.Fatalf("one P after each reading = %v, want %v", got, want)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Run moves the process to one P when it is quiet and back to every P
// when it stops; GOMAXPROCS in the environment leaves it alone.
func TestRunChangesGOMAXPROCS(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one P only")
	}
	t.Setenv("GOMAXPROCS", "")
	all := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Up high so that a busy test machine (the race detector, other
		// tests) does not keep every P.
		Run(ctx, Options{Poll: 5 * time.Millisecond, Calm: 20 * time.Millisecond, Up: 1000, Down: 500})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("still on every P after 10 s of a quiet process")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := Current(); s.Max != all || s.Procs != 1 || s.Changes != 1 {
		t.Errorf("Current() = %+v, want Max %d, Procs 1, Changes 1", s, all)
	}
	if Max() != all {
		t.Errorf("Max() = %d on one P, want %d", Max(), all)
	}
	cancel()
	<-done
	if n := runtime.GOMAXPROCS(0); n != all {
		t.Errorf("GOMAXPROCS = %d after Run ended, want %d back", n, all)
	}
}

func TestRunLeavesAnOperatorsGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "3")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Options{Poll: time.Millisecond, Calm: time.Millisecond})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept running with GOMAXPROCS set in the environment")
	}
	if running.Load() != nil {
		t.Error("a controller is registered")
	}
}
