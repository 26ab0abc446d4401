package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/internal/snapfile"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

// state is what a restart must bring back, as the engine answers it.
type state struct {
	window1001 int     // international calls of 1001 in the hour
	held1002   int     // international slots 1002 holds
	spend      float64 // the tenant's international spend of the day
	live       int     // live calls
}

func stateOf(e *Engine, at time.Time) state {
	return state{
		window1001: e.Counters().Count(counter.Key{Scope: counter.ExtIntlCalls, Tenant: "acme", Subject: "1001"}, at, time.Hour),
		held1002:   e.Counters().Held(keyExtConcurrent("acme", "1002"), at),
		spend:      e.Counters().Sum(spendKeyOf(e, at)),
		live:       e.LiveCalls(),
	}
}

func newEngineConfig(t testing.TB, policy string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// spendKeyOf finds the tenant's international spend key by listing.
func spendKeyOf(e *Engine, at time.Time) counter.Key {
	for _, s := range e.Counters().(*counter.Memory).List(counter.TenantIntlSpend, "acme", "", at) {
		return counter.Key{Scope: counter.TenantIntlSpend, Tenant: "acme", Bucket: s.Bucket}
	}
	return counter.Key{}
}

// TestSnapshotPlusTailEqualsFullRestore drives calls, takes a snapshot in
// the middle, drives more, and restarts twice: from the snapshot plus the
// log's tail since it, and from the whole log as before snapshots. Both
// must give the state the running engine had, and the 11th international
// call of the hour must be refused by both.
func TestSnapshotPlusTailEqualsFullRestore(t *testing.T) {
	ctx := context.Background()
	e, rec := newEngine(t, tenPerHour)
	at := func(m int) time.Time { return monday10.Add(time.Duration(m) * time.Minute) }
	// 1001: eight international calls, each answered and ended (spend).
	for i := range 8 {
		c := call(fmt.Sprint("a", i), "1001", "+442071234567", at(i))
		if v := screenOne(t, e, c); v.Action != screen.Allow {
			t.Fatalf("call a%d: %s", i, codes(v))
		}
		e.Event(ctx, Event{CallID: c.ID, Type: "answer", Time: at(i).Add(5 * time.Second)})
		e.Event(ctx, Event{CallID: c.ID, Type: "end", Time: at(i).Add(35 * time.Second)})
	}
	// 1002: two live calls, one answered.
	for i := range 2 {
		screenOne(t, e, call(fmt.Sprint("b", i), "1002", "+4930123456", at(8)))
	}
	e.Event(ctx, Event{CallID: "b0", Type: "answer", Time: at(8).Add(3 * time.Second)})

	path := filepath.Join(t.TempDir(), "state.snap")
	taken := at(9)
	skew := time.Minute
	info, err := e.WriteSnapshot(path, taken, taken.Add(-skew-2*time.Second), nil)
	if err != nil || !info.Counters || info.Calls == 0 {
		t.Fatalf("WriteSnapshot: %+v %v", info, err)
	}

	// After the snapshot: two more calls of 1001 (the 9th and 10th), one
	// of 1002's calls ends, and a retried screen of a call the snapshot
	// holds.
	for i := 8; i < 10; i++ {
		c := call(fmt.Sprint("a", i), "1001", "+442071234567", at(i+1))
		if v := screenOne(t, e, c); v.Action != screen.Allow {
			t.Fatalf("call a%d: %s", i, codes(v))
		}
	}
	e.Event(ctx, Event{CallID: "b0", Type: "end", Time: at(10)})
	screenOne(t, e, call("b1", "1002", "+4930123456", at(8)))
	probeAt := at(12)
	want := stateOf(e, probeAt)
	if want.window1001 != 10 || want.held1002 != 1 || want.live != 3 || want.spend <= 0 {
		t.Fatalf("running state %+v, want 10 calls, 1 slot, 3 live calls (a8, a9, b1), some spend", want)
	}

	since := taken.Add(-skew - time.Second)
	var tailD []store.Decision
	var tailE []store.CallEvent
	for _, d := range rec.ds {
		if !d.Time.Before(since) {
			tailD = append(tailD, d)
		}
	}
	for _, ev := range rec.es {
		if !ev.Time.Before(since) {
			tailE = append(tailE, ev)
		}
	}
	if len(tailD) >= len(rec.ds) {
		t.Fatalf("tail holds %d of %d decisions: the test needs some before it", len(tailD), len(rec.ds))
	}

	fromSnap, _ := newEngine(t, tenPerHour)
	if _, err := fromSnap.LoadSnapshot(path); err != nil {
		t.Fatalf("LoadSnapshot: %v", err)
	}
	fromSnap.Restore(ctx, append([]store.Decision(nil), tailD...), tailE)

	full, _ := newEngine(t, tenPerHour)
	full.Restore(ctx, append([]store.Decision(nil), rec.ds...), rec.es)

	for name, r := range map[string]*Engine{"snapshot+tail": fromSnap, "full log": full} {
		if got := stateOf(r, probeAt); got != want {
			t.Errorf("%s: state %+v, want %+v", name, got, want)
		}
		if v := screenOne(t, r, call("a10", "1001", "+442071234567", probeAt)); v.Action != screen.Reject || !v.Has("rate_limit") {
			t.Errorf("%s: 11th international call: %v (%s), want reject by rate_limit", name, v.Action, codes(v))
		}
		// The live call's end still frees its slot and adds its cost once.
		before := stateOf(r, probeAt)
		res, err := r.Event(ctx, Event{CallID: "b1", Type: "end", Time: probeAt, Duration: ptr(60)})
		if err != nil || res.Released != 1 {
			t.Errorf("%s: end of a restored live call: %+v %v, want one slot released", name, res, err)
		}
		after := stateOf(r, probeAt)
		if after.held1002 != 0 || after.spend <= before.spend {
			t.Errorf("%s: after the end: %+v (before %+v)", name, after, before)
		}
	}
}

func ptr(n int) *int { return &n }

// TestSnapshotDamaged: a truncated file, a flipped byte and a foreign
// file are refused with ErrCorrupt, and nothing of them is loaded.
func TestSnapshotDamaged(t *testing.T) {
	e, _ := newEngine(t, tenPerHour)
	for i := range 3 {
		screenOne(t, e, call(fmt.Sprint("c", i), "1001", "+442071234567", monday10))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.snap")
	if _, err := e.WriteSnapshot(path, monday10, monday10, nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x40
	for name, b := range map[string][]byte{
		"truncated": good[:len(good)-5],
		"flipped":   flipped,
		"foreign":   []byte("PK\x03\x04 not a snapshot at all"),
		"empty":     nil,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		r, _ := newEngine(t, tenPerHour)
		_, err := r.LoadSnapshot(p)
		if !errors.Is(err, snapfile.ErrCorrupt) {
			t.Errorf("%s: LoadSnapshot error %v, want ErrCorrupt", name, err)
		}
		if n, c := r.LiveCalls(), len(r.Counters().(*counter.Memory).List(0, "", "", monday10)); n != 0 || c != 0 {
			t.Errorf("%s: %d live calls and %d counters after a refused snapshot, want none", name, n, c)
		}
	}
	if _, err := e.LoadSnapshot(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

// TestClockSkewRefused: with MaxClockSkew a live engine refuses calls and
// call events stamped further from its clock, saying so and pointing at
// replay; Restore (history from the decision log) is exempt.
func TestClockSkewRefused(t *testing.T) {
	now := monday10
	e, err := New(Options{Config: newEngineConfig(t, tenPerHour), Numbers: testIntel(t), Now: func() time.Time { return now }, MaxClockSkew: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var v screen.Verdict
	for _, tc := range []struct {
		at   time.Time
		want string // "" = accepted
	}{
		{now.Add(-30 * time.Second), ""},
		{now.Add(50 * time.Second), ""},
		{now.Add(-2 * time.Minute), "behind this node's clock"},
		{now.Add(90 * time.Second), "ahead of this node's clock"},
	} {
		c := call(fmt.Sprint("s", tc.at.Unix()), "1001", "+442071234567", tc.at)
		err := e.Screen(ctx, c, &v)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("call at %s: %v, want accepted", tc.at.Sub(now), err)
		case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), tc.want) || !strings.Contains(fmt.Sprint(err), "max_clock_skew_s")):
			t.Errorf("call at %s: %v, want ErrInvalid saying %q and naming max_clock_skew_s", tc.at.Sub(now), err, tc.want)
		}
	}
	id := fmt.Sprint("s", now.Add(-30*time.Second).Unix())
	if _, err := e.Event(ctx, Event{CallID: id, Type: "end", Time: now.Add(-3 * time.Minute)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("end stamped 3 min behind: %v, want ErrInvalid", err)
	}
	if _, err := e.Event(ctx, Event{CallID: id, Type: "end", Time: now}); err != nil {
		t.Errorf("end stamped now: %v", err)
	}
	// History from the log: two hours old, replayed.
	old := now.Add(-2 * time.Hour)
	calls, events := e.Restore(ctx, []store.Decision{{CallID: "h1", Time: old, Tenant: "acme", Extension: "1001", Callee: "+442071234567", Direction: "outbound", Enforced: "allow"}},
		[]store.CallEvent{{CallID: "h1", Type: "end", Time: old.Add(time.Minute)}})
	if calls != 1 || events != 1 {
		t.Errorf("Restore of two-hour-old history: %d calls, %d events, want 1 and 1", calls, events)
	}
	if err := e.Screen(ctx, call("after", "1001", "+442071234567", old), &v); !errors.Is(err, ErrInvalid) {
		t.Errorf("after Restore the bound applies again: %v", err)
	}
}

// FuzzLoadSnapshot loads arbitrary files: an error or a state, never a
// panic; after an error the engine holds no calls.
func FuzzLoadSnapshot(f *testing.F) {
	e, _ := newEngine(f, tenPerHour)
	screenOne(f, e, call("c1", "1001", "+442071234567", monday10))
	e.Event(context.Background(), Event{CallID: "c1", Type: "answer", Time: monday10.Add(time.Second)})
	path := filepath.Join(f.TempDir(), "seed.snap")
	if _, err := e.WriteSnapshot(path, monday10, monday10.Add(-time.Hour), nil); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Re-seal the body so the fuzzer reaches the decoder, not only
		// the checksum.
		if len(b) > len(snapMagic)+12 && string(b[:len(snapMagic)]) == snapMagic {
			b = snapfile.Reseal(b, len(snapMagic))
		}
		r, _ := newEngine(t, tenPerHour)
		if _, err := r.LoadSnapshotBytes(b, monday10); err != nil && r.LiveCalls() != 0 {
			t.Fatalf("%d live calls after error %v", r.LiveCalls(), err)
		}
	})
}
