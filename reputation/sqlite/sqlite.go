// Package sqlite keeps reputation entries, bans, lockouts and honeypot
// events in SQLite. It opens the same database file as store/sqlite
// (tollgate.db in the data directory) but owns its own tables, created
// and versioned here under their own schema table, so the two packages
// never touch each other's schema.
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

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/reputation"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var (
	_ reputation.Store         = (*DB)(nil)
	_ reputation.Versioned     = (*DB)(nil)
	_ reputation.BatchUpserter = (*DB)(nil)
	_ honeypot.EventStore      = (*DB)(nil)
)

// DB is the SQLite implementation. It is safe for concurrent use, and
// several processes (and tollgate nodes on a shared file) may open it.
type DB struct {
	w *sql.DB // one writing connection: writers queue in Go, not on the file lock
	r *sql.DB
}

var migrations = []string{
	// 1: entries, bans, lockouts, honeypot events.
	`
CREATE TABLE reputation_entries (
	kind       TEXT NOT NULL CHECK (kind IN ('ip', 'number', 'range', 'ua')),
	value      TEXT NOT NULL CHECK (value <> ''),
	source     TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	hits       INTEGER NOT NULL,
	score      INTEGER NOT NULL,
	expires    INTEGER,
	PRIMARY KEY (kind, value)
);
CREATE INDEX reputation_entries_expires ON reputation_entries (expires);

CREATE TABLE reputation_bans (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	ip       TEXT NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	source   TEXT NOT NULL DEFAULT '',
	created  INTEGER NOT NULL,
	expires  INTEGER NOT NULL,
	level    INTEGER NOT NULL DEFAULT 0,
	released INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reputation_bans_ip ON reputation_bans (ip);
CREATE INDEX reputation_bans_expires ON reputation_bans (expires);

CREATE TABLE reputation_lockouts (
	kind     TEXT NOT NULL,
	subject  TEXT NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	failures INTEGER NOT NULL,
	since    INTEGER NOT NULL,
	until    INTEGER NOT NULL,
	PRIMARY KEY (kind, subject)
);

CREATE TABLE honeypot_events (
	id         INTEGER PRIMARY KEY,
	time       INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	source_ip  TEXT NOT NULL,
	source_port INTEGER NOT NULL,
	transport  TEXT NOT NULL,
	method     TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	from_uri   TEXT NOT NULL DEFAULT '',
	to_uri     TEXT NOT NULL DEFAULT '',
	request_uri TEXT NOT NULL DEFAULT '',
	call_id    TEXT NOT NULL DEFAULT '',
	dialed     TEXT NOT NULL DEFAULT '',
	e164       TEXT NOT NULL DEFAULT '',
	username   TEXT NOT NULL DEFAULT '',
	password   TEXT NOT NULL DEFAULT '',
	digits     TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '',
	message    BLOB
);
CREATE INDEX honeypot_events_time ON honeypot_events (time);
CREATE INDEX honeypot_events_ip ON honeypot_events (source_ip, time);
`,
	// 2: a version raised in every transaction that changes entries, bans
	// or lockouts, so a reader can tell cheaply whether to re-read.
	`
CREATE TABLE reputation_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	v  INTEGER NOT NULL
);
INSERT INTO reputation_version (id, v) VALUES (1, 0);
`,
	// 3: learned entries carry a status and their evidence (JSON). Numbers
	// the honeypot learned before were learned from one unproven datagram:
	// they become suspected.
	`
ALTER TABLE reputation_entries ADD COLUMN status TEXT NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'suspected'));
ALTER TABLE reputation_entries ADD COLUMN evidence TEXT;
UPDATE reputation_entries SET status = 'suspected' WHERE source = 'honeypot' AND kind IN ('number', 'range');
`,
}

