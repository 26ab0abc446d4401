package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

// TestComplianceSuite runs the compliance conformance suite with two
// handles on one database as two nodes.
func TestComplianceSuite(t *testing.T) {
	storetest.RunCompliance(t, func(t *testing.T) func() compliance.Store {
		dsn := newDSN(t, "compliance")
		return func() compliance.Store { return mustOnOwnPool(t, dsn, postgres.NewCompliance) }
	})
}

// TestComplianceMigrateConcurrently: several nodes starting at once
// bring the schema up exactly once, and the tables live beside the other
// stores' (their own version table, prefixed names).
func TestComplianceMigrateConcurrently(t *testing.T) {
	dsn := newDSN(t, "compliance")
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := onOwnPool(t, dsn, postgres.NewCompliance); err != nil {
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
	if _, err := onOwnPool(t, dsn, postgres.NewCompliance); err == nil {
		t.Error("NewCompliance accepted a newer schema version")
	}
}
