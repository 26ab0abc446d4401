package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// TestReplayTailInSlices: the tail read a second at a time (and, past a
// page-filling second, in one piece) rebuilds the same counters and live
// calls as the whole log replayed at once.
func TestReplayTailInSlices(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	var ds []store.Decision
	var es []store.CallEvent
	// Six seconds of calls, five a second, each ext calling Germany; one
	// in three ends 1.5 s later.
	for i := range 30 {
		at := t0.Add(time.Duration(i) * 200 * time.Millisecond)
		id := fmt.Sprint("t", i)
		ds = append(ds, store.Decision{CallID: id, Time: at, Tenant: "acme", Extension: fmt.Sprint(1000 + i%4), Callee: "+4930123456", Direction: "outbound", Action: "allow", Enforced: "allow"})
		if i%3 == 0 {
			es = append(es, store.CallEvent{CallID: id, Type: "end", Time: at.Add(1500 * time.Millisecond), Tenant: "acme"})
		}
	}
	if err := st.AppendDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendCallEvents(ctx, es); err != nil {
		t.Fatal(err)
	}
	newEng := func() *engine.Engine {
		cfg, err := config.Parse("p.yaml", []byte(apiPolicy))
		if err != nil {
			t.Fatal(err)
		}
		intel, err := number.New(number.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	whole := newEng()
	all, _ := st.DecisionsSince(ctx, t0)
	allE, _ := st.CallEventsSince(ctx, t0)
	whole.Restore(ctx, all, allE)

	sliced := newEng()
	calls, events, tail, err := replayTail(ctx, sliced, st, t0, t0.Add(3*time.Second), allE)
	if err != nil || tail != 30 || calls != 30 || events != 10 {
		t.Fatalf("replayTail: %d calls, %d events, %d read, %v; want 30, 10, 30", calls, events, tail, err)
	}
	at := t0.Add(10 * time.Second)
	for ext := range 4 {
		k := counter.Key{Scope: counter.ExtIntlCalls, Tenant: "acme", Subject: fmt.Sprint(1000 + ext)}
		if a, b := sliced.Counters().Count(k, at, time.Hour), whole.Counters().Count(k, at, time.Hour); a != b {
			t.Errorf("ext %d: %d calls counted from slices, %d from the whole log", 1000+ext, a, b)
		}
	}
	if a, b := sliced.LiveCalls(), whole.LiveCalls(); a != b || a != 20 {
		t.Errorf("live calls: %d from slices, %d from the whole log; want 20", a, b)
	}
}
