package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

var (
	pg  *testenv.Postgres
	dbs atomic.Int64
)

func TestMain(m *testing.M) {
	var err error
	if pg, err = testenv.StartPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

// freshDB makes an empty database and returns a function opening handles
// on it (each handle is what one node would hold).
func freshDB(t *testing.T) func() store.Store {
	dsn, err := pg.CreateDatabase(fmt.Sprint("t", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return func() store.Store {
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestSuite(t *testing.T) { storetest.Run(t, freshDB) }

func TestRetentionKeepsChainVerifiable(t *testing.T) {
	s := freshDB(t)().(*postgres.Store)
	defer s.Close()
	ctx := context.Background()
	old := time.Date(2018, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if _, err := s.AppendAudit(ctx, store.AuditEntry{Time: old.AddDate(i, 0, 0), Actor: "ops", Action: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Time: now, Actor: "ops", Action: "y"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendDecisions(ctx, []store.Decision{
		{CallID: "old", Time: now.AddDate(0, -14, 0)}, {CallID: "new", Time: now},
	}); err != nil {
		t.Fatal(err)
	}
	dropped, err := s.Retention(ctx, now, 365*24*time.Hour, 7*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// 2018 ended more than seven years before now; 2019 did not quite.
	want := "[decisions_y2025m09 audit_y2018]"
	if fmt.Sprint(dropped) != want {
		t.Errorf("dropped %v, want %s", dropped, want)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit after retention: %v", err)
	}
	es, _ := s.ListAudit(ctx, time.Time{}, 100)
	if len(es) != 3 {
		t.Errorf("%d audit entries left, want 3", len(es))
	}
	ds, _ := s.DecisionsSince(ctx, time.Time{})
	if len(ds) != 1 || ds[0].CallID != "new" {
		t.Errorf("decisions left %+v", ds)
	}
	// The audit log refuses changes.
	if _, err := s.Pool().Exec(ctx, `UPDATE audit SET actor = 'eve'`); err == nil {
		t.Error("UPDATE on the audit log succeeded")
	}
	if _, err := s.Pool().Exec(ctx, `DELETE FROM audit`); err == nil {
		t.Error("DELETE on the audit log succeeded")
	}
	// A tampered entry breaks verification.
	if _, err := s.Pool().Exec(ctx, `ALTER TABLE audit DISABLE TRIGGER audit_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE audit SET actor = 'eve' WHERE action = 'y'`); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyAudit(ctx); err == nil {
		t.Error("VerifyAudit passed a tampered entry")
	}
}

func TestOpenRefusesBadDSNWithoutEchoingIt(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:s3cret@[::1:5432/x")
	if err == nil {
		t.Fatal("bad DSN accepted")
	}
	if got := err.Error(); contains(got, "s3cret") {
		t.Errorf("error %q shows the password", got)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestAuditAppendWithRetentionNoDeadlock: a node appending its first
// audit entry of a year (a new partition) while another node applies
// retention must not deadlock; both take the partition lock before the
// audit lock. Each round uses a fresh handle (no partition cached) and a
// new year, so the partition is really created while retention runs.
func TestAuditAppendWithRetentionNoDeadlock(t *testing.T) {
	open := freshDB(t)
	ret := open().(*postgres.Store)
	defer ret.Close()
	ctx := context.Background()
	for i := range 25 {
		app := open().(*postgres.Store)
		var wg sync.WaitGroup
		var retErr, appErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, retErr = ret.Retention(ctx, time.Now(), 0, 0)
		}()
		go func() {
			defer wg.Done()
			_, appErr = app.AppendAudit(ctx, store.AuditEntry{Time: time.Date(1990+i, 6, 1, 0, 0, 0, 0, time.UTC), Actor: "ops", Action: "x"})
		}()
		wg.Wait()
		app.Close()
		if retErr != nil || appErr != nil {
			t.Fatalf("round %d: retention: %v; append: %v", i, retErr, appErr)
		}
	}
}

// TestOpenWithTunesThePool: the pool a cluster node shares among its
// stores carries the node's application_name and the asked MaxConns;
// without options it has at least DefaultMaxConns and runs in UTC.
func TestOpenWithTunesThePool(t *testing.T) {
	ctx := context.Background()
	dsn, err := pg.CreateDatabase(fmt.Sprint("t", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := postgres.OpenWith(ctx, dsn, postgres.Options{MaxConns: 5, ApplicationName: "tollgate-n1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Pool().Config().MaxConns; got != 5 {
		t.Errorf("MaxConns = %d, want 5", got)
	}
	var app, tz string
	if err := s.Pool().QueryRow(ctx, `SELECT current_setting('application_name'), current_setting('TimeZone')`).Scan(&app, &tz); err != nil {
		t.Fatal(err)
	}
	if app != "tollgate-n1" || tz != "UTC" {
		t.Errorf("application_name, TimeZone = %q, %q; want tollgate-n1, UTC", app, tz)
	}
	s.Close()
	if err := s.Pool().Ping(ctx); err == nil {
		t.Error("the store's own pool is open after Close")
	}

	d, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.Pool().Config().MaxConns; got < postgres.DefaultMaxConns() || got < 8 {
		t.Errorf("default MaxConns = %d, want at least %d and 8", got, postgres.DefaultMaxConns())
	}
}
