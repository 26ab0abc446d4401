package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// TestUsersBorrowsPool: NewUsers on a pool the caller owns migrates the
// tables and works; closing the store leaves that pool usable.
func TestUsersBorrowsPool(t *testing.T) {
	ctx := context.Background()
	dsn := newDSN(t, "console")
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.NewUsers(ctx, nil); err == nil {
		t.Error("New with a nil pool succeeded")
	}
	s, err := postgres.NewUsers(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	if err := s.AddUser(ctx, auth.User{Name: "alice", Role: auth.RoleOperator, PasswordHash: "h", Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
	if u, err := s.User(ctx, "alice"); err != nil || u.Name != "alice" {
		t.Fatalf("User on the borrowed pool = %+v, %v", u, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM console_users`).Scan(&n); err != nil {
		t.Fatalf("the borrowed pool after the store's Close: %v (Close closed a pool it does not own)", err)
	}
	if n != 1 {
		t.Errorf("users read through the pool = %d, want 1", n)
	}

}
