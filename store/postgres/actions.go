package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
)

// Actions is an action.Store in PostgreSQL, shared by the nodes of a
// cluster: the node whose detectors act writes the records, every node's
// screening reads them (action.Refresh), and any node's Sweep lifts an
// expired kill switch.
type Actions struct{ pool *pgxpool.Pool }

var _ action.Store = (*Actions)(nil)

// NewActions creates the table if needed and returns the store on pool
// (which the caller keeps and closes).
func NewActions(ctx context.Context, pool *pgxpool.Pool) (*Actions, error) {
	err := pgschema.Later(ctx, "detector actions", func(ctx context.Context) error {
		_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS detector_actions (
		id BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
		verdict TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL,
		created TIMESTAMPTZ NOT NULL, expires TIMESTAMPTZ)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("action store: %w", err)
	}
	return &Actions{pool: pool}, nil
}

// Close does nothing: the pool belongs to the caller.
func (s *Actions) Close() error { return nil }

func actionTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

const pgColumns = `id, tenant, kind, value, verdict, reason, source, created, expires`

func scanAction(row pgx.Row) (action.Record, error) {
	var r action.Record
	var exp *time.Time
	if err := row.Scan(&r.ID, &r.Tenant, &r.Kind, &r.Value, &r.Verdict, &r.Reason, &r.Source, &r.Created, &exp); err != nil {
		return action.Record{}, err
	}
	r.Created = r.Created.UTC()
	if exp != nil {
		r.Expires = exp.UTC()
	}
	return r, nil
}

// AddAction implements Store.
func (s *Actions) AddAction(ctx context.Context, r action.Record) (action.Record, error) {
	if err := r.Validate(); err != nil {
		return action.Record{}, err
	}
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	return scanAction(s.pool.QueryRow(ctx, `INSERT INTO detector_actions (tenant, kind, value, verdict, reason, source, created, expires)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+pgColumns,
		r.Tenant, r.Kind, r.Value, r.Verdict, r.Reason, r.Source, r.Created.UTC(), actionTime(r.Expires)))
}

// RemoveAction implements Store.
func (s *Actions) RemoveAction(ctx context.Context, id int64) (action.Record, error) {
	r, err := scanAction(s.pool.QueryRow(ctx, `DELETE FROM detector_actions WHERE id = $1 RETURNING `+pgColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return action.Record{}, action.ErrNotFound
	}
	return r, err
}

// ListActions implements Store.
func (s *Actions) ListActions(ctx context.Context, now time.Time) ([]action.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgColumns+` FROM detector_actions
		WHERE $1::timestamptz IS NULL OR expires IS NULL OR expires > $1 ORDER BY id`, actionTime(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []action.Record
	for rows.Next() {
		r, err := scanAction(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
