package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tollgate-voip/tollgate/store"
)

// AddAlert stores a and returns it with its ID. A zero Time becomes now and
// an empty Status becomes open.
func (s *Store) AddAlert(ctx context.Context, a store.Alert) (store.Alert, error) {
	if err := a.Validate(); err != nil {
		return store.Alert{}, err
	}
	if a.Status == "" {
		a.Status = "open"
	}
	if err := checkTime("alert time", a.Time); err != nil {
		return store.Alert{}, err
	}
	a.Time = orNow(a.Time)
	err := s.w.QueryRowContext(ctx, `
		INSERT INTO alerts (time, tenant, extension, severity, code, text, status, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nanos(a.Time), a.Tenant, a.Extension, a.Severity, a.Code, a.Text, a.Status,
		nullJSON(a.Details)).Scan(&a.ID)
	if err != nil {
		return store.Alert{}, fmt.Errorf("sqlite: add alert: %w", err)
	}
	return a, nil
}

// ListAlerts returns the alerts matching q, newest first. Since is
// inclusive; Limit defaults to 100 and is capped at 10000.
func (s *Store) ListAlerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	var (
		where []string
		args  []any
	)
	if q.Tenant != "" {
		where = append(where, "tenant = ?")
		args = append(args, q.Tenant)
	}
	if q.Status != "" {
		if err := store.CheckAlertStatus(q.Status); err != nil {
			return nil, err
		}
		where = append(where, "status = ?")
		args = append(args, q.Status)
	}
	if !q.Since.IsZero() {
		if err := checkTime("since", q.Since); err != nil {
			return nil, err
		}
		where = append(where, "time >= ?")
		args = append(args, q.Since.UnixNano())
	}
	query := `SELECT id, time, tenant, extension, severity, code, text, status, details FROM alerts`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ?`
	args = append(args, store.Limit(q.Limit))

	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list alerts: %w", err)
	}
	defer rows.Close()
	var out []store.Alert
	for rows.Next() {
		var (
			a       store.Alert
			t       sql.NullInt64
			details []byte
		)
		if err := rows.Scan(&a.ID, &t, &a.Tenant, &a.Extension, &a.Severity, &a.Code,
			&a.Text, &a.Status, &details); err != nil {
			return nil, fmt.Errorf("sqlite: list alerts: %w", err)
		}
		a.Time, a.Details = fromNanos(t), details
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list alerts: %w", err)
	}
	return out, nil
}

// SetAlertStatus changes the status of alert id. It returns
// store.ErrNotFound when there is no such alert.
func (s *Store) SetAlertStatus(ctx context.Context, id int64, status string) error {
	if err := store.CheckAlertStatus(status); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE alerts SET status = ? WHERE id = ?`, status, id)
	if err != nil {
		return fmt.Errorf("sqlite: set alert %d status: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: set alert %d status: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: set alert %d status: %w", id, store.ErrNotFound)
	}
	return nil
}
