package alert_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/alert"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// swapStore is store.Alerts backed by whichever real SQLite store is
// current: a closed one fails as a dead disk does, a reopened one answers.
type swapStore struct{ cur atomic.Pointer[sqlite.Store] }

func (s *swapStore) AddAlert(ctx context.Context, a store.Alert) (store.Alert, error) {
	return s.cur.Load().AddAlert(ctx, a)
}
func (s *swapStore) ListAlerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	return s.cur.Load().ListAlerts(ctx, q)
}
func (s *swapStore) SetAlertStatus(ctx context.Context, id int64, status string) error {
	return s.cur.Load().SetAlertStatus(ctx, id, status)
}

func spoolFinding(i int) detect.Finding {
	return detect.Finding{Code: "burst", Tenant: "acme", Extension: fmt.Sprint("e", i), Severity: "critical",
		Text: fmt.Sprint("finding ", i), Time: time.Date(2026, 12, 7, 6, 0, i, 0, time.UTC)}
}

// TestSpoolKeepsAlertsThroughAStoreFailure raises alerts while the store
// is closed (every write fails), restarts the manager while it is still
// down, then brings the store back: every alert is stored once, in the
// order raised, and the spool empties.
func TestSpoolKeepsAlertsThroughAStoreFailure(t *testing.T) {
	dir := t.TempDir()
	dbPath, spoolPath := filepath.Join(dir, "tollgate.db"), filepath.Join(dir, "alerts.spool")
	db, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	st := &swapStore{}
	st.cur.Store(db)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m := alert.New(alert.Options{Store: st, Logger: log})
	if err := m.SpoolTo(spoolPath, 0); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Raise(ctx, spoolFinding(0)) // stored directly
	db.Close()                    // the store fails from here on
	for i := 1; i <= 30; i++ {
		m.Raise(ctx, spoolFinding(i))
	}
	if n := m.Spooled(); n != 30 {
		t.Fatalf("spooled %d alerts, want 30", n)
	}
	if se := m.Stats().StoreErrs; se != 0 {
		t.Fatalf("%d alerts lost to store errors", se)
	}
	m.Close() // a restart while the store is still down
	m = alert.New(alert.Options{Store: st, Logger: log})
	if err := m.SpoolTo(spoolPath, 0); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := 31; i <= 45; i++ {
		m.Raise(ctx, spoolFinding(i)) // queue behind the spooled ones
	}
	if n := m.Spooled(); n != 45 {
		t.Fatalf("after the restart %d alerts spooled, want 45", n)
	}
	db, err = sqlite.Open(dbPath) // the store is back
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st.cur.Store(db)
	for t0 := time.Now(); m.Spooled() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("spool not drained: %d left", m.Spooled())
		}
	}
	as, err := db.ListAlerts(ctx, store.AlertQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 46 {
		t.Fatalf("%d alerts stored, want 46", len(as))
	}
	byID := map[int64]store.Alert{}
	for _, a := range as {
		byID[a.ID] = a
	}
	for i := 0; i <= 45; i++ {
		a, ok := byID[int64(i+1)]
		if !ok || a.Text != fmt.Sprint("finding ", i) {
			t.Fatalf("alert id %d: %q, want finding %d (order lost)", i+1, a.Text, i)
		}
	}
	if fi, err := os.Stat(spoolPath); err != nil || fi.Size() != 0 {
		t.Fatalf("spool file after drain: %v %v", fi, err)
	}
}

// TestSpoolIsBounded: past its size bound the spool refuses and the
// manager counts a store error instead of growing the file.
func TestSpoolIsBounded(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	st := &swapStore{}
	st.cur.Store(db)
	m := alert.New(alert.Options{Store: st, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))})
	if err := m.SpoolTo(filepath.Join(dir, "alerts.spool"), 2000); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := range 50 {
		m.Raise(context.Background(), spoolFinding(i))
	}
	fi, err := os.Stat(filepath.Join(dir, "alerts.spool"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 2000 || m.Spooled() == 0 || m.Stats().StoreErrs == 0 {
		t.Fatalf("spool %d bytes, %d spooled, %d store errors", fi.Size(), m.Spooled(), m.Stats().StoreErrs)
	}
}
