package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
)

// onPool is how every domain store but the records one starts (NewX):
// on a pool its caller keeps (a cluster node shares one pool among its
// stores; the store's Close leaves it open), after bringing the domain's
// tables up to date, one node at a time. Errors start with who.
func onPool(ctx context.Context, who string, pool *pgxpool.Pool, sc pgschema.Schema) error {
	if pool == nil {
		return errors.New(who + ": no connection pool")
	}
	if err := sc.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	return nil
}
