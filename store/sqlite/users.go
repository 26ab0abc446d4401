package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/console/auth"
)

var _ auth.Store = (*Users)(nil)

// Users keeps console users and sessions in their own SQLite file
// (DATA/console.db), beside tollgate's main database, with its own schema
// version table: an auth.Store; several processes may share the file.
type Users struct{ file }

var userMigrations = []string{`
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
`, `
ALTER TABLE users ADD COLUMN locks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN attempt_at INTEGER NOT NULL DEFAULT 0;
CREATE TABLE login_sources (
	source TEXT PRIMARY KEY,
	failed INTEGER NOT NULL,
	since  INTEGER NOT NULL
);
`}

// usersFile is console.db's tables.
var usersFile = schema{name: "console", versionTable: "console_schema", steps: userMigrations}

// OpenUsers opens (creating if needed) the console database at path. The
// file holds TOTP secrets: it is made readable by its owner only.
func OpenUsers(path string) (*Users, error) {
	f, err := openFile("console db", path, usersFile, fileOptions{private: true})
	if err != nil {
		return nil, err
	}
	return &Users{f}, nil
}

const userCols = `name, role, tenant, password, totp_secret, totp_last, failed, locked_until, created, updated, locks`

func userArgs(u auth.User) []any {
	var secret any
	if len(u.TOTPSecret) > 0 {
		secret = u.TOTPSecret
	}
	return []any{u.Name, string(u.Role), u.Tenant, u.PasswordHash, secret, u.TOTPLast, u.Failed, zeroNanos(u.LockedUntil), zeroNanos(u.Created), zeroNanos(u.Updated), u.Locks}
}

