package postgres_test

import (
	"context"
	"testing"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// TestComplianceBorrowsPool: NewCompliance on a pool the caller owns
// migrates the tables and works; closing the store leaves that pool
// usable.
func TestComplianceBorrowsPool(t *testing.T) {
	ctx := context.Background()
	dsn := newDSN(t, "compliance")
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.NewCompliance(ctx, nil); err == nil {
		t.Error("NewCompliance with a nil pool succeeded")
	}
	s, err := postgres.NewCompliance(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddOptOut(ctx, compliance.OptOut{Tenant: "acme", Number: "+13125550777", Source: "test"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.OptOuts(ctx); err != nil || len(got) != 1 {
		t.Fatalf("OptOuts on the borrowed pool = %v, %v; want the one added", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM compliance_opt_outs`).Scan(&n); err != nil {
		t.Fatalf("the borrowed pool after the store's Close: %v (Close closed a pool it does not own)", err)
	}
	if n != 1 {
		t.Errorf("opt-outs read through the pool = %d, want 1", n)
	}
	// A second store on the same pool (migration already done) works too.
	s2, err := postgres.NewCompliance(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s2.Version(ctx); err != nil || v == 0 {
		t.Errorf("Version on a second borrower = %d, %v; want the raised version", v, err)
	}
	s2.Close()

}
