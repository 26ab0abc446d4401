// Package sqlite implements store.Store on a single SQLite file in WAL mode.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ store.Store = (*Store)(nil)

// busyTimeout is how long a statement waits for another connection or
// process to release its lock before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Query limits shared by the list methods.
const (
	defaultLimit = 100
	maxLimit     = 10000
)

// Store is a store.Store backed by one SQLite database file. It is safe for
// concurrent use, and several processes may open the same file.
type Store struct {
	// w holds the single connection this process writes through, so that
	// writers in one process queue in Go instead of spinning on the file lock.
	w *sql.DB
	// r serves reads; in WAL mode they never wait for the writer.
	r *sql.DB
}

// Open opens the database at path, creating it and its parent directory if
// missing, and brings its schema up to date.
func Open(path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	dsn := dataSourceName(abs)

	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	r.SetMaxIdleConns(4)

	s := &Store{w: w, r: r}
	if err := s.init(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	return s, nil
}

// dataSourceName builds the driver DSN for the absolute path abs. Every
// connection gets the same settings: WAL, synchronous=FULL so that an
// acknowledged commit survives a power cut, a busy timeout for lock waits
// between processes, foreign keys on, and BEGIN IMMEDIATE for transactions
// so that a read-then-write transaction never fails to upgrade its lock.
func dataSourceName(abs string) string {
	u := url.URL{Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "cache_size(-16384)") // 16 MiB: keeps index pages of a large batch in memory
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// init checks the connection settings and applies pending migrations.
func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	return migrate(ctx, s.w)
}

// Close closes the database. Pending writes have already been committed.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// invalid wraps store.ErrInvalid with a message.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", store.ErrInvalid, fmt.Sprintf(format, args...))
}

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

// checkJSON reports whether raw is empty or valid JSON.
func checkJSON(field string, raw json.RawMessage) error {
	if len(raw) == 0 || json.Valid(raw) {
		return nil
	}
	return invalid("%s is not valid JSON", field)
}

// nullJSON converts raw for storage; empty becomes NULL.
func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// limit applies the default and the maximum to a requested row limit.
func limit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}

// rollback ends tx after a failure; its own error adds nothing.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
