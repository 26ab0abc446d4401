package postgres_test

import (
	"testing"

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
