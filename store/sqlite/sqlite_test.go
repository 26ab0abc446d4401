package sqlite_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

var ctx = context.Background()

// t0 is a fixed event time with nanoseconds, in a zone other than UTC, so
// that round trips are checked for precision and normalisation.
var t0 = time.Date(2026, 11, 23, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))

// dbPath returns a fresh database path under t.TempDir(), or under
// $TOLLGATE_BENCH_DIR when set, so benchmarks can separate CPU cost from
// the disk's fsync latency (for example with TOLLGATE_BENCH_DIR=/dev/shm).
func dbPath(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("TOLLGATE_BENCH_DIR"); base != "" {
		var err error
		if dir, err = os.MkdirTemp(base, "tollgate-bench-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return filepath.Join(dir, "tollgate.db")
}

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) *sqlite.Store {
	t.Helper()
	return open(t, dbPath(t))
}

// raw opens the file without the store, as an operator or attacker would.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v in UTC", what, got, want)
	}
}

func TestOpenCreatesDirectoryAndSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "tollgate.db")
	s := open(t, path)
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	db := raw(t, path)
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var version int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 1 {
		t.Errorf("schema version = %d, want >= 1", version)
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if s, err := sqlite.Open(p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want error", p)
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #dir%20", "t.db")
	s := open(t, path)
	if _, err := s.AddBlock(ctx, store.Block{Kind: store.BlockNumber, Value: "+4930123"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	u := url.URL{Path: path}
	if got := count(t, raw(t, "file:"+u.EscapedPath()), "blocks"); got != 1 {
		t.Errorf("blocks in %s = %d, want 1", path, got)
	}
}

func TestMigrationIsIdempotent(t *testing.T) {
	path := dbPath(t)
	for i := range 3 {
		s, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "test", Action: "open"}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	db := raw(t, path)
	if n := count(t, db, "schema_version"); n != 1 {
		t.Errorf("schema_version rows = %d, want 1", n)
	}
	if n := count(t, db, "audit"); n != 3 {
		t.Errorf("audit rows = %d, want 3", n)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := dbPath(t)
	s := open(t, path)
	s.Close()
	if _, err := raw(t, path).Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a version 999 database: err = %v, want a newer-schema error", err)
	}
}

func TestRestartKeepsState(t *testing.T) {
	path := dbPath(t)
	s := open(t, path)
	b, err := s.AddBlock(ctx, store.Block{Kind: store.BlockPrefix, Value: "882", Reason: "irsf", Created: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetKillSwitch(ctx, store.KillSwitch{Tenant: "*", Active: true, By: "ops", Since: t0}); err != nil {
		t.Fatal(err)
	}
	a, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: "ops", Action: "killswitch.set", Object: "*"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	blocks, err := s.ListBlocks(ctx, t0)
	if err != nil || len(blocks) != 1 || blocks[0] != b {
		t.Errorf("after restart ListBlocks = %+v, %v; want [%+v]", blocks, err, b)
	}
	ks, err := s.KillSwitches(ctx)
	if err != nil || len(ks) != 1 || !ks[0].Active || ks[0].Tenant != "*" {
		t.Errorf("after restart KillSwitches = %+v, %v", ks, err)
	}
	entries, err := s.ListAudit(ctx, time.Time{}, 0)
	if err != nil || len(entries) != 1 || entries[0].Hash != a.Hash {
		t.Errorf("after restart ListAudit = %+v, %v; want hash %s", entries, err, a.Hash)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}
