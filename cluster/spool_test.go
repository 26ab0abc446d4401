package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// downable is a real SQLite store that the test can take "down": every
// write fails while it is, as PostgreSQL's would. It records the order in
// which records reached the store.
type downable struct {
	store.Decisions
	mu       sync.Mutex
	down     bool
	failLeft int // when > 0, this many more writes succeed, then it goes down
	order    []string
}

var errDown = errors.New("connection refused")

func (d *downable) setDown(v bool) {
	d.mu.Lock()
	d.down = v
	d.mu.Unlock()
}

func (d *downable) ok(ids []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failLeft > 0 {
		d.failLeft--
		if d.failLeft == 0 {
			defer func() { d.down = true }()
		}
	}
	if d.down {
		return errDown
	}
	d.order = append(d.order, ids...)
	return nil
}

func (d *downable) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	ids := make([]string, len(ds))
	for i := range ds {
		ids[i] = ds[i].CallID
	}
	if err := d.ok(ids); err != nil {
		return err
	}
	return d.Decisions.AppendDecisions(ctx, ds)
}

func (d *downable) AppendCallEvents(ctx context.Context, es []store.CallEvent) error {
	ids := make([]string, len(es))
	for i := range es {
		ids[i] = "ev:" + es[i].CallID
	}
	if err := d.ok(ids); err != nil {
		return err
	}
	return d.Decisions.AppendCallEvents(ctx, es)
}

func newDownable(t *testing.T) *downable {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &downable{Decisions: st}
}

