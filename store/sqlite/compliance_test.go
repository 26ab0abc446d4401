package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

// TestComplianceSuite runs the compliance conformance suite on one file opened twice, as
// two processes sharing a data directory would.
func TestComplianceSuite(t *testing.T) {
	storetest.RunCompliance(t, func(t *testing.T) func() compliance.Store {
		path := filepath.Join(t.TempDir(), "compliance.db")
		return func() compliance.Store {
			s, err := OpenCompliance(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}
