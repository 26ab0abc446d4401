package storetest_test

import (
	"path/filepath"
	"testing"

	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
	"github.com/tollgate-voip/tollgate/store/storetest"
)

// TestSQLite runs the suite against store/sqlite, so both stores are held
// to the same behaviour.
func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() store.Store {
		path := filepath.Join(t.TempDir(), "t.db")
		return func() store.Store {
			s, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
