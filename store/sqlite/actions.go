package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/tollgate-voip/tollgate/action"
)

// Actions is an action.Store in an SQLite database file (actions.db).
type Actions struct{ file }

var _ action.Store = (*Actions)(nil)

// actionsFile is actions.db's table; step 1 creates it only where
// missing, as the files made before the schema was versioned hold it.
var actionsFile = schema{name: "actions", versionTable: "actions_schema", steps: []string{`CREATE TABLE IF NOT EXISTS actions (
		id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
		verdict TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL)`}}

// OpenActions opens (creating) the action store at path.
func OpenActions(path string) (*Actions, error) {
	f, err := openFile("action store", path, actionsFile, fileOptions{})
	if err != nil {
		return nil, err
	}
	return &Actions{f}, nil
}

// zeroNanos is t in Unix nanoseconds, 0 for the zero time (the actions
// table has no NULLs).
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

// AddAction implements action.Store.
func (s *Actions) AddAction(ctx context.Context, r action.Record) (action.Record, error) {
	if err := r.Validate(); err != nil {
		return action.Record{}, err
	}
	if r.Created.IsZero() {
		r.Created = time.Now().UTC()
	}
	err := s.w.QueryRowContext(ctx, `INSERT INTO actions (tenant, kind, value, verdict, reason, source, created, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, r.Tenant, r.Kind, r.Value, r.Verdict, r.Reason, r.Source, zeroNanos(r.Created), zeroNanos(r.Expires)).Scan(&r.ID)
	return r, err
}

// RemoveAction implements action.Store.
func (s *Actions) RemoveAction(ctx context.Context, id int64) (action.Record, error) {
	var r action.Record
	var c, e int64
	err := s.w.QueryRowContext(ctx, `DELETE FROM actions WHERE id = ? RETURNING id, tenant, kind, value, verdict, reason, source, created, expires`, id).
		Scan(&r.ID, &r.Tenant, &r.Kind, &r.Value, &r.Verdict, &r.Reason, &r.Source, &c, &e)
	if errors.Is(err, sql.ErrNoRows) {
		return action.Record{}, action.ErrNotFound
	}
	r.Created, r.Expires = fromZeroNanos(c), fromZeroNanos(e)
	return r, err
}

// ListActions implements action.Store.
func (s *Actions) ListActions(ctx context.Context, now time.Time) ([]action.Record, error) {
	after := int64(math.MinInt64)
	if !now.IsZero() {
		after = now.UnixNano()
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant, kind, value, verdict, reason, source, created, expires FROM actions
		WHERE expires = 0 OR expires > ? ORDER BY id`, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []action.Record
	for rows.Next() {
		var r action.Record
		var c, e int64
		if err := rows.Scan(&r.ID, &r.Tenant, &r.Kind, &r.Value, &r.Verdict, &r.Reason, &r.Source, &c, &e); err != nil {
			return nil, err
		}
		r.Created, r.Expires = fromZeroNanos(c), fromZeroNanos(e)
		out = append(out, r)
	}
	return out, rows.Err()
}