// Open opens (creating if needed) the database file at path.
func Open(path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("reputation/sqlite: open %q: want a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reputation/sqlite: open %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("reputation/sqlite: open %q: %w", path, err)
	}
	u := url.URL{Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	dsn := "file:" + u.EscapedPath() + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxIdleConns(4)
	db := &DB{w: w, r: r}
	if err := db.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("reputation/sqlite: open %q: %w", path, err)
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS reputation_schema (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM reputation_schema`).Scan(&have); err != nil {
		return err
	}
	if have > len(migrations) {
		return fmt.Errorf("reputation schema version %d is newer than this tollgate (%d)", have, len(migrations))
	}
	for i := have; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("reputation migration %d: %w", i+1, err)
		}
	}
	if have < len(migrations) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM reputation_schema`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reputation_schema (version) VALUES (?)`, len(migrations)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close closes the database.
func (db *DB) Close() error { return errors.Join(db.r.Close(), db.w.Close()) }

// write runs f in a transaction on the writing connection and raises the
// version in the same transaction, so a reader that sees the new version
// also sees the change; when f fails nothing is written and the version
// stays.
func (db *DB) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE reputation_version SET v = v + 1 WHERE id = 1`); err != nil {
		return err
	}
	return tx.Commit()
}

// Version implements reputation.Versioned: one primary-key read.
func (db *DB) Version(ctx context.Context) (int64, error) {
	var v int64
	err := db.r.QueryRowContext(ctx, `SELECT v FROM reputation_version WHERE id = 1`).Scan(&v)
	return v, err
}

func ns(t time.Time) int64 { return t.UnixNano() }

func nullNS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time { return time.Unix(0, n).UTC() }

// Upsert implements reputation.Store.
func (db *DB) Upsert(ctx context.Context, e reputation.Entry) (reputation.Entry, error) {
	if err := reputation.Normalize(&e, time.Now()); err != nil {
		return e, err
	}
	in := e
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = upsert(ctx, tx, in)
		return err
	})
	if err != nil {
		return in, err
	}
	return e, nil
}

// upsert merges the normalized entry e into its row.
func upsert(ctx context.Context, tx *sql.Tx, e reputation.Entry) (reputation.Entry, error) {
	old, err := get(ctx, tx, e.Kind, e.Value)
	switch {
	case err == nil:
		e = reputation.Merge(old, e)
	case errors.Is(err, reputation.ErrNotFound):
	default:
		return e, err
	}
	ev, err := reputation.EncodeEvidence(e.Evidence)
	if err != nil {
		return e, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO reputation_entries (kind, value, source, reason, first_seen, last_seen, hits, score, expires, status, evidence)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, value) DO UPDATE SET source = excluded.source, reason = excluded.reason,
			first_seen = excluded.first_seen, last_seen = excluded.last_seen, hits = excluded.hits,
			score = excluded.score, expires = excluded.expires, status = excluded.status, evidence = excluded.evidence`,
		e.Kind, e.Value, e.Source, e.Reason, ns(e.FirstSeen), ns(e.LastSeen), e.Hits, e.Score, nullNS(e.Expires), e.Status, ev)
	return e, err
}

// UpsertBatch implements reputation.BatchUpserter: every entry merged in
// one transaction.
func (db *DB) UpsertBatch(ctx context.Context, es []reputation.Entry) error {
	if len(es) == 0 {
		return nil
	}
	now := time.Now()
	return db.write(ctx, func(tx *sql.Tx) error {
		for _, e := range es {
			if err := reputation.Normalize(&e, now); err != nil {
				return err
			}
			if _, err := upsert(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

const entryCols = `kind, value, source, reason, first_seen, last_seen, hits, score, expires, status, evidence`

type scanner interface{ Scan(...any) error }

func scanEntry(s scanner) (reputation.Entry, error) {
	var e reputation.Entry
	var first, last int64
	var exp sql.NullInt64
	var ev sql.NullString
	if err := s.Scan(&e.Kind, &e.Value, &e.Source, &e.Reason, &first, &last, &e.Hits, &e.Score, &exp, &e.Status, &ev); err != nil {
		return e, err
	}
	e.FirstSeen, e.LastSeen = fromNS(first), fromNS(last)
	if exp.Valid {
		e.Expires = fromNS(exp.Int64)
	}
	if ev.Valid {
		var err error
		if e.Evidence, err = reputation.DecodeEvidence([]byte(ev.String)); err != nil {
			return e, fmt.Errorf("reputation/sqlite: evidence of %s %s: %w", e.Kind, e.Value, err)
		}
	}
	return e, nil
}

func get(ctx context.Context, q querier, kind, value string) (reputation.Entry, error) {
	e, err := scanEntry(q.QueryRowContext(ctx, `SELECT `+entryCols+` FROM reputation_entries WHERE kind = ? AND value = ?`, kind, value))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("%w: %s %s", reputation.ErrNotFound, kind, value)
	}
	return e, err
}

// canonical normalizes kind and value for a lookup.
func canonical(kind, value string) (string, string, error) {
	e := reputation.Entry{Kind: kind, Value: value}
	if err := reputation.Normalize(&e, time.Now()); err != nil {
		return "", "", err
	}
	return e.Kind, e.Value, nil
}

// Get implements reputation.Store.
func (db *DB) Get(ctx context.Context, kind, value string) (reputation.Entry, error) {
	k, v, err := canonical(kind, value)
	if err != nil {
		return reputation.Entry{}, err
	}
	return get(ctx, db.r, k, v)
}

// Remove implements reputation.Store.
func (db *DB) Remove(ctx context.Context, kind, value string) error {
	k, v, err := canonical(kind, value)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM reputation_entries WHERE kind = ? AND value = ?`, k, v)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s %s", reputation.ErrNotFound, k, v)
		}
		return nil
	})
}

