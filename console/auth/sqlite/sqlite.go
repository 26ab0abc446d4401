// Package sqlite keeps console users and sessions in their own SQLite file
// (DATA/console.db), beside tollgate's main database, with its own schema
// version table.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ auth.Store = (*Store)(nil)

// Store is an auth.Store on one SQLite file; several processes may share it.
type Store struct{ db *sql.DB }

var migrations = []string{`
CREATE TABLE users (
	name         TEXT PRIMARY KEY,
	role         TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
	tenant       TEXT NOT NULL DEFAULT '',
	password     TEXT NOT NULL,
	totp_secret  BLOB,
	totp_last    INTEGER NOT NULL DEFAULT 0,
	failed       INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL
);
CREATE TABLE sessions (
	id        TEXT PRIMARY KEY,
	user      TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	csrf      TEXT NOT NULL,
	created   INTEGER NOT NULL,
	last_seen INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user);
`}

// Open opens (creating if needed) the console database at path.
func Open(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("console db: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("console db: %w", err)
	}
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("console db: %w", err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("console db %s: %w", path, err)
	}
	// The file holds TOTP secrets: owner only.
	if err := os.Chmod(abs, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("console db: %w", err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS console_schema (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM console_schema`).Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary's %d", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM console_schema; INSERT INTO console_schema VALUES (?)`, v); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

const userCols = `name, role, tenant, password, totp_secret, totp_last, failed, locked_until, created, updated`

func userArgs(u auth.User) []any {
	var secret any
	if len(u.TOTPSecret) > 0 {
		secret = u.TOTPSecret
	}
	return []any{u.Name, string(u.Role), u.Tenant, u.PasswordHash, secret, u.TOTPLast, u.Failed, ns(u.LockedUntil), ns(u.Created), ns(u.Updated)}
}

// AddUser implements auth.Store.
func (s *Store) AddUser(ctx context.Context, u auth.User) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?,?,?,?,?,?,?,?,?,?)`, userArgs(u)...)
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return fmt.Errorf("%w: user %q", auth.ErrExists, u.Name)
	}
	return err
}

// PutUser implements auth.Store.
func (s *Store) PutUser(ctx context.Context, u auth.User) error {
	a := userArgs(u)
	res, err := s.db.ExecContext(ctx, `UPDATE users SET role=?, tenant=?, password=?, totp_secret=?, totp_last=?, failed=?, locked_until=?, created=?, updated=? WHERE name=?`, append(a[1:], a[0])...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: user %q", auth.ErrNotFound, u.Name)
	}
	return nil
}

type scanner interface{ Scan(...any) error }

func scanUser(sc scanner) (auth.User, error) {
	var u auth.User
	var role string
	var locked, created, updated int64
	if err := sc.Scan(&u.Name, &role, &u.Tenant, &u.PasswordHash, &u.TOTPSecret, &u.TOTPLast, &u.Failed, &locked, &created, &updated); err != nil {
		return u, err
	}
	u.Role, u.LockedUntil, u.Created, u.Updated = auth.Role(role), fromNS(locked), fromNS(created), fromNS(updated)
	return u, nil
}

// User implements auth.Store.
func (s *Store) User(ctx context.Context, name string) (auth.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	return u, err
}

// Users implements auth.Store.
func (s *Store) Users(ctx context.Context) ([]auth.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser implements auth.Store.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	return nil
}

// LoginFailed implements auth.Store in one statement, so concurrent
// failures on several nodes all count.
func (s *Store) LoginFailed(ctx context.Context, name string, now time.Time, max int, lock time.Duration) (int, time.Time, error) {
	var n int
	var until int64
	// A lock that has run out starts the count afresh.
	const count = `CASE WHEN locked_until > 0 AND locked_until <= :now THEN 1 ELSE failed + 1 END`
	err := s.db.QueryRowContext(ctx, `UPDATE users SET failed = `+count+`,
		locked_until = CASE WHEN `+count+` >= :max THEN :until
			WHEN locked_until <= :now THEN 0 ELSE locked_until END
		WHERE name = :name RETURNING failed, locked_until`,
		sql.Named("now", now.UnixNano()), sql.Named("max", max), sql.Named("until", now.Add(lock).UnixNano()), sql.Named("name", name)).Scan(&n, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	return n, fromNS(until), err
}

// LoginOK implements auth.Store; the step comparison is in the UPDATE so a
// code cannot be used twice even by two nodes at once.
func (s *Store) LoginOK(ctx context.Context, name string, step int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET failed = 0, locked_until = 0,
		totp_last = CASE WHEN ? > 0 THEN ? ELSE totp_last END
		WHERE name = ? AND (? = 0 OR totp_last < ?)`, step, step, name, step, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AddSession implements auth.Store.
func (s *Store) AddSession(ctx context.Context, x auth.Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id, user, csrf, created, last_seen) VALUES (?,?,?,?,?)`, x.ID, x.User, x.CSRF, ns(x.Created), ns(x.LastSeen))
	return err
}

// Session implements auth.Store.
func (s *Store) Session(ctx context.Context, id string) (auth.Session, error) {
	var x auth.Session
	var created, seen int64
	err := s.db.QueryRowContext(ctx, `SELECT id, user, csrf, created, last_seen FROM sessions WHERE id = ?`, id).Scan(&x.ID, &x.User, &x.CSRF, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return x, auth.ErrNotFound
	}
	x.Created, x.LastSeen = fromNS(created), fromNS(seen)
	return x, err
}

// TouchSession implements auth.Store.
func (s *Store) TouchSession(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen = ? WHERE id = ?`, ns(now), id)
	return err
}

// DeleteSession implements auth.Store.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return err
}

// DeleteSessions implements auth.Store.
func (s *Store) DeleteSessions(ctx context.Context, user string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, user)
	return err
}

// PruneSessions implements auth.Store.
func (s *Store) PruneSessions(ctx context.Context, idle, absolute time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE last_seen < ? OR created < ?`, ns(idle), ns(absolute))
	return err
}
