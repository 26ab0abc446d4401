package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
)

// newDSN makes an empty database named prefix<N> and returns its DSN.
func newDSN(t *testing.T, prefix string) string {
	dsn, err := pg.CreateDatabase(fmt.Sprint(prefix, dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// onOwnPool connects a pool of its own to dsn (closed when the test ends)
// and builds a domain store on it with newStore, as one node would.
func onOwnPool[T any](t *testing.T, dsn string, newStore func(context.Context, *pgxpool.Pool) (T, error)) (T, error) {
	ctx := context.Background()
	pool, err := pgschema.Connect(ctx, "test", dsn, nil)
	if err != nil {
		var zero T
		return zero, err
	}
	t.Cleanup(pool.Close)
	return newStore(ctx, pool)
}

// mustOnOwnPool is onOwnPool failing the test on an error.
func mustOnOwnPool[T any](t *testing.T, dsn string, newStore func(context.Context, *pgxpool.Pool) (T, error)) T {
	s, err := onOwnPool(t, dsn, newStore)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
