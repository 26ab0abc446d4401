package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"

	"github.com/tollgate-voip/tollgate/store"
)

// PutToken creates or replaces the token named t.Name. Hash must be a hex
// SHA-256; Created is set to now when zero.
func (s *Store) PutToken(ctx context.Context, t store.Token) error {
	if t.Name == "" {
		return invalid("token name is empty")
	}
	if t.Role == "" {
		return invalid("token %q role is empty", t.Name)
	}
	if b, err := hex.DecodeString(t.Hash); err != nil || len(b) != 32 {
		return invalid("token %q hash: want 64 hex digits", t.Name)
	}
	if err := checkTime("token created", t.Created); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `
		INSERT INTO tokens (name, role, hash, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			role = excluded.role, hash = excluded.hash, created = excluded.created`,
		t.Name, t.Role, t.Hash, nanos(orNow(t.Created)))
	if err != nil {
		return fmt.Errorf("sqlite: put token %q: %w", t.Name, err)
	}
	return nil
}

// ListTokens returns every token, with its hash, by name.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, hash, created FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var (
			t       store.Token
			created sql.NullInt64
		)
		if err := rows.Scan(&t.Name, &t.Role, &t.Hash, &created); err != nil {
			return nil, fmt.Errorf("sqlite: list tokens: %w", err)
		}
		t.Created = fromNanos(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	return out, nil
}
