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

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/console/auth/authtest"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

var (
	pg  *testenv.Postgres
	dbs atomic.Int64
)

// TestMain starts the PostgreSQL every test shares (one fresh database
// per test).
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
	dsn, err := pg.CreateDatabase(fmt.Sprint("console", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// TestSuite runs the store conformance suite with two handles on one
// database as two nodes.
func TestSuite(t *testing.T) {
	authtest.Run(t, func(t *testing.T) func() auth.Store {
		dsn := freshDSN(t)
		return func() auth.Store {
			s, err := Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

// TestMigrateConcurrentlyAndRefuseNewer: nodes starting at once bring the
// schema up exactly once; a newer schema than the binary knows is refused.
func TestMigrateConcurrentlyAndRefuseNewer(t *testing.T) {
	dsn := freshDSN(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := Open(ctx, dsn)
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n, v int
	if err := c.QueryRow(ctx, `SELECT count(*), max(version) FROM console_schema_version`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != 1 || v != len(migrations) {
		t.Errorf("console_schema_version holds %d rows, version %d; want one row, %d", n, v, len(migrations))
	}
	if _, err := c.Exec(ctx, `UPDATE console_schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, dsn); err == nil {
		s.Close()
		t.Error("Open accepted a newer schema version")
	}
}

// TestBadDSNNotEchoed: a connection string that does not parse may hold
// a password, so the error must not repeat it.
func TestBadDSNNotEchoed(t *testing.T) {
	_, err := Open(context.Background(), "postgres://u:s3cret-pw@[::1")
	if err == nil {
		t.Fatal("Open accepted a malformed DSN")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error %q echoes the password", err)
	}
}
