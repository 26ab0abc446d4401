package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/reputation/internal/storetest"
)

var (
	pg  *testenv.Postgres
	dbs atomic.Int64
)

// TestMain starts the PostgreSQL every test shares (one fresh database
// per test). Without PostgreSQL the tests fail; they are not skipped.
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

func freshDSN(t *testing.T) string {
	t.Helper()
	dsn, err := pg.CreateDatabase(fmt.Sprint("rep", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// TestStore runs the reputation store conformance suite on a fresh
// database; every handle is another connection pool, as another node
// holds.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() storetest.DB {
		dsn := freshDSN(t)
		return func() storetest.DB {
			db, err := Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	})
}

// TestMigrate: nodes starting together bring the schema up once; a
// database from a newer tollgate is refused; a DSN that does not parse is
// not echoed (it may hold a password).
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	dsn := freshDSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(ctx, dsn)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n, v int
	if err := c.QueryRow(ctx, `SELECT count(*), max(version) FROM reputation_schema_version`).Scan(&n, &v); err != nil || n != 1 || v != len(migrations) {
		t.Fatalf("schema version rows = %d, version %d, %v", n, v, err)
	}
	if _, err := c.Exec(ctx, `UPDATE reputation_schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		if db != nil {
			db.Close()
		}
		t.Fatalf("opening a newer schema: %v", err)
	}
	if _, err := Open(ctx, "postgres://u:s3cret@[bad"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad DSN: %v", err)
	}
}
