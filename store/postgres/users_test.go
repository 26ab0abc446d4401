package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

// TestUsersSuite runs the auth conformance suite with two handles on one
// database as two nodes.
func TestUsersSuite(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) func() auth.Store {
		dsn := newDSN(t, "console")
		return func() auth.Store { return mustOnOwnPool(t, dsn, postgres.NewUsers) }
	})
}

// TestUsersMigrateConcurrentlyAndRefuseNewer: nodes starting at once
// bring the schema up exactly once; a newer schema than the binary knows is refused.
func TestUsersMigrateConcurrentlyAndRefuseNewer(t *testing.T) {
	dsn := newDSN(t, "console")
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := onOwnPool(t, dsn, postgres.NewUsers); err != nil {
				t.Error(err)
			}
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
	if n != 1 || v != postgres.UserSteps {
		t.Errorf("console_schema_version holds %d rows, version %d; want one row, %d", n, v, postgres.UserSteps)
	}
	if _, err := c.Exec(ctx, `UPDATE console_schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := onOwnPool(t, dsn, postgres.NewUsers); err == nil {
		t.Error("NewUsers accepted a newer schema version")
	}
}
