package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
)

var _ auth.Store = (*Users)(nil)

// migrations holds the schema, one step per version; steps are only ever
// appended. The version lives in its own table so these tables can share
// a database with the other stores.
var userMigrations = []string{
	// 1: initial schema.
	`
CREATE TABLE console_users (
	name         text PRIMARY KEY,
	role         text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
	tenant       text NOT NULL DEFAULT '',
	password     text NOT NULL,
	totp_secret  bytea,
	totp_last    bigint NOT NULL DEFAULT 0,
	failed       integer NOT NULL DEFAULT 0,
	locked_until bigint NOT NULL DEFAULT 0,
	created      bigint NOT NULL,
	updated      bigint NOT NULL
);
CREATE TABLE console_sessions (
	id        text PRIMARY KEY,
	user_name text NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
	csrf      text NOT NULL,
	created   bigint NOT NULL,
	last_seen bigint NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_name);
`,
	// 2: attempts reserved before hashing, lock back-off, per-source limit.
	`
ALTER TABLE console_users ADD COLUMN locks integer NOT NULL DEFAULT 0;
ALTER TABLE console_users ADD COLUMN attempt_at bigint NOT NULL DEFAULT 0;
CREATE TABLE console_login_sources (
	source text PRIMARY KEY,
	failed integer NOT NULL,
	since  bigint NOT NULL
);
`,
}

// Users keeps console users and sessions in the cluster's
// PostgreSQL database, so a user added on one node logs in on any and a
// session survives the load balancer switching nodes. It behaves as
// sqlite.Users does: the same columns (password hashes as given,
// TOTP secrets stored as given, exactly as the SQLite file keeps them),
// times as Unix nanoseconds, and the failure counter and TOTP step
// changed in single UPDATE statements, which PostgreSQL applies to the
// latest row version under its row lock, so two nodes counting at once
// lose no increment and cannot both accept one code.
type Users struct {
	pool *pgxpool.Pool
}

// NewUsers builds the store on pool, which the caller keeps: Close leaves
// it open (a cluster node shares one pool among its stores). It brings
// the console tables up to date; several nodes may do so at once.
func NewUsers(ctx context.Context, pool *pgxpool.Pool) (*Users, error) {
	if err := onPool(ctx, "console db", pool, userSchema); err != nil {
		return nil, err
	}
	return &Users{pool: pool}, nil
}

// userSchema is this store's tables and their version record.
var userSchema = pgschema.Schema{Name: "console", VersionTable: "console_schema_version", Lock: pgschema.LockConsole, Steps: userMigrations}

// Close does nothing: the pool belongs to the caller.
func (s *Users) Close() error { return nil }

// zeroNanos is t in Unix nanoseconds, 0 for the zero time.
func zeroNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromZeroNanos is the inverse of zeroNanos.
func fromZeroNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

const userCols = `name, role, tenant, password, totp_secret, totp_last, failed, locked_until, created, updated, locks`

func userArgs(u auth.User) []any {
	var secret []byte
	if len(u.TOTPSecret) > 0 {
		secret = u.TOTPSecret
	}
	return []any{u.Name, string(u.Role), u.Tenant, u.PasswordHash, secret, u.TOTPLast, u.Failed, zeroNanos(u.LockedUntil), zeroNanos(u.Created), zeroNanos(u.Updated), u.Locks}
}

// AddUser implements auth.Store.
func (s *Users) AddUser(ctx context.Context, u auth.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO console_users (`+userCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`, userArgs(u)...)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: user %q", auth.ErrExists, u.Name)
	}
	return err
}

// PutUser implements auth.Store.
func (s *Users) PutUser(ctx context.Context, u auth.User) error {
	tag, err := s.pool.Exec(ctx, `UPDATE console_users SET role=$2, tenant=$3, password=$4, totp_secret=$5, totp_last=$6, failed=$7, locked_until=$8, created=$9, updated=$10, locks=$11
		WHERE name=$1`, userArgs(u)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: user %q", auth.ErrNotFound, u.Name)
	}
	return nil
}

func scanUser(row pgx.Row) (auth.User, error) {
	var u auth.User
	var role string
	var locked, created, updated int64
	if err := row.Scan(&u.Name, &role, &u.Tenant, &u.PasswordHash, &u.TOTPSecret, &u.TOTPLast, &u.Failed, &locked, &created, &updated, &u.Locks); err != nil {
		return u, err
	}
	u.Role, u.LockedUntil, u.Created, u.Updated = auth.Role(role), fromZeroNanos(locked), fromZeroNanos(created), fromZeroNanos(updated)
	return u, nil
}

// User implements auth.Store.
func (s *Users) User(ctx context.Context, name string) (auth.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM console_users WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	return u, err
}

// Users implements auth.Store.
func (s *Users) Users(ctx context.Context) ([]auth.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM console_users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.User, error) { return scanUser(r) })
}

