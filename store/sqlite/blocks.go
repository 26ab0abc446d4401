package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

const blockColumns = `id, tenant, kind, value, scope, reason, source, created_by, created, expires`

// checkBlock validates b before it is stored.
func checkBlock(b store.Block) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if err := checkTime("block created", b.Created); err != nil {
		return err
	}
	return checkTime("block expires", b.Expires)
}

// AddBlock stores b and returns it with its ID, and with Created set to now
// when it was zero.
func (s *Store) AddBlock(ctx context.Context, b store.Block) (store.Block, error) {
	if err := checkBlock(b); err != nil {
		return store.Block{}, err
	}
	b.Created = orNow(b.Created)
	if !b.Expires.IsZero() {
		b.Expires = b.Expires.UTC().Round(0)
	}
	err := s.w.QueryRowContext(ctx, `
		INSERT INTO blocks (tenant, kind, value, scope, reason, source, created_by, created, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		b.Tenant, b.Kind, b.Value, b.Scope, b.Reason, b.Source, b.CreatedBy,
		nanos(b.Created), nanos(b.Expires)).Scan(&b.ID)
	if err != nil {
		return store.Block{}, fmt.Errorf("sqlite: add block: %w", err)
	}
	return b, nil
}

// RemoveBlock deletes the block with the given id and returns it. It returns
// store.ErrNotFound when there is no such block.
func (s *Store) RemoveBlock(ctx context.Context, id int64) (store.Block, error) {
	row := s.w.QueryRowContext(ctx, `DELETE FROM blocks WHERE id = ? RETURNING `+blockColumns, id)
	b, err := scanBlock(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Block{}, fmt.Errorf("sqlite: remove block %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Block{}, fmt.Errorf("sqlite: remove block %d: %w", id, err)
	}
	return b, nil
}

// ListBlocks returns the blocks that have not expired at now (time.Now when
// zero), oldest first.
func (s *Store) ListBlocks(ctx context.Context, now time.Time) ([]store.Block, error) {
	if now.IsZero() {
		now = time.Now()
	}
	if err := checkTime("now", now); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+blockColumns+` FROM blocks
		WHERE expires IS NULL OR expires > ? ORDER BY id`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite: list blocks: %w", err)
	}
	defer rows.Close()
	var out []store.Block
	for rows.Next() {
		b, err := scanBlock(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list blocks: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list blocks: %w", err)
	}
	return out, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanBlock(sc scanner) (store.Block, error) {
	var (
		b                store.Block
		created, expires sql.NullInt64
	)
	err := sc.Scan(&b.ID, &b.Tenant, &b.Kind, &b.Value, &b.Scope, &b.Reason,
		&b.Source, &b.CreatedBy, &created, &expires)
	b.Created, b.Expires = fromNanos(created), fromNanos(expires)
	return b, err
}

// SetKillSwitch creates or replaces the kill switch of k.Tenant ("*" for
// every tenant). Since is set to now when zero.
func (s *Store) SetKillSwitch(ctx context.Context, k store.KillSwitch) error {
	if k.Tenant == "" {
		return invalid("kill switch tenant is empty (use %q for every tenant)", "*")
	}
	if err := checkTime("kill switch since", k.Since); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `
		INSERT INTO kill_switches (tenant, active, reason, set_by, since) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET
			active = excluded.active, reason = excluded.reason,
			set_by = excluded.set_by, since = excluded.since`,
		k.Tenant, k.Active, k.Reason, k.By, nanos(orNow(k.Since)))
	if err != nil {
		return fmt.Errorf("sqlite: set kill switch %q: %w", k.Tenant, err)
	}
	return nil
}

// KillSwitches returns every stored kill switch, active or not, by tenant.
func (s *Store) KillSwitches(ctx context.Context) ([]store.KillSwitch, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT tenant, active, reason, set_by, since FROM kill_switches ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: kill switches: %w", err)
	}
	defer rows.Close()
	var out []store.KillSwitch
	for rows.Next() {
		var (
			k     store.KillSwitch
			since sql.NullInt64
		)
		if err := rows.Scan(&k.Tenant, &k.Active, &k.Reason, &k.By, &since); err != nil {
			return nil, fmt.Errorf("sqlite: kill switches: %w", err)
		}
		k.Since = fromNanos(since)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: kill switches: %w", err)
	}
	return out, nil
}
