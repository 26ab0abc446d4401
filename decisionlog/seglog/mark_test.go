package seglog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/decisionlog/seglog"
	"github.com/tollgate-voip/tollgate/store"
)

// TestMarkReadsWhatCameAfter: After returns exactly the records appended
// after the mark, whatever their times (an earlier-stamped decision
// written later included), across a segment roll, a kill and a reopen;
// a mark that does not fit the log is refused, never read as "nothing".
func TestMarkReadsWhatCameAfter(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := seglog.Open(dir, seglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ds []store.Decision
	for i := range 40 {
		ds = append(ds, decision(i, t0.Add(time.Duration(i)*time.Second)))
	}
	ev := func(i int) store.CallEvent {
		return store.CallEvent{CallID: ds[i].CallID, Type: "end", Time: ds[i].Time.Add(time.Minute)}
	}
	if err := l.AppendDecisions(ctx, ds[:10]); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendCallEvents(ctx, []store.CallEvent{ev(0)}); err != nil {
		t.Fatal(err)
	}
	m := l.Mark()
	b, _ := m.AppendBinary(nil)
	var back seglog.Mark
	if err := back.UnmarshalBinary(b); err != nil || back != m {
		t.Fatalf("mark %+v round-trips to %+v, %v", m, back, err)
	}
	// After the mark: a decision stamped before every earlier one, a
	// roll, more decisions and events.
	early := decision(99, t0.Add(-time.Hour))
	if err := l.AppendDecisions(ctx, append([]store.Decision{early}, ds[10:20]...)); err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendDecisions(ctx, ds[20:30]); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendCallEvents(ctx, []store.CallEvent{ev(1), ev(25)}); err != nil {
		t.Fatal(err)
	}
	check := func(l *seglog.Log, when string) {
		t.Helper()
		gotD, gotE, err := l.After(ctx, m)
		if err != nil {
			t.Fatalf("%s: After: %v", when, err)
		}
		want := map[string]bool{early.CallID: true}
		for _, d := range ds[10:30] {
			want[d.CallID] = true
		}
		if len(gotD) != len(want) {
			t.Errorf("%s: After returned %d decisions, want %d", when, len(gotD), len(want))
		}
		for i, d := range gotD {
			if !want[d.CallID] {
				t.Errorf("%s: After returned %s, written before the mark", when, d.CallID)
			}
			if i > 0 && d.Time.Before(gotD[i-1].Time) {
				t.Errorf("%s: decisions not oldest first", when)
			}
		}
		if len(gotE) != 2 || gotE[0].CallID != ds[1].CallID || gotE[1].CallID != ds[25].CallID {
			t.Errorf("%s: After returned events %+v, want the ends of %s and %s", when, gotE, ds[1].CallID, ds[25].CallID)
		}
	}
	check(l, "running")
	seglog.Abandon(l)
	l, err = seglog.Open(dir, seglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check(l, "after kill -9 and reopen")

	for _, bad := range []seglog.Mark{
		{}, // taken on no log
		{Decisions: seglog.Pos{Seq: 1 << 40}, Events: m.Events},                       // a later log than this one
		{Decisions: seglog.Pos{Seq: m.Decisions.Seq, Off: 1 << 40}, Events: m.Events}, // past the end of its segment
	} {
		if _, _, err := l.After(ctx, bad); !errors.Is(err, seglog.ErrMarkUnusable) {
			t.Errorf("After(%+v) = %v, want ErrMarkUnusable", bad, err)
		}
	}
	if err := new(seglog.Mark).UnmarshalBinary(b[:5]); err == nil {
		t.Error("a short mark parsed")
	}
}
