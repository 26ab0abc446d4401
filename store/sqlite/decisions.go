package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

const decisionColumns = `call_id, time, tenant, extension, caller, callee, e164, country, type,
	direction, source_ip, action, enforced, shadow, risk, max_duration, rate, reasons, node`

// checkDecision validates d before it is stored.
func checkDecision(d *store.Decision) error {
	if err := d.Validate(); err != nil {
		return err
	}
	return checkTime("decision time", d.Time)
}

// AppendDecisions stores ds in one transaction. A decision whose call id is
// already stored is skipped, so a retried batch does not duplicate rows and
// the first decision for a call wins.
func (s *Store) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	for i := range ds {
		if err := checkDecision(&ds[i]); err != nil {
			return err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append decisions: %w", err)
	}
	defer rollback(tx)
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO decisions (`+decisionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (call_id) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("sqlite: append decisions: %w", err)
	}
	defer stmt.Close()
	for i := range ds {
		d := &ds[i]
		_, err := stmt.ExecContext(ctx, d.CallID, nanos(d.Time), d.Tenant, d.Extension,
			d.Caller, d.Callee, d.E164, d.Country, d.Type, d.Direction, d.SourceIP,
			d.Action, d.Enforced, d.Shadow, d.Risk, d.MaxDuration, d.Rate,
			nullJSON(d.Reasons), d.Node)
		if err != nil {
			return fmt.Errorf("sqlite: append decision %q: %w", d.CallID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append decisions: %w", err)
	}
	return nil
}

// QueryDecisions returns the decisions matching q, newest first. From is
// inclusive and To exclusive.
func (s *Store) QueryDecisions(ctx context.Context, q store.DecisionQuery) ([]store.Decision, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, vals ...any) {
		where = append(where, cond)
		args = append(args, vals...)
	}
	if q.CallID != "" {
		add("call_id = ?", q.CallID)
	}
	if q.Tenant != "" {
		add("tenant = ?", q.Tenant)
	}
	if q.Extension != "" {
		add("extension = ?", q.Extension)
	}
	if q.Number != "" {
		add("(callee = ? OR e164 = ? OR caller = ?)", q.Number, q.Number, q.Number)
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if !q.From.IsZero() {
		if err := checkTime("query from", q.From); err != nil {
			return nil, err
		}
		add("time >= ?", q.From.UnixNano())
	}
	if !q.To.IsZero() {
		if err := checkTime("query to", q.To); err != nil {
			return nil, err
		}
		add("time < ?", q.To.UnixNano())
	}
	query := `SELECT ` + decisionColumns + ` FROM decisions`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ?`
	args = append(args, store.Limit(q.Limit))
	return s.decisions(ctx, "query decisions", query, args...)
}

// DecisionsSince returns every decision at or after since, oldest first.
func (s *Store) DecisionsSince(ctx context.Context, since time.Time) ([]store.Decision, error) {
	if err := checkTime("since", since); err != nil {
		return nil, err
	}
	return s.decisions(ctx, "decisions since",
		`SELECT `+decisionColumns+` FROM decisions WHERE time >= ? ORDER BY time, id`,
		sinceNanos(since))
}

// sinceNanos is the lower bound for a since query; the zero time matches
// every stored time.
func sinceNanos(since time.Time) int64 {
	if since.IsZero() {
		return minTime.UnixNano()
	}
	return since.UnixNano()
}

func (s *Store) decisions(ctx context.Context, op, query string, args ...any) ([]store.Decision, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	defer rows.Close()
	var out []store.Decision
	for rows.Next() {
		var (
			d       store.Decision
			t       sql.NullInt64
			reasons []byte
		)
		err := rows.Scan(&d.CallID, &t, &d.Tenant, &d.Extension, &d.Caller, &d.Callee,
			&d.E164, &d.Country, &d.Type, &d.Direction, &d.SourceIP, &d.Action,
			&d.Enforced, &d.Shadow, &d.Risk, &d.MaxDuration, &d.Rate, &reasons, &d.Node)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		d.Time, d.Reasons = fromNanos(t), reasons
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return out, nil
}

// checkCallEvent validates e before it is stored.
func checkCallEvent(e *store.CallEvent) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return checkTime("call event time", e.Time)
}

// AppendCallEvents stores es in one transaction. An event whose call id and
// type are already stored is skipped.
func (s *Store) AppendCallEvents(ctx context.Context, es []store.CallEvent) error {
	if len(es) == 0 {
		return nil
	}
	for i := range es {
		if err := checkCallEvent(&es[i]); err != nil {
			return err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append call events: %w", err)
	}
	defer rollback(tx)
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO call_events
		(call_id, type, time, tenant, duration, cost, international) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (call_id, type) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("sqlite: append call events: %w", err)
	}
	defer stmt.Close()
	for i := range es {
		e := &es[i]
		_, err := stmt.ExecContext(ctx, e.CallID, e.Type, nanos(e.Time), e.Tenant,
			e.Duration, e.Cost, e.International)
		if err != nil {
			return fmt.Errorf("sqlite: append call event %q: %w", e.CallID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append call events: %w", err)
	}
	return nil
}

// CallEventsSince returns every call event at or after since, oldest first.
func (s *Store) CallEventsSince(ctx context.Context, since time.Time) ([]store.CallEvent, error) {
	if err := checkTime("since", since); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT call_id, type, time, tenant, duration, cost, international
		FROM call_events WHERE time >= ? ORDER BY time, id`, sinceNanos(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: call events since: %w", err)
	}
	defer rows.Close()
	var out []store.CallEvent
	for rows.Next() {
		var (
			e store.CallEvent
			t sql.NullInt64
		)
		if err := rows.Scan(&e.CallID, &e.Type, &t, &e.Tenant, &e.Duration, &e.Cost, &e.International); err != nil {
			return nil, fmt.Errorf("sqlite: call events since: %w", err)
		}
		e.Time = fromNanos(t)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: call events since: %w", err)
	}
	return out, nil
}
