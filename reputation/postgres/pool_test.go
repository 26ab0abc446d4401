package postgres

import (
	"context"
	"testing"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/reputation"
)

// TestNewBorrowsPool: New on a pool the caller owns migrates the tables
// and works; closing the database leaves that pool usable; a database
// from Open still closes the pool it opened.
func TestNewBorrowsPool(t *testing.T) {
	ctx := context.Background()
	dsn := freshDSN(t)
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := New(ctx, nil); err == nil {
		t.Error("New with a nil pool succeeded")
	}
	db, err := New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert(ctx, reputation.Entry{Kind: "number", Value: "+4930111", Hits: 1, Source: "manual"}); err != nil {
		t.Fatal(err)
	}
	if e, err := db.Get(ctx, "number", "+4930111"); err != nil || e.Hits != 1 {
		t.Fatalf("Get on the borrowed pool = %+v, %v", e, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM reputation_entries`).Scan(&n); err != nil {
		t.Fatalf("the borrowed pool after the database's Close: %v (Close closed a pool it does not own)", err)
	}
	if n != 1 {
		t.Errorf("entries read through the pool = %d, want 1", n)
	}

	own, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	own.Close()
	if err := own.pool.Ping(ctx); err == nil {
		t.Error("a database from Open left its own pool open after Close")
	}
}
