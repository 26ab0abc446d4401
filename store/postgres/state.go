package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-voip/tollgate/store"
)

const blockColumns = `id, tenant, kind, value, scope, reason, source, created_by, created, expires`

func checkBlock(b store.Block) error {
	if err := b.Validate(); err != nil {
		return err
	}
	for f, v := range map[string]string{"tenant": b.Tenant, "value": b.Value, "reason": b.Reason, "source": b.Source, "created_by": b.CreatedBy} {
		if err := noNUL("block "+f, v); err != nil {
			return err
		}
	}
	if err := checkTime("block created", b.Created); err != nil {
		return err
	}
	return checkTime("block expires", b.Expires)
}

// AddBlock implements store.Blocks.
func (s *Store) AddBlock(ctx context.Context, b store.Block) (store.Block, error) {
	if err := checkBlock(b); err != nil {
		return store.Block{}, err
	}
	b.Created = orNow(b.Created)
	if !b.Expires.IsZero() {
		b.Expires = b.Expires.UTC().Truncate(time.Microsecond)
	}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO blocks (tenant, kind, value, scope, reason, source, created_by, created, expires)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		b.Tenant, b.Kind, b.Value, b.Scope, b.Reason, b.Source, b.CreatedBy, ts(b.Created), ts(b.Expires)).Scan(&b.ID)
	if err != nil {
		return store.Block{}, wrap("add block", err)
	}
	return b, nil
}

// RemoveBlock implements store.Blocks.
func (s *Store) RemoveBlock(ctx context.Context, id int64) (store.Block, error) {
	b, err := scanBlock(s.pool.QueryRow(ctx, `DELETE FROM blocks WHERE id = $1 RETURNING `+blockColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Block{}, store.ErrNotFound
	}
	if err != nil {
		return store.Block{}, wrap("remove block", err)
	}
	return b, nil
}

// ListBlocks implements store.Blocks: unexpired blocks, oldest first.
func (s *Store) ListBlocks(ctx context.Context, now time.Time) ([]store.Block, error) {
	if now.IsZero() {
		now = time.Now()
	}
	if err := checkTime("now", now); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+blockColumns+` FROM blocks
		WHERE expires IS NULL OR expires > $1 ORDER BY id`, ts(now))
	if err != nil {
		return nil, wrap("list blocks", err)
	}
	defer rows.Close()
	var out []store.Block
	for rows.Next() {
		b, err := scanBlock(rows)
		if err != nil {
			return nil, wrap("list blocks", err)
		}
		out = append(out, b)
	}
	return out, wrap("list blocks", rows.Err())
}

func scanBlock(row pgx.Row) (store.Block, error) {
	var (
		b                store.Block
		created, expires *time.Time
	)
	err := row.Scan(&b.ID, &b.Tenant, &b.Kind, &b.Value, &b.Scope, &b.Reason, &b.Source, &b.CreatedBy, &created, &expires)
	b.Created, b.Expires = fromTS(created), fromTS(expires)
	return b, err
}

// SetKillSwitch implements store.KillSwitches.
func (s *Store) SetKillSwitch(ctx context.Context, k store.KillSwitch) error {
	if k.Tenant == "" {
		return invalid("kill switch tenant is empty (use %q for every tenant)", "*")
	}
	if err := checkTime("kill switch since", k.Since); err != nil {
		return err
	}
	for _, v := range []string{k.Tenant, k.Reason, k.By} {
		if err := noNUL("kill switch", v); err != nil {
			return err
		}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO kill_switches (tenant, active, reason, set_by, since) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant) DO UPDATE SET active = excluded.active, reason = excluded.reason,
			set_by = excluded.set_by, since = excluded.since`,
		k.Tenant, k.Active, k.Reason, k.By, ts(orNow(k.Since)))
	return wrap("set kill switch", err)
}

// KillSwitches implements store.KillSwitches.
func (s *Store) KillSwitches(ctx context.Context) ([]store.KillSwitch, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, active, reason, set_by, since FROM kill_switches ORDER BY tenant`)
	if err != nil {
		return nil, wrap("kill switches", err)
	}
	defer rows.Close()
	var out []store.KillSwitch
	for rows.Next() {
		var k store.KillSwitch
		var since *time.Time
		if err := rows.Scan(&k.Tenant, &k.Active, &k.Reason, &k.By, &since); err != nil {
			return nil, wrap("kill switches", err)
		}
		k.Since = fromTS(since)
		out = append(out, k)
	}
	return out, wrap("kill switches", rows.Err())
}

