package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/tollgate-voip/tollgate/reputation"
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

// TestUpgradeFromVersion1: a database made by a tollgate without the
// version row (schema 1) gets it on open, and writes move it.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tollgate.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, q := range []string{`DROP TABLE reputation_version`, `UPDATE reputation_schema SET version = 1`} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if db, err = Open(path); err != nil {
		t.Fatalf("opening a schema-1 database: %v", err)
	}
	defer db.Close()
	if v, err := db.Version(ctx); err != nil || v != 0 {
		t.Fatalf("version after the upgrade = %d, %v", v, err)
	}
	if _, err := db.Upsert(ctx, reputation.Entry{Kind: "number", Value: "+4420", Source: "manual"}); err != nil {
		t.Fatal(err)
	}
	if v, err := db.Version(ctx); err != nil || v != 1 {
		t.Fatalf("version after a write = %d, %v", v, err)
	}
}