// DeleteUser implements auth.Store; the user's sessions go with them.
func (s *Users) DeleteUser(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM console_users WHERE name = $1`, name)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	return nil
}

// LoginAttempt implements auth.Store in one statement: the UPDATE takes
// the row lock and re-evaluates its WHERE on the latest row version, so
// the check and the count cannot be split by a login on another node.
func (s *Users) LoginAttempt(ctx context.Context, name string, now time.Time, max int, stale time.Duration) (bool, error) {
	// Afresh: a lock that has run out, or max attempts never settled.
	const afresh = `(locked_until > 0 AND locked_until <= $2) OR (failed >= $3 AND attempt_at <= $4)`
	tag, err := s.pool.Exec(ctx, `UPDATE console_users SET
		failed = CASE WHEN `+afresh+` THEN 1 ELSE failed + 1 END,
		locked_until = 0, attempt_at = $2
		WHERE name = $1 AND locked_until <= $2 AND (failed < $3 OR `+afresh+`)`,
		name, now.UnixNano(), max, now.Add(-stale).UnixNano())
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	_, err = s.User(ctx, name)
	return false, err
}

// LoginFailed implements auth.Store: only the failure that finds the
// count at max and no lock active sets the lock.
func (s *Users) LoginFailed(ctx context.Context, name string, now time.Time, max int, lock, maxLock time.Duration) (int, time.Time, bool, error) {
	if maxLock < lock {
		maxLock = lock
	}
	tag, err := s.pool.Exec(ctx, `UPDATE console_users SET
		locked_until = $2::bigint + LEAST($3::bigint << LEAST(locks, $4::integer), $5::bigint), locks = locks + 1
		WHERE name = $1 AND failed >= $6 AND locked_until <= $2::bigint`,
		name, now.UnixNano(), int64(lock), auth.LockShift(lock, maxLock), int64(maxLock), max)
	if err != nil {
		return 0, time.Time{}, false, err
	}
	u, err := s.User(ctx, name)
	if err != nil {
		return 0, time.Time{}, false, err
	}
	return u.Failed, u.LockedUntil, tag.RowsAffected() == 1, nil
}

// LoginOK implements auth.Store; the step comparison and the lock check
// are in the UPDATE's WHERE, re-checked on the latest row version, so a
// code cannot be used twice even by two nodes at once, and a lock set
// meanwhile stands (locked_until is zeroed only when already past).
func (s *Users) LoginOK(ctx context.Context, name string, step int64, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE console_users SET failed = 0, locks = 0, locked_until = 0,
		totp_last = CASE WHEN $2::bigint > 0 THEN $2::bigint ELSE totp_last END
		WHERE name = $1 AND locked_until <= $3 AND ($2::bigint = 0 OR totp_last < $2::bigint)`, name, step, now.UnixNano())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// SourceAttempt implements auth.Store in one upsert.
func (s *Users) SourceAttempt(ctx context.Context, source string, now time.Time, window time.Duration, max int) (int, bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, `INSERT INTO console_login_sources AS l (source, failed, since) VALUES ($1, 1, $2)
		ON CONFLICT (source) DO UPDATE SET
			failed = CASE WHEN l.since <= $3 THEN 1 ELSE l.failed + 1 END,
			since = CASE WHEN l.since <= $3 THEN $2 ELSE l.since END
		WHERE l.since <= $3 OR l.failed < $4
		RETURNING failed`, source, now.UnixNano(), now.Add(-window).UnixNano(), max).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return max, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return n, true, nil
}

// SourceOK implements auth.Store.
func (s *Users) SourceOK(ctx context.Context, source string) error {
	_, err := s.pool.Exec(ctx, `UPDATE console_login_sources SET failed = GREATEST(failed - 1, 0) WHERE source = $1`, source)
	return err
}

// AddSession implements auth.Store; a session of an unknown user is
// refused (foreign key).
func (s *Users) AddSession(ctx context.Context, x auth.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (id, user_name, csrf, created, last_seen) VALUES ($1,$2,$3,$4,$5)`,
		x.ID, x.User, x.CSRF, zeroNanos(x.Created), zeroNanos(x.LastSeen))
	return err
}

// Session implements auth.Store.
func (s *Users) Session(ctx context.Context, id string) (auth.Session, error) {
	var x auth.Session
	var created, seen int64
	err := s.pool.QueryRow(ctx, `SELECT id, user_name, csrf, created, last_seen FROM console_sessions WHERE id = $1`, id).Scan(&x.ID, &x.User, &x.CSRF, &created, &seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return x, auth.ErrNotFound
	}
	x.Created, x.LastSeen = fromZeroNanos(created), fromZeroNanos(seen)
	return x, err
}

// TouchSession implements auth.Store.
func (s *Users) TouchSession(ctx context.Context, id string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE console_sessions SET last_seen = $2 WHERE id = $1`, id, zeroNanos(now))
	return err
}

// DeleteSession implements auth.Store.
func (s *Users) DeleteSession(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE id = $1`, id)
	return err
}

// DeleteSessions implements auth.Store.
func (s *Users) DeleteSessions(ctx context.Context, user string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE user_name = $1`, user)
	return err
}

// PruneSessions implements auth.Store.
func (s *Users) PruneSessions(ctx context.Context, idle, absolute time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE last_seen < $1 OR created < $2`, zeroNanos(idle), zeroNanos(absolute)); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM console_login_sources WHERE since < $1`, zeroNanos(idle))
	return err
}
