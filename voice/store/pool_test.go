package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
)

// TestNewPostgresBorrowsPool: NewPostgres on a pool the caller owns
// migrates the tables and works; closing the store leaves that pool
// usable; a store from OpenPostgres still closes the pool it opened.
func TestNewPostgresBorrowsPool(t *testing.T) {
	ctx := context.Background()
	dsn, err := pg.CreateDatabase(fmt.Sprint("voice", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := NewPostgres(ctx, nil, keys(t, 1)); err == nil {
		t.Error("NewPostgres with a nil pool succeeded")
	}
	if _, err := NewPostgres(ctx, pool, nil); err == nil {
		t.Error("NewPostgres without keys succeeded")
	}
	s, err := NewPostgres(ctx, pool, keys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0).UTC()
	if err := s.PutSubject(ctx, Subject{Tenant: "acme", ID: "acct-1", Kind: KindCustomer, Model: "m", Created: now, Updated: now, Print: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if sub, err := s.GetSubject(ctx, "acme", "acct-1"); err != nil || string(sub.Print) != "p" {
		t.Fatalf("GetSubject on the borrowed pool = %+v, %v", sub, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM voice_subjects`).Scan(&n); err != nil {
		t.Fatalf("the borrowed pool after the store's Close: %v (Close closed a pool it does not own)", err)
	}
	if n != 1 {
		t.Errorf("subjects read through the pool = %d, want 1", n)
	}

	own, err := OpenPostgres(ctx, dsn, keys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	own.Close()
	if err := own.pool.Ping(ctx); err == nil {
		t.Error("a store from OpenPostgres left its own pool open after Close")
	}
}