var spoolT0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func decision(id string, i int) store.Decision {
	return store.Decision{CallID: id, Time: spoolT0.Add(time.Duration(i) * time.Second), Tenant: "acme", Extension: "1001", Callee: "+4930123456",
		Direction: "outbound", Action: "allow", Enforced: "allow", Reasons: []byte("[]"), Node: "n1"}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func stored(t *testing.T, d *downable) map[string]int {
	ds, err := d.Decisions.DecisionsSince(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, x := range ds {
		out[x.CallID]++
	}
	return out
}

// TestSpoolOrderAndReplay: while the store is down records are kept on
// disk (acknowledged), later ones queue behind them even once the store
// is back, a restart finds them, and Drain writes them in order, once.
func TestSpoolOrderAndReplay(t *testing.T) {
	ctx := context.Background()
	dst := newDownable(t)
	dir := t.TempDir()
	sp, err := OpenSpool(dst, dir, 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.AppendDecisions(ctx, []store.Decision{decision("d0", 0)}); err != nil || sp.Pending() != 0 {
		t.Fatalf("direct write: err %v, pending %d", err, sp.Pending())
	}
	dst.setDown(true)
	for i := 1; i <= 5; i++ {
		if err := sp.AppendDecisions(ctx, []store.Decision{decision(fmt.Sprint("d", i), i)}); err != nil {
			t.Fatalf("spooling d%d: %v", i, err)
		}
	}
	if err := sp.AppendCallEvents(ctx, []store.CallEvent{{CallID: "d1", Type: "end", Time: spoolT0.Add(time.Minute), Tenant: "acme", Duration: 60}}); err != nil {
		t.Fatal(err)
	}
	// Back up: a new record still goes behind the spooled ones.
	dst.setDown(false)
	if err := sp.AppendDecisions(ctx, []store.Decision{decision("d6", 6)}); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, dst); len(got) != 1 {
		t.Fatalf("store holds %v before the drain; a record overtook the spool", got)
	}
	pending := sp.Pending()
	if pending == 0 || sp.Spooled.Load() != 7 {
		t.Fatalf("pending %d bytes, spooled %d records; want 7 records on disk", pending, sp.Spooled.Load())
	}
	// Restart: the file is found again.
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	sp, err = OpenSpool(dst, dir, 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.Pending() != pending {
		t.Fatalf("after reopening, pending %d bytes, want %d", sp.Pending(), pending)
	}
	// A drain that fails halfway keeps the rest; the next one finishes and
	// the records written twice are stored once.
	dst.mu.Lock()
	dst.failLeft = 3
	dst.mu.Unlock()
	if err := sp.Drain(ctx); err == nil {
		t.Fatal("drain with the store going down reported success")
	}
	if sp.Pending() != pending {
		t.Fatalf("a failed drain changed the spool: %d bytes, want %d", sp.Pending(), pending)
	}
	dst.setDown(false)
	if err := sp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if sp.Pending() != 0 {
		t.Fatalf("after the drain %d bytes pending", sp.Pending())
	}
	if fi, err := os.Stat(filepath.Join(dir, "records.jsonl")); err != nil || fi.Size() != 0 {
		t.Fatalf("spool file after the drain: %v %v", fi, err)
	}
	want := []string{"d0", "d1", "d2", "d3", "d4", "d5", "ev:d1", "d6"}
	order := dst.order[len(dst.order)-len(want)+1:]
	if fmt.Sprint(append([]string{"d0"}, order...)) != fmt.Sprint(want) {
		t.Errorf("records reached the store in order %v, want %v", dst.order, want)
	}
	got := stored(t, dst)
	for i := range 7 {
		if got[fmt.Sprint("d", i)] != 1 {
			t.Errorf("d%d stored %d times, want once", i, got[fmt.Sprint("d", i)])
		}
	}
	evs, err := dst.Decisions.CallEventsSince(ctx, time.Time{})
	if err != nil || len(evs) != 1 {
		t.Errorf("call events stored: %v %v, want the one end event", evs, err)
	}
}

// TestSpoolBounded: a full spool refuses (ErrSpoolFull, counted), never
// grows past its bound and keeps what it acknowledged; after a drain it
// takes records again.
func TestSpoolBounded(t *testing.T) {
	ctx := context.Background()
	dst := newDownable(t)
	dst.setDown(true)
	const max = 4096
	sp, err := OpenSpool(dst, t.TempDir(), max, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var accepted []string
	full := 0
	for i := range 100 {
		id := fmt.Sprint("b", i)
		err := sp.AppendDecisions(ctx, []store.Decision{decision(id, i)})
		switch {
		case err == nil:
			if full > 0 {
				t.Fatalf("%s accepted after the spool was full", id)
			}
			accepted = append(accepted, id)
		case errors.Is(err, ErrSpoolFull):
			full++
		default:
			t.Fatal(err)
		}
		if sp.Pending() > max {
			t.Fatalf("spool at %d bytes, bound %d", sp.Pending(), max)
		}
	}
	if full == 0 || len(accepted) == 0 || sp.Full.Load() != int64(full) {
		t.Fatalf("accepted %d, refused %d (counted %d): want both, refusals counted", len(accepted), full, sp.Full.Load())
	}
	dst.setDown(false)
	if err := sp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	got := stored(t, dst)
	if len(got) != len(accepted) {
		t.Errorf("store holds %d records, want the %d accepted", len(got), len(accepted))
	}
	for _, id := range accepted {
		if got[id] != 1 {
			t.Errorf("accepted %s stored %d times", id, got[id])
		}
	}
	if err := sp.AppendDecisions(ctx, []store.Decision{decision("after", 200)}); err != nil || sp.Pending() != 0 {
		t.Errorf("after the drain: err %v, pending %d; want a direct write", err, sp.Pending())
	}
}

// TestSpoolTornTail: a line a crash cut short (never acknowledged) is
// dropped on open, so the records spooled after the restart stay readable.
func TestSpoolTornTail(t *testing.T) {
	ctx := context.Background()
	dst := newDownable(t)
	dst.setDown(true)
	dir := t.TempDir()
	sp, err := OpenSpool(dst, dir, 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.AppendDecisions(ctx, []store.Decision{decision("t1", 1)}); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	f, err := os.OpenFile(filepath.Join(dir, "records.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"d":[{"call_id":"torn","ti`)
	f.Close()
	sp, err = OpenSpool(dst, dir, 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.AppendDecisions(ctx, []store.Decision{decision("t2", 2)}); err != nil {
		t.Fatal(err)
	}
	dst.setDown(false)
	if err := sp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	got := stored(t, dst)
	if got["t1"] != 1 || got["t2"] != 1 || got["torn"] != 0 || sp.Invalid.Load() != 0 {
		t.Errorf("stored %v, %d unreadable lines; want t1 and t2, nothing skipped", got, sp.Invalid.Load())
	}
}