// List implements reputation.Store.
func (db *DB) List(ctx context.Context, q reputation.Query) ([]reputation.Entry, error) {
	var where []string
	var args []any
	if q.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, q.Kind)
	}
	if q.Source != "" {
		where = append(where, "source = ?")
		args = append(args, q.Source)
	}
	if q.Status != "" {
		where = append(where, "status = ?")
		args = append(args, q.Status)
	}
	if !q.Now.IsZero() {
		where = append(where, "(expires IS NULL OR expires > ?)")
		args = append(args, ns(q.Now))
	}
	s := `SELECT ` + entryCols + ` FROM reputation_entries`
	if len(where) > 0 {
		s += " WHERE " + strings.Join(where, " AND ")
	}
	s += " ORDER BY last_seen DESC, kind, value"
	if q.Limit > 0 {
		s += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := db.r.QueryContext(ctx, s, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []reputation.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Purge deletes entries that expired before now and bans that ended
// before keepBans ago; it returns how many rows went. The version moves
// only when a row went.
func (db *DB) Purge(ctx context.Context, now time.Time, keepBans time.Duration) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		r1, err := tx.ExecContext(ctx, `DELETE FROM reputation_entries WHERE expires IS NOT NULL AND expires <= ?`, ns(now))
		if err != nil {
			return err
		}
		r2, err := tx.ExecContext(ctx, `DELETE FROM reputation_bans WHERE expires <= ?`, ns(now.Add(-keepBans)))
		if err != nil {
			return err
		}
		a, _ := r1.RowsAffected()
		b, _ := r2.RowsAffected()
		if n = a + b; n == 0 {
			return errNothing
		}
		return nil
	})
	if errors.Is(err, errNothing) {
		return 0, nil
	}
	return n, err
}

// errNothing rolls back a write that changed nothing (the version stays).
var errNothing = errors.New("nothing changed")

// AddBan implements reputation.Store.
func (db *DB) AddBan(ctx context.Context, b reputation.Ban) (reputation.Ban, error) {
	p, err := reputation.ParsePrefix(b.IP)
	if err != nil {
		return b, &reputation.FieldError{Field: "ip", Msg: err.Error()}
	}
	b.IP = reputation.FormatPrefix(p)
	if b.Created.IsZero() {
		b.Created = time.Now()
	}
	if !b.Expires.After(b.Created) {
		return b, &reputation.FieldError{Field: "expires", Msg: "must be after the ban's start"}
	}
	b.Created, b.Expires = b.Created.UTC(), b.Expires.UTC()
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO reputation_bans (ip, reason, source, created, expires, level, released) VALUES (?, ?, ?, ?, ?, ?, 0)`,
			b.IP, b.Reason, b.Source, ns(b.Created), ns(b.Expires), b.Level)
		if err != nil {
			return err
		}
		b.ID, err = res.LastInsertId()
		return err
	})
	return b, err
}

const banCols = `id, ip, reason, source, created, expires, level, released`

func scanBan(s scanner) (reputation.Ban, error) {
	var b reputation.Ban
	var c, e int64
	if err := s.Scan(&b.ID, &b.IP, &b.Reason, &b.Source, &c, &e, &b.Level, &b.Released); err != nil {
		return b, err
	}
	b.Created, b.Expires = fromNS(c), fromNS(e)
	return b, nil
}

// Bans implements reputation.Store.
func (db *DB) Bans(ctx context.Context, now time.Time, all bool) ([]reputation.Ban, error) {
	s := `SELECT ` + banCols + ` FROM reputation_bans`
	var args []any
	if !all {
		s += ` WHERE released = 0 AND expires > ?`
		args = append(args, ns(now))
	}
	s += ` ORDER BY id DESC LIMIT 100000`
	rows, err := db.r.QueryContext(ctx, s, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []reputation.Ban
	for rows.Next() {
		b, err := scanBan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// BanCount implements reputation.Store.
func (db *DB) BanCount(ctx context.Context, ip string) (int, error) {
	p, err := reputation.ParsePrefix(ip)
	if err != nil {
		return 0, &reputation.FieldError{Field: "ip", Msg: err.Error()}
	}
	var n int
	err = db.r.QueryRowContext(ctx, `SELECT count(*) FROM reputation_bans WHERE ip = ?`, reputation.FormatPrefix(p)).Scan(&n)
	return n, err
}

// ReleaseBan implements reputation.Store.
func (db *DB) ReleaseBan(ctx context.Context, id int64) (reputation.Ban, error) {
	var b reputation.Ban
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = scanBan(tx.QueryRowContext(ctx, `SELECT `+banCols+` FROM reputation_bans WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: ban %d", reputation.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reputation_bans SET released = 1 WHERE id = ?`, id); err != nil {
			return err
		}
		b.Released = true
		// What was learned about the same address goes with the ban.
		res, err := tx.ExecContext(ctx, `DELETE FROM reputation_entries WHERE kind = 'ip' AND value = ? AND source IN (?, ?)`,
			b.IP, reputation.SourceHoneypot, reputation.SourceDetector)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			b.Freed = reputation.KindIP + "/" + b.IP
		}
		return nil
	})
	return b, err
}

