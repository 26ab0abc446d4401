package pgschema

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-voip/tollgate/internal/testenv"
)

// TestMigrate runs against a real PostgreSQL: steps apply once and in
// order, a later binary's extra step applies alone, nodes migrating at
// once leave one version row, and a newer database is refused untouched.
func TestMigrate(t *testing.T) {
	pg, err := testenv.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	dsn, err := pg.CreateDatabase("pgschema")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool, err := Connect(ctx, "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	v1 := Schema{Name: "demo", VersionTable: "demo_version", Lock: 1, Steps: []string{
		`CREATE TABLE demo (n integer NOT NULL)`,
		`INSERT INTO demo VALUES (1)`,
	}}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = v1.Migrate(ctx, pool) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	count := func(q string) int {
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM demo`); n != 1 {
		t.Errorf("demo rows after four concurrent migrations = %d, want 1 (steps ran more than once)", n)
	}
	if n := count(`SELECT count(*) FROM demo_version`); n != 1 {
		t.Errorf("version rows = %d, want 1", n)
	}

	v2 := v1
	v2.Steps = append(append([]string(nil), v1.Steps...), `INSERT INTO demo VALUES (2)`)
	if err := v2.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM demo`); n != 2 {
		t.Errorf("demo rows after the third step = %d, want 2", n)
	}
	if n := count(`SELECT max(version) FROM demo_version`); n != 3 {
		t.Errorf("version = %d, want 3", n)
	}

	// The older binary meets the newer database: refused, nothing written.
	err = v1.Migrate(ctx, pool)
	if err == nil || !strings.Contains(err.Error(), "demo schema version 3 is newer") {
		t.Errorf("old binary on a newer database: err = %v, want a refusal naming the versions", err)
	}
	if n := count(`SELECT max(version) FROM demo_version`); n != 3 {
		t.Errorf("version after the refusal = %d, want 3", n)
	}

	// A failing step rolls the whole migration back.
	bad := v2
	bad.Steps = append(append([]string(nil), v2.Steps...), `INSERT INTO demo VALUES (3)`, `INSERT INTO nowhere VALUES (1)`)
	if err := bad.Migrate(ctx, pool); err == nil || !strings.Contains(err.Error(), "migrate to demo schema version 5") {
		t.Errorf("failing step: err = %v, want one naming version 5", err)
	}
	if n := count(`SELECT count(*) FROM demo`); n != 2 {
		t.Errorf("demo rows after a failed migration = %d, want 2 (step 4 not rolled back)", n)
	}
}

// TestConnectDoesNotEchoDSN: a connection string may hold a password.
func TestConnectDoesNotEchoDSN(t *testing.T) {
	_, err := Connect(context.Background(), "who", "postgres://u:s3cret@[::1/x", nil)
	if err == nil {
		t.Fatal("a malformed DSN connected")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), "who: ") {
		t.Errorf("error %q: want it to start with the caller's name and not contain the password", err)
	}
}

// TestLockFor: a derived lock key is stable, differs between version
// tables and never takes one of the fixed keys.
func TestLockFor(t *testing.T) {
	a, b := LockFor("actions_schema_version"), LockFor("other_schema_version")
	if a != LockFor("actions_schema_version") {
		t.Error("LockFor is not stable")
	}
	if a == b {
		t.Errorf("two version tables share lock %d", a)
	}
	for _, k := range []int64{a, b} {
		if k < 1<<40 {
			t.Errorf("derived lock %d is in the range of the fixed keys", k)
		}
	}
}
