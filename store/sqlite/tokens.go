package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// PutToken creates or replaces the token named t.Name. Hash must be a hex
// SHA-256; Created is set to now when zero. A replaced token is no longer
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
	_, err := s.w.ExecContext(ctx, `
		INSERT INTO tokens (name, role, hash, created, expires, revoked, last_used) VALUES (?, ?, ?, ?, ?, NULL, NULL)
		ON CONFLICT (name) DO UPDATE SET
			role = excluded.role, hash = excluded.hash, created = excluded.created,
			expires = excluded.expires, revoked = NULL, last_used = NULL`,
		t.Name, t.Role, t.Hash, nanos(orNow(t.Created)), nanos(t.Expires))
	if err != nil {
		return fmt.Errorf("sqlite: put token %q: %w", t.Name, err)
	}
	return nil
}

// ListTokens returns every token, with its hash, by name.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, hash, created, expires, revoked, last_used FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var (
			t                               store.Token
			created, expires, revoked, used sql.NullInt64
		)
		if err := rows.Scan(&t.Name, &t.Role, &t.Hash, &created, &expires, &revoked, &used); err != nil {
			return nil, fmt.Errorf("sqlite: list tokens: %w", err)
		}
		t.Created, t.Expires, t.Revoked, t.LastUsed = fromNanos(created), fromNanos(expires), fromNanos(revoked), fromNanos(used)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements store.Tokens.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) error {
	if err := checkTime("token revoked", at); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET revoked = ? WHERE name = ? AND revoked IS NULL`, nanos(orNow(at)), name)
	if err != nil {
		return fmt.Errorf("sqlite: revoke token %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no active token %q", store.ErrNotFound, name)
	}
	return nil
}

// TouchTokens implements store.Tokens in one transaction.
func (s *Store) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: touch tokens: %w", err)
	}
	defer rollback(tx)
	for name, at := range used {
		if err := checkTime("token last used", at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used = ? WHERE name = ? AND (last_used IS NULL OR last_used < ?)`,
			nanos(orNow(at)), name, nanos(orNow(at))); err != nil {
			return fmt.Errorf("sqlite: touch tokens: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: touch tokens: %w", err)
	}
	return nil
}