// PutLockout implements reputation.Store.
func (db *DB) PutLockout(ctx context.Context, l reputation.Lockout) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO reputation_lockouts (kind, subject, reason, failures, since, until) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, subject) DO UPDATE SET reason = excluded.reason, failures = excluded.failures, since = excluded.since, until = excluded.until`,
			l.Kind, l.Subject, l.Reason, l.Failures, ns(l.Since), ns(l.Until))
		return err
	})
}

// Lockouts implements reputation.Store.
func (db *DB) Lockouts(ctx context.Context, now time.Time) ([]reputation.Lockout, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kind, subject, reason, failures, since, until FROM reputation_lockouts WHERE until > ? ORDER BY since DESC`, ns(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []reputation.Lockout
	for rows.Next() {
		var l reputation.Lockout
		var s, u int64
		if err := rows.Scan(&l.Kind, &l.Subject, &l.Reason, &l.Failures, &s, &u); err != nil {
			return nil, err
		}
		l.Since, l.Until = fromNS(s), fromNS(u)
		out = append(out, l)
	}
	return out, rows.Err()
}

// ReleaseLockout implements reputation.Store.
func (db *DB) ReleaseLockout(ctx context.Context, kind, subject string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM reputation_lockouts WHERE kind = ? AND subject = ?`, kind, subject)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: lockout %s %s", reputation.ErrNotFound, kind, subject)
		}
		return nil
	})
}

// AppendEvents implements honeypot.EventStore: one transaction per batch.
func (db *DB) AppendEvents(ctx context.Context, evs []honeypot.Event) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO honeypot_events (time, kind, source_ip, source_port, transport, method, user_agent,
		from_uri, to_uri, request_uri, call_id, dialed, e164, username, password, digits, detail, message)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, e := range evs {
		if _, err := st.ExecContext(ctx, ns(e.Time), e.Kind, e.SourceIP, e.SourcePort, e.Transport, e.Method, e.UserAgent,
			e.From, e.To, e.RequestURI, e.CallID, e.Dialed, e.E164, e.Username, e.Password, e.Digits, e.Detail, e.Message); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Events implements honeypot.EventStore.
func (db *DB) Events(ctx context.Context, q honeypot.EventQuery) ([]honeypot.Event, error) {
	var where []string
	var args []any
	if q.SourceIP != "" {
		where = append(where, "source_ip = ?")
		args = append(args, q.SourceIP)
	}
	if q.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, q.Kind)
	}
	if !q.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, ns(q.Since))
	}
	s := `SELECT id, time, kind, source_ip, source_port, transport, method, user_agent, from_uri, to_uri, request_uri, call_id,
		dialed, e164, username, password, digits, detail, message FROM honeypot_events`
	if len(where) > 0 {
		s += " WHERE " + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	s += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limit)
	rows, err := db.r.QueryContext(ctx, s, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []honeypot.Event
	for rows.Next() {
		var e honeypot.Event
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Kind, &e.SourceIP, &e.SourcePort, &e.Transport, &e.Method, &e.UserAgent, &e.From, &e.To,
			&e.RequestURI, &e.CallID, &e.Dialed, &e.E164, &e.Username, &e.Password, &e.Digits, &e.Detail, &e.Message); err != nil {
			return nil, err
		}
		e.Time = fromNS(t)
		out = append(out, e)
	}
	return out, rows.Err()
}
