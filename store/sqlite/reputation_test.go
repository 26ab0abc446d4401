package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

// TestReputationSuite runs the reputation store conformance suite on a
// file in a fresh directory; every handle is another connection to that
// file.
func TestReputationSuite(t *testing.T) {
	storetest.RunReputation(t, func(t *testing.T) func() storetest.ReputationDB {
		path := filepath.Join(t.TempDir(), "tollgate.db")
		return func() storetest.ReputationDB {
			db, err := OpenReputation(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	})
}

// createReputationAt makes a database at path as a tollgate with
// reputation schema version n made it, running statements in it
// afterwards.
func createReputationAt(t *testing.T, path string, n int, stmts ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	qs := append([]string{`CREATE TABLE reputation_schema (version INTEGER NOT NULL)`}, reputationMigrations[:n]...)
	qs = append(qs, fmt.Sprintf(`INSERT INTO reputation_schema (version) VALUES (%d)`, n))
	for _, q := range append(qs, stmts...) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestReputationUpgradeFromVersion1: a database made by a tollgate
// without the version row (schema 1) gets it on open, and writes move it.
func TestReputationUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tollgate.db")
	createReputationAt(t, path, 1)
	ctx := t.Context()
	db, err := OpenReputation(path)
	if err != nil {
		t.Fatalf("opening a schema-1 database: %v", err)
	}
	defer db.Close()
	if v, err := db.Version(ctx); err != nil || v != 0 {
		t.Fatalf("version after the upgrade = %d, %v", v, err)
	}
	if _, err := db.Upsert(ctx, reputation.Entry{Kind: "number", Value: "+4420", Source: "manual"}); err != nil {
		t.Fatal(err)
	}
	if v, err := db.Version(ctx); err != nil || v != 1 {
		t.Fatalf("version after a write = %d, %v", v, err)
	}
}

// TestReputationUpgradeLearnedNumbersBecomeSuspected: numbers the
// honeypot learned before entries had a status (schema 2) were learned
// from one unproven datagram each; the upgrade makes them suspected and
// leaves operators' numbers and the honeypot's addresses confirmed.
func TestReputationUpgradeLearnedNumbersBecomeSuspected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tollgate.db")
	now := time.Now().UnixNano()
	ins := func(kind, value, source string) string {
		return fmt.Sprintf(`INSERT INTO reputation_entries (kind, value, source, reason, first_seen, last_seen, hits, score, expires)
			VALUES ('%s', '%s', '%s', 'old', %d, %d, 1, 90, NULL)`, kind, value, source, now, now)
	}
	createReputationAt(t, path, 2, ins("number", "+12125550199", "honeypot"), ins("number", "+882161234", "manual"), ins("ip", "192.0.2.7", "honeypot"))
	db, err := OpenReputation(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct{ kind, value, status string }{
		{"number", "+12125550199", reputation.StatusSuspected},
		{"number", "+882161234", reputation.StatusConfirmed},
		{"ip", "192.0.2.7", reputation.StatusConfirmed},
	} {
		e, err := db.Get(t.Context(), c.kind, c.value)
		if err != nil || e.Status != c.status || e.Evidence != nil {
			t.Errorf("%s %s after the upgrade: %+v, %v; want %s", c.kind, c.value, e, err, c.status)
		}
	}
}
