// Package postgres implements store.Store on PostgreSQL, for several
// tollgate nodes sharing one set of records: decisions and call events are
// written in batches with COPY, the audit chain is appended under an
// advisory lock so every node extends one chain, and decisions and the
// audit log are partitioned by time so retention drops whole partitions.
// Times are kept with microsecond precision (timestamptz).
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store on a PostgreSQL database. It is safe for
// concurrent use by any number of processes.
type Store struct {
	pool *pgxpool.Pool

	partMu sync.Mutex
	parts  map[string]bool
}

// querier is a pool, a connection or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Options tunes the connection pool Open makes.
type Options struct {
	// MaxConns bounds the pool. Zero means DefaultMaxConns(), or the
	// connection string's pool_max_conns when that is larger. In cluster
	// mode this one pool serves every PostgreSQL store of the node.
	MaxConns int32
	// ApplicationName is reported to PostgreSQL (pg_stat_activity) for
	// every connection of the pool; empty leaves the connection string's.
	ApplicationName string
}

// DefaultMaxConns is the pool size Open uses without Options.MaxConns:
// four connections per CPU core, at least eight.
func DefaultMaxConns() int32 { return int32(max(8, 4*runtime.NumCPU())) }

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string) and brings its schema up to date. The store owns the
// pool: Close closes it.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with the pool tuned by o.
func OpenWith(ctx context.Context, dsn string, o Options) (*Store, error) {
	pool, err := pgschema.Connect(ctx, "postgres", dsn, func(cfg *pgxpool.Config) {
		// Times come back in UTC and partition bounds read the same on every node.
		cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
		if o.ApplicationName != "" {
			cfg.ConnConfig.RuntimeParams["application_name"] = o.ApplicationName
		}
		switch {
		case o.MaxConns > 0:
			cfg.MaxConns = o.MaxConns
		case cfg.MaxConns < DefaultMaxConns():
			cfg.MaxConns = DefaultMaxConns()
		}
	})
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, parts: map[string]bool{}}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// Close closes the connection pool. Stores built on it (NewCompliance,
// NewUsers, NewActions, NewReputation, NewVoice) must be closed first.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Pool returns the connection pool, for the stores a cluster node builds
// on it (they borrow it; this store owns it) and for tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// invalid is store.Invalidf.
var invalid = store.Invalidf

// ts converts t for storage: microseconds (what timestamptz keeps), UTC;
// the zero time becomes NULL.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// fromTS is the inverse of ts.
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// timeRange is what timestamptz holds (4713 BC to 294276 AD); checkTime
// refuses times outside years 1 to 9999 so they round-trip through Go.
func checkTime(field string, t time.Time) error {
	if t.IsZero() || (t.Year() >= 1 && t.Year() <= 9999) {
		return nil
	}
	return invalid("%s %s out of range", field, t.Format(time.RFC3339))
}

func utcNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return utcNow()
	}
	return t.UTC().Truncate(time.Microsecond)
}

func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// noNUL refuses text PostgreSQL cannot store (SQLite can).
func noNUL(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return invalid("%s holds a NUL byte", field)
	}
	return nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
