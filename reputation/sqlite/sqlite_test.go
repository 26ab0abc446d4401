package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/tollgate-voip/tollgate/reputation/internal/storetest"
)

// TestStore runs the reputation store conformance suite on a file in a
// fresh directory; every handle is another connection to that file.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() storetest.DB {
		path := filepath.Join(t.TempDir(), "tollgate.db")
		return func() storetest.DB {
			db, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	})
}
