package seglog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/decisionlog"
	"github.com/tollgate-voip/tollgate/decisionlog/seglog"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// shared hands out handles on one open store (one embedded process): the
// store really closes when the last handle does, and the next open
// reads it back from disk.
type shared struct {
	mu   sync.Mutex
	dir  string
	st   *seglog.Store
	refs int
	t    *testing.T
}

type handle struct {
	*seglog.Store
	s    *shared
	once sync.Once
}

func (h *handle) Close() error {
	var err error
	h.once.Do(func() {
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		if h.s.refs--; h.s.refs == 0 {
			err = h.s.st.Close()
			h.s.st = nil
		}
	})
	return err
}

func (s *shared) open() store.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil {
		s.st = openStore(s.t, s.dir, seglog.Options{})
	}
	s.refs++
	return &handle{Store: s.st, s: s}
}

func openStore(t testing.TB, dir string, o seglog.Options) *seglog.Store {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(dir, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := seglog.Open(filepath.Join(dir, "log"), o)
	if err != nil {
		t.Fatal(err)
	}
	st, err := seglog.Wrap(context.Background(), db, l, seglog.Policy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStoreSuite holds the log, in front of SQLite, to the behaviour
// every store shares (store/storetest).
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() store.Store {
		s := &shared{dir: t.TempDir(), t: t}
		return s.open
	})
}

func decision(i int, at time.Time) store.Decision {
	return store.Decision{CallID: fmt.Sprintf("%08x-%04x@10.0.0.%d", rand.Uint32(), i, i%250), Time: at, Tenant: "acme",
		Extension: fmt.Sprint(1000 + i%40), Caller: fmt.Sprint("+1212555", 1000+i%40),
		Callee: fmt.Sprintf("0114420%08d", rand.IntN(1e8)), E164: "", Country: "GB", Type: "fixed",
		Direction: "outbound", SourceIP: fmt.Sprint("10.0.0.", i%250), Action: "allow", Enforced: "allow",
		Risk: i % 7, MaxDuration: 3600, Rate: 0.02, Reasons: json.RawMessage(`[]`), Node: "n1"}
}

func TestReopenKeepsRecordsAndCutsATornFrame(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := seglog.Open(dir, seglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ds []store.Decision
	for i := range 100 {
		d := decision(i, t0.Add(time.Duration(i)*time.Second))
		d.E164 = "+44" + d.Callee[3:]
		ds = append(ds, d)
	}
	if err := l.AppendDecisions(ctx, ds[:60]); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendDecisions(ctx, ds[60:]); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendCallEvents(ctx, []store.CallEvent{{CallID: ds[0].CallID, Type: "end", Time: t0.Add(time.Minute), Duration: 60, Cost: 0.5, International: true}}); err != nil {
		t.Fatal(err)
	}
	seglog.Abandon(l) // as kill -9 would. Then a torn frame at the end.
	segs, _ := filepath.Glob(filepath.Join(dir, "decisions", "d-*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments = %v", segs)
	}
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Close()

	// A reader beside the (dead) writer sees every record.
	ro, err := seglog.Open(dir, seglog.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ro.DecisionsSince(ctx, time.Time{}); err != nil || len(got) != 100 {
		t.Fatalf("read-only DecisionsSince = %d, %v", len(got), err)
	}
	ro.Close()

	l2, err := seglog.Open(dir, seglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	got, err := l2.DecisionsSince(ctx, time.Time{})
	if err != nil || len(got) != 100 {
		t.Fatalf("DecisionsSince after reopen = %d, %v", len(got), err)
	}
	for i := range got {
		want := ds[i]
		if got[i].CallID != want.CallID || !got[i].Time.Equal(want.Time) || got[i].Callee != want.Callee || got[i].E164 != want.E164 ||
			got[i].Risk != want.Risk || got[i].Rate != want.Rate || string(got[i].Reasons) != "[]" || got[i].SourceIP != want.SourceIP {
			t.Fatalf("decision %d = %+v, want %+v", i, got[i], want)
		}
	}
	es, err := l2.CallEventsSince(ctx, t0)
	if err != nil || len(es) != 1 || es[0].Cost != 0.5 || !es[0].International || es[0].Duration != 60 {
		t.Fatalf("CallEventsSince = %+v, %v", es, err)
	}
	// Queries by number, extension and call id, newest first.
	q, err := l2.QueryDecisions(ctx, store.DecisionQuery{Number: ds[42].E164})
	if err != nil || len(q) != 1 || q[0].CallID != ds[42].CallID {
		t.Errorf("by e164 = %+v, %v", q, err)
	}
	q, err = l2.QueryDecisions(ctx, store.DecisionQuery{Extension: ds[5].Extension, Limit: 2})
	if err != nil || len(q) != 2 || q[0].CallID != ds[85].CallID || q[1].CallID != ds[45].CallID {
		t.Errorf("by extension = %d, %v", len(q), err)
	}
	q, err = l2.QueryDecisions(ctx, store.DecisionQuery{Limit: 3})
	if err != nil || len(q) != 3 || q[0].CallID != ds[99].CallID || q[2].CallID != ds[97].CallID {
		t.Errorf("latest = %d, %v", len(q), err)
	}
	// Appending after the reopen goes to a new segment and is read back.
	if err := l2.AppendDecisions(ctx, []store.Decision{decision(7, t0.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if got, _ := l2.DecisionsSince(ctx, t0.Add(30*time.Minute)); len(got) != 1 {
		t.Errorf("new decision: %d", len(got))
	}
}

func TestSecondWriterRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := seglog.Open(dir, seglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l2, err := seglog.Open(dir, seglog.Options{}); err == nil {
		l2.Close()
		t.Fatal("a second writer opened the same log")
	}
}

func TestRetentionDropsOldSegments(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	now := t0.Add(100 * 24 * time.Hour)
	l, err := seglog.Open(dir, seglog.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// One segment per day for 100 days: decisions and events.
	for day := range 100 {
		at := t0.Add(time.Duration(day) * 24 * time.Hour)
		var ds []store.Decision
		var es []store.CallEvent
		for i := range 10 {
			d := decision(i, at.Add(time.Duration(i)*time.Minute))
			ds = append(ds, d)
			es = append(es, store.CallEvent{CallID: d.CallID, Type: "end", Time: d.Time.Add(time.Minute)})
		}
		if err := l.AppendDecisions(ctx, ds); err != nil {
			t.Fatal(err)
		}
		if err := l.AppendCallEvents(ctx, es); err != nil {
			t.Fatal(err)
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := l.Prune(now, seglog.Retention{Decisions: 30 * 24 * time.Hour, Events: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st.DecisionSegments != 70 || st.Decisions != 700 || st.EventSegments != 90 || st.Events != 900 {
		t.Errorf("Prune = %+v; want 70 decision and 90 event segments", st)
	}
	ds, _ := l.DecisionsSince(ctx, time.Time{})
	es, _ := l.CallEventsSince(ctx, time.Time{})
	if len(ds) != 300 || len(es) != 100 {
		t.Errorf("after retention: %d decisions, %d events; want 300, 100", len(ds), len(es))
	}
	if !ds[0].Time.Equal(t0.Add(70 * 24 * time.Hour)) {
		t.Errorf("oldest kept decision %v", ds[0].Time)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "decisions", "*"))
	if len(files) != 2*30+1 { // .seg and .sum per sealed segment, plus the active one
		t.Errorf("%d files left in decisions/", len(files))
	}
}

// TestBytesPerDecision holds the log to ≤ 150 bytes per stored decision
// on realistic records: every call id and callee distinct, 40
// extensions, frames of the size the writer produces under load and of
// a few records (light load).
func TestBytesPerDecision(t *testing.T) {
	for _, batch := range []int{512, 8} {
		dir := t.TempDir()
		l, err := seglog.Open(dir, seglog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		n := 20000
		if batch < 100 {
			n = 4000 // an fdatasync per frame
		}
		for lo := 0; lo < n; lo += batch {
			var ds []store.Decision
			for i := lo; i < min(lo+batch, n); i++ {
				d := decision(i, t0.Add(time.Duration(i)*time.Millisecond))
				d.E164 = "+44" + d.Callee[5:]
				d.Reasons = json.RawMessage(`[{"code":"dest_allowed","text":"GB fixed is allowed"}]`)
				ds = append(ds, d)
			}
			if err := l.AppendDecisions(context.Background(), ds); err != nil {
				t.Fatal(err)
			}
		}
		z := l.Size()
		per := float64(z.DecisionBytes) / float64(z.Decisions)
		t.Logf("batch %d: %d decisions in %d bytes: %.1f bytes each", batch, z.Decisions, z.DecisionBytes, per)
		if z.Decisions != int64(n) || per > 150 {
			t.Errorf("batch %d: %d decisions at %.1f bytes each; want %d at ≤ 150", batch, z.Decisions, per, n)
		}
		l.Close()
	}
}

// TestMigratesTheOldTables moves decisions and events a database held
// before the log existed, once.
func TestMigratesTheOldTables(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(dir, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	var ds []store.Decision
	for i := range 30 {
		ds = append(ds, decision(i, t0.Add(time.Duration(i)*time.Second)))
	}
	if err := db.AppendDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendCallEvents(ctx, []store.CallEvent{{CallID: ds[3].CallID, Type: "answer", Time: t0}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 {
		st := openStore(t, dir, seglog.Options{})
		got, err := st.DecisionsSince(ctx, time.Time{})
		es, _ := st.CallEventsSince(ctx, time.Time{})
		if err != nil || len(got) != 30 || got[29].CallID != ds[29].CallID || len(es) != 1 {
			t.Fatalf("after migration: %d decisions, %d events, %v", len(got), len(es), err)
		}
		st.Close()
	}
	db, _ = sqlite.Open(filepath.Join(dir, "t.db"))
	defer db.Close()
	if left, _ := db.DecisionsSince(ctx, time.Time{}); len(left) != 0 {
		t.Errorf("%d decisions left in SQLite", len(left))
	}
}

// TestWriterDurableAck runs decisionlog.Writer on the log: Sync returns
// only once the records are on disk, where a fresh reader finds them.
func TestWriterDurableAck(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir, seglog.Options{DeferSync: true}) // as serve opens it
	defer st.Close()
	w := decisionlog.New(st, decisionlog.Options{FlushInterval: time.Hour})
	defer w.Close(context.Background())
	var ids []string
	for i := range 50 {
		d := decision(i, t0.Add(time.Duration(i)*time.Second))
		ids = append(ids, d.CallID)
		w.Decision(d)
	}
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ro, err := seglog.Open(filepath.Join(dir, "log"), seglog.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	got, err := ro.DecisionsSince(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for _, d := range got {
		gotIDs = append(gotIDs, d.CallID)
	}
	if !slices.Equal(gotIDs, ids) {
		t.Errorf("after Sync a reader sees %d of 50 decisions", len(gotIDs))
	}
}

func TestAlertRetentionKeepsOpenAlerts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(dir, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	for i, status := range []string{"open", "resolved", "acknowledged", "resolved"} {
		at := t0.Add(time.Duration(i) * 24 * time.Hour)
		if i == 3 {
			at = t0.Add(40 * 24 * time.Hour)
		}
		if _, err := db.AddAlert(ctx, store.Alert{Time: at, Severity: "warning", Code: "x", Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := seglog.Open(filepath.Join(dir, "log"), seglog.Options{Now: func() time.Time { return t0.Add(45 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	st, err := seglog.Wrap(ctx, db, l, seglog.Policy{Alerts: 30 * 24 * time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	as, err := st.ListAlerts(ctx, store.AlertQuery{Limit: 100})
	if err != nil || len(as) != 2 {
		t.Fatalf("alerts after retention = %+v, %v; want the open one and the recent one", as, err)
	}
}
