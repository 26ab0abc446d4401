package postgres_test

import (
	"testing"

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
