package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/compliance/compliancetest"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

func complianceDSN(t *testing.T) string {
	dsn, err := pg.CreateDatabase(fmt.Sprint("compliance", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// openCompliance opens the store on a pool of its own, as one node would.
func openCompliance(t *testing.T, dsn string) *postgres.Compliance {
	s, err := tryCompliance(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tryCompliance connects a pool to dsn and builds the store on it; the
// pool closes when the test ends.
func tryCompliance(t *testing.T, dsn string) (*postgres.Compliance, error) {
	ctx := context.Background()
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(pool.Close)
	return postgres.NewCompliance(ctx, pool)
}

// TestComplianceSuite runs the compliance conformance suite with two
// handles on one database as two nodes.
func TestComplianceSuite(t *testing.T) {
	compliancetest.Run(t, func(t *testing.T) func() compliance.Store {
		dsn := complianceDSN(t)
		return func() compliance.Store { return openCompliance(t, dsn) }
	})
}

// TestComplianceMigrateConcurrently: several nodes starting at once
// bring the schema up exactly once, and the tables live beside the other
// stores' (their own version table, prefixed names).
func TestComplianceMigrateConcurrently(t *testing.T) {
	dsn := complianceDSN(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := tryCompliance(t, dsn); err != nil {
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
	if err := c.QueryRow(ctx, `SELECT count(*), max(version) FROM compliance_schema_version`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != 1 || v != postgres.ComplianceSteps {
		t.Errorf("compliance_schema_version holds %d rows, version %d; want one row, %d", n, v, postgres.ComplianceSteps)
	}
	// A newer schema than the binary knows is refused, not used.
	if _, err := c.Exec(ctx, `UPDATE compliance_schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := tryCompliance(t, dsn); err == nil {
		t.Error("NewCompliance accepted a newer schema version")
	}
}