// AddUser implements auth.Store.
func (s *Users) AddUser(ctx context.Context, u auth.User) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`, userArgs(u)...)
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return fmt.Errorf("%w: user %q", auth.ErrExists, u.Name)
	}
	return err
}

// PutUser implements auth.Store.
func (s *Users) PutUser(ctx context.Context, u auth.User) error {
	a := userArgs(u)
	res, err := s.w.ExecContext(ctx, `UPDATE users SET role=?, tenant=?, password=?, totp_secret=?, totp_last=?, failed=?, locked_until=?, created=?, updated=?, locks=? WHERE name=?`, append(a[1:], a[0])...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: user %q", auth.ErrNotFound, u.Name)
	}
	return nil
}

func scanUser(sc scanner) (auth.User, error) {
	var u auth.User
	var role string
	var locked, created, updated int64
	if err := sc.Scan(&u.Name, &role, &u.Tenant, &u.PasswordHash, &u.TOTPSecret, &u.TOTPLast, &u.Failed, &locked, &created, &updated, &u.Locks); err != nil {
		return u, err
	}
	u.Role, u.LockedUntil, u.Created, u.Updated = auth.Role(role), fromZeroNanos(locked), fromZeroNanos(created), fromZeroNanos(updated)
	return u, nil
}

// User implements auth.Store.
func (s *Users) User(ctx context.Context, name string) (auth.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	return u, err
}

// Users implements auth.Store.
func (s *Users) Users(ctx context.Context) ([]auth.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
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
func (s *Users) DeleteUser(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	return nil
}

// LoginAttempt implements auth.Store in one statement: the check and the
// count cannot be split by another login, on this node or another.
func (s *Users) LoginAttempt(ctx context.Context, name string, now time.Time, max int, stale time.Duration) (bool, error) {
	// Afresh: a lock that has run out, or max attempts never settled.
	const afresh = `(locked_until > 0 AND locked_until <= :now) OR (failed >= :max AND attempt_at <= :stale)`
	res, err := s.w.ExecContext(ctx, `UPDATE users SET
		failed = CASE WHEN `+afresh+` THEN 1 ELSE failed + 1 END,
		locked_until = 0, attempt_at = :now
		WHERE name = :name AND locked_until <= :now AND (failed < :max OR `+afresh+`)`,
		sql.Named("now", now.UnixNano()), sql.Named("max", max), sql.Named("stale", now.Add(-stale).UnixNano()), sql.Named("name", name))
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	_, err = s.User(ctx, name)
	return false, err
}

// LoginFailed implements auth.Store: only the failure that finds the
// count at max and no lock active sets the lock.
func (s *Users) LoginFailed(ctx context.Context, name string, now time.Time, max int, lock, maxLock time.Duration) (int, time.Time, bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET
		locked_until = :now + MIN(:lock << MIN(locks, :shift), :maxlock), locks = locks + 1
		WHERE name = :name AND failed >= :max AND locked_until <= :now`,
		sql.Named("now", now.UnixNano()), sql.Named("lock", int64(lock)), sql.Named("shift", auth.LockShift(lock, maxLock)),
		sql.Named("maxlock", int64(max64(lock, maxLock))), sql.Named("name", name), sql.Named("max", max))
	if err != nil {
		return 0, time.Time{}, false, err
	}
	locked, _ := res.RowsAffected()
	u, err := s.User(ctx, name)
	if err != nil {
		return 0, time.Time{}, false, err
	}
	return u.Failed, u.LockedUntil, locked == 1, nil
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// LoginOK implements auth.Store; the step comparison and the lock check
// are in the UPDATE, so a code cannot be used twice even by two nodes at
// once, and a lock set meanwhile stands. (locked_until is zeroed only
// when it is already past.)
func (s *Users) LoginOK(ctx context.Context, name string, step int64, now time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET failed = 0, locks = 0, locked_until = 0,
		totp_last = CASE WHEN :step > 0 THEN :step ELSE totp_last END
		WHERE name = :name AND locked_until <= :now AND (:step = 0 OR totp_last < :step)`,
		sql.Named("step", step), sql.Named("name", name), sql.Named("now", now.UnixNano()))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SourceAttempt implements auth.Store in one upsert.
func (s *Users) SourceAttempt(ctx context.Context, source string, now time.Time, window time.Duration, max int) (int, bool, error) {
	var n int
	err := s.w.QueryRowContext(ctx, `INSERT INTO login_sources (source, failed, since) VALUES (:src, 1, :now)
		ON CONFLICT (source) DO UPDATE SET
			failed = CASE WHEN login_sources.since <= :cut THEN 1 ELSE login_sources.failed + 1 END,
			since = CASE WHEN login_sources.since <= :cut THEN :now ELSE login_sources.since END
		WHERE login_sources.since <= :cut OR login_sources.failed < :max
		RETURNING failed`,
		sql.Named("src", source), sql.Named("now", now.UnixNano()), sql.Named("cut", now.Add(-window).UnixNano()), sql.Named("max", max)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return max, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return n, true, nil
}

// SourceOK implements auth.Store.
func (s *Users) SourceOK(ctx context.Context, source string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE login_sources SET failed = MAX(failed - 1, 0) WHERE source = ?`, source)
	return err
}

// AddSession implements auth.Store.
func (s *Users) AddSession(ctx context.Context, x auth.Session) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (id, user, csrf, created, last_seen) VALUES (?,?,?,?,?)`, x.ID, x.User, x.CSRF, zeroNanos(x.Created), zeroNanos(x.LastSeen))
	return err
}

// Session implements auth.Store.
func (s *Users) Session(ctx context.Context, id string) (auth.Session, error) {
	var x auth.Session
	var created, seen int64
	err := s.r.QueryRowContext(ctx, `SELECT id, user, csrf, created, last_seen FROM sessions WHERE id = ?`, id).Scan(&x.ID, &x.User, &x.CSRF, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return x, auth.ErrNotFound
	}
	x.Created, x.LastSeen = fromZeroNanos(created), fromZeroNanos(seen)
	return x, err
}

// TouchSession implements auth.Store.
func (s *Users) TouchSession(ctx context.Context, id string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE sessions SET last_seen = ? WHERE id = ?`, zeroNanos(now), id)
	return err
}

// DeleteSession implements auth.Store.
func (s *Users) DeleteSession(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return err
}

// DeleteSessions implements auth.Store.
func (s *Users) DeleteSessions(ctx context.Context, user string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, user)
	return err
}

// PruneSessions implements auth.Store.
func (s *Users) PruneSessions(ctx context.Context, idle, absolute time.Time) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE last_seen < ? OR created < ?`, zeroNanos(idle), zeroNanos(absolute)); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `DELETE FROM login_sources WHERE since < ?`, zeroNanos(idle))
	return err
}
