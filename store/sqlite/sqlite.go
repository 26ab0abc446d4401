// Package sqlite implements store.Store on a single SQLite file in WAL mode.
package sqlite

import (
	"database/sql"
	"encoding/json"
	"math"
	"time"

	"github.com/tollgate-voip/tollgate/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store backed by one SQLite database file. It is safe for
// concurrent use, and several processes may open the same file.
type Store struct{ file }

// recordsOptions: the records file sees batches of decisions; a 16 MiB
// page cache keeps the index pages of a large batch in memory.
var recordsOptions = fileOptions{cacheKiB: 16384}

// Open opens the database at path, creating it and its parent directory if
// missing, and brings its schema up to date.
func Open(path string) (*Store, error) {
	f, err := openFile("sqlite", path, recordsSchema, recordsOptions)
	if err != nil {
		return nil, err
	}
	return &Store{f}, nil
}

// invalid is store.Invalidf.
var invalid = store.Invalidf

// Times are stored as integer nanoseconds since the Unix epoch, UTC; the zero
// time is stored as NULL. That covers the years 1678 to 2262 exactly.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// checkTime reports whether t can be stored without loss.
func checkTime(field string, t time.Time) error {
	if t.IsZero() || (!t.Before(minTime) && !t.After(maxTime)) {
		return nil
	}
	return invalid("%s %s out of range", field, t.Format(time.RFC3339))
}

// nanos converts t for storage; the zero time becomes NULL.
func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNanos is the inverse of nanos.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// utcNow is the time stamped on records that arrive without one.
func utcNow() time.Time { return time.Now().UTC().Round(0) }

// orNow returns t in UTC without a monotonic reading, or now when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return utcNow()
	}
	return t.UTC().Round(0)
}

// nullJSON converts raw for storage; empty becomes NULL.
func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}
