// Package pgschema is what tollgate's PostgreSQL stores share: opening a
// connection pool without ever echoing the connection string (it may hold
// a password) and bringing one store's tables up to date when several
// nodes start at once.
package pgschema

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Advisory lock keys taken while a store migrates (arbitrary, fixed, one
// per store so that stores sharing a database never wait for each other).
const (
	LockRecords    = 7_161_501 // store/postgres.Store
	LockVoice      = 7_161_601 // store/postgres.Voice
	LockCompliance = 7_161_701 // store/postgres.Compliance
	LockConsole    = 7_161_702 // store/postgres.Users
	LockReputation = 7_161_703 // store/postgres.Reputation
)

// Connect parses dsn (a postgres:// URL or a key=value string), lets tune
// adjust the pool's configuration when it is not nil, and connects. Errors
// start with who and never contain the connection string.
func Connect(ctx context.Context, who, dsn string, tune func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New(who + ": the PostgreSQL connection string does not parse")
	}
	if tune != nil {
		tune(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", who, err)
	}
	return pool, nil
}

// Schema is one store's tables: the steps that build them, in order and
// only ever appended to, and the table that records how many have run.
type Schema struct {
	Name         string // in errors: "voice schema version 3 …"
	VersionTable string
	// Lock is the advisory lock key held while migrating; zero derives
	// one from VersionTable (LockFor), so a new store needs no constant
	// here.
	Lock  int64
	Steps []string
}

// LockFor is the advisory lock key of a schema whose Lock is zero: a
// hash of its version table's name, apart from the fixed keys above
// (which are all below 2^24).
func LockFor(versionTable string) int64 {
	h := fnv.New64a()
	h.Write([]byte(versionTable))
	return int64(h.Sum64()>>1) | 1<<40
}

// Migrate applies the steps the database lacks in one transaction, under
// the schema's advisory lock so that nodes starting together migrate one
// at a time. A database from a newer tollgate (more steps than this
// binary knows) is refused rather than written to.
//
// Under a context from WhenDown, a database that cannot be reached is not
// an error: Migrate returns nil at once and migrates in the background,
// trying again every RetryEvery until the database answers (a serving
// node that starts while PostgreSQL is down; its writes fail, and are
// spooled, until then).
func (s Schema) Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return Later(ctx, s.Name, func(ctx context.Context) error { return s.migrate(ctx, pool) })
}

// Later runs set (a store's set-up: tables made or migrated) and returns
// its error; under a context from WhenDown, a database that cannot be
// reached is not an error: set runs again in the background every
// RetryEvery until the database answers (or fails otherwise, logged).
func Later(ctx context.Context, what string, set func(context.Context) error) error {
	err := set(ctx)
	if w, ok := ctx.Value(whenDownKey{}).(*whenDown); ok && Unreachable(err) {
		w.log.Warn("PostgreSQL unreachable: starting without it; the schema is brought up to date once it answers", "schema", what, "err", err)
		go retry(what, set, w.log)
		return nil
	}
	return err
}

type whenDownKey struct{}

type whenDown struct{ log *slog.Logger }

// WhenDown returns a context under which Migrate starts without an
// unreachable database (see Migrate), logging to log.
func WhenDown(ctx context.Context, log *slog.Logger) context.Context {
	if log == nil {
		log = slog.Default()
	}
	return context.WithValue(ctx, whenDownKey{}, &whenDown{log: log})
}

// RetryEvery is how often a deferred migration tries again.
const RetryEvery = time.Second

// Unreachable tells whether err is a failure to reach the database (no
// connection could be made), as opposed to one it answered with.
func Unreachable(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// retry migrates once the database answers. It gives up on any other
// error (a closed pool among them), which it logs.
func retry(what string, set func(context.Context) error, log *slog.Logger) {
	for {
		time.Sleep(RetryEvery)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := set(ctx)
		cancel()
		switch {
		case err == nil:
			log.Info("PostgreSQL answers: schema up to date", "schema", what)
			return
		case !Unreachable(err):
			log.Error("PostgreSQL: bringing the schema up to date", "schema", what, "err", err)
			return
		}
	}
}

func (s Schema) migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		lock := s.Lock
		if lock == 0 {
			lock = LockFor(s.VersionTable)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.VersionTable+` (version integer NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+s.VersionTable).Scan(&have); err != nil {
			return err
		}
		latest := len(s.Steps)
		switch {
		case have > latest:
			return fmt.Errorf("%s schema version %d is newer than this binary supports (%d); upgrade tollgate", s.Name, have, latest)
		case have == latest:
			return nil
		}
		for v := have; v < latest; v++ {
			if _, err := tx.Exec(ctx, s.Steps[v]); err != nil {
				return fmt.Errorf("migrate to %s schema version %d: %w", s.Name, v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+s.VersionTable); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+s.VersionTable+` (version) VALUES ($1)`, latest)
		return err
	})
}
