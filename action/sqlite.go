package action

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver
)

// SQLite is a Store in an SQLite database file.
type SQLite struct{ db *sql.DB }

// OpenSQLite opens (creating) the action store at path.
func OpenSQLite(path string) (*SQLite, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS actions (
		id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
		verdict TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("action store: %w", err)
	}
	return &SQLite{db: db}, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func check(r Record) error {
	switch {
	case r.Kind != "extension" && r.Kind != "number" && r.Kind != "prefix" && r.Kind != KillSwitchKind:
		return fmt.Errorf("action kind %q: want extension, number, prefix or killswitch", r.Kind)
	case r.Verdict != Challenge && r.Verdict != Reject && r.Verdict != Honeypot:
		return fmt.Errorf("action verdict %q: want challenge, reject or honeypot", r.Verdict)
	case r.Value == "" || len(r.Value) > 64:
		return errors.New("action value: 1–64 bytes")
	}
	return nil
}

// AddAction implements Store.
func (s *SQLite) AddAction(ctx context.Context, r Record) (Record, error) {
	if err := check(r); err != nil {
		return Record{}, err
	}
	if r.Created.IsZero() {
		r.Created = time.Now().UTC()
	}
	err := s.db.QueryRowContext(ctx, `INSERT INTO actions (tenant, kind, value, verdict, reason, source, created, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, r.Tenant, r.Kind, r.Value, r.Verdict, r.Reason, r.Source, nanos(r.Created), nanos(r.Expires)).Scan(&r.ID)
	return r, err
}

// RemoveAction implements Store.
func (s *SQLite) RemoveAction(ctx context.Context, id int64) (Record, error) {
	var r Record
	var c, e int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM actions WHERE id = ? RETURNING id, tenant, kind, value, verdict, reason, source, created, expires`, id).
		Scan(&r.ID, &r.Tenant, &r.Kind, &r.Value, &r.Verdict, &r.Reason, &r.Source, &c, &e)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	r.Created, r.Expires = fromNanos(c), fromNanos(e)
	return r, err
}

// ListActions implements Store.
func (s *SQLite) ListActions(ctx context.Context, now time.Time) ([]Record, error) {
	after := int64(math.MinInt64)
	if !now.IsZero() {
		after = now.UnixNano()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, tenant, kind, value, verdict, reason, source, created, expires FROM actions
		WHERE expires = 0 OR expires > ? ORDER BY id`, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var c, e int64
		if err := rows.Scan(&r.ID, &r.Tenant, &r.Kind, &r.Value, &r.Verdict, &r.Reason, &r.Source, &c, &e); err != nil {
			return nil, err
		}
		r.Created, r.Expires = fromNanos(c), fromNanos(e)
		out = append(out, r)
	}
	return out, rows.Err()
}