// AddAlert implements store.Alerts.
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
	for _, v := range []string{a.Tenant, a.Extension, a.Code, a.Text} {
		if err := noNUL("alert", v); err != nil {
			return store.Alert{}, err
		}
	}
	a.Time = orNow(a.Time)
	err := s.pool.QueryRow(ctx, `
		INSERT INTO alerts (time, tenant, extension, severity, code, text, status, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		ts(a.Time), a.Tenant, a.Extension, a.Severity, a.Code, a.Text, a.Status, nullJSON(a.Details)).Scan(&a.ID)
	if err != nil {
		return store.Alert{}, wrap("add alert", err)
	}
	return a, nil
}

// ListAlerts implements store.Alerts: newest first.
func (s *Store) ListAlerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+itoa(len(args))))
	}
	if q.Tenant != "" {
		add("tenant = ?", q.Tenant)
	}
	if q.Status != "" {
		if err := store.CheckAlertStatus(q.Status); err != nil {
			return nil, err
		}
		add("status = ?", q.Status)
	}
	if !q.Since.IsZero() {
		if err := checkTime("since", q.Since); err != nil {
			return nil, err
		}
		add("time >= ?", ts(q.Since))
	}
	query := `SELECT id, time, tenant, extension, severity, code, text, status, details::text FROM alerts`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, store.Limit(q.Limit))
	query += ` ORDER BY time DESC, id DESC LIMIT $` + itoa(len(args))
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap("list alerts", err)
	}
	defer rows.Close()
	var out []store.Alert
	for rows.Next() {
		var (
			a       store.Alert
			t       *time.Time
			details *string
		)
		if err := rows.Scan(&a.ID, &t, &a.Tenant, &a.Extension, &a.Severity, &a.Code, &a.Text, &a.Status, &details); err != nil {
			return nil, wrap("list alerts", err)
		}
		a.Time = fromTS(t)
		if details != nil {
			a.Details = []byte(*details)
		}
		out = append(out, a)
	}
	return out, wrap("list alerts", rows.Err())
}

// SetAlertStatus implements store.Alerts.
func (s *Store) SetAlertStatus(ctx context.Context, id int64, status string) error {
	if err := store.CheckAlertStatus(status); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE alerts SET status = $1 WHERE id = $2`, status, id)
	if err != nil {
		return wrap("set alert status", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// PutToken implements store.Tokens; a replaced token is no longer
// revoked and has not been used.
func (s *Store) PutToken(ctx context.Context, t store.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if err := checkTime("token created", t.Created); err != nil {
		return err
	}
	if err := checkTime("token expires", t.Expires); err != nil {
		return err
	}
	if err := noNUL("token name", t.Name+t.Role); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO tokens (name, role, hash, created, expires, revoked, last_used) VALUES ($1, $2, $3, $4, $5, NULL, NULL)
		ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash, created = excluded.created,
			expires = excluded.expires, revoked = NULL, last_used = NULL`,
		t.Name, t.Role, t.Hash, ts(orNow(t.Created)), ts(t.Expires))
	return wrap("put token", err)
}

// ListTokens implements store.Tokens.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, role, hash, created, expires, revoked, last_used FROM tokens ORDER BY name`)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var t store.Token
		var created, expires, revoked, used *time.Time
		if err := rows.Scan(&t.Name, &t.Role, &t.Hash, &created, &expires, &revoked, &used); err != nil {
			return nil, wrap("list tokens", err)
		}
		t.Created, t.Expires, t.Revoked, t.LastUsed = fromTS(created), fromTS(expires), fromTS(revoked), fromTS(used)
		out = append(out, t)
	}
	return out, wrap("list tokens", rows.Err())
}

// RevokeToken implements store.Tokens.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) error {
	if err := checkTime("token revoked", at); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET revoked = $2 WHERE name = $1 AND revoked IS NULL`, name, ts(orNow(at)))
	if err != nil {
		return wrap("revoke token", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: no active token %q", store.ErrNotFound, name)
	}
	return nil
}

// TouchTokens implements store.Tokens in one statement.
func (s *Store) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	names := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for n, at := range used {
		if err := checkTime("token last used", at); err != nil {
			return err
		}
		names = append(names, n)
		times = append(times, orNow(at).Truncate(time.Microsecond))
	}
	_, err := s.pool.Exec(ctx, `UPDATE tokens t SET last_used = u.at
		FROM unnest($1::text[], $2::timestamptz[]) AS u(name, at)
		WHERE t.name = u.name AND (t.last_used IS NULL OR t.last_used < u.at)`, names, times)
	return wrap("touch tokens", err)
}
