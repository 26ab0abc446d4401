package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// ChainError reports the first audit entry whose stored hash does not match
// the hash recomputed from the entries before it.
type ChainError struct {
	ID   int64  // the first entry that fails verification
	Want string // the recomputed hash
	Got  string // the stored hash
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("sqlite: audit chain broken at entry %d", e.ID)
}

// AuditHash returns the hash of an audit entry chained to prev, the hash of
// the entry before it ("" for the first entry): the hex SHA-256 of prev
// followed by the canonical encoding of the entry. The canonical encoding is
// the fields time (RFC 3339 with nanoseconds, UTC), actor, action, object and
// details, each written as its length in bytes, a colon and the bytes, and
// separated by "|". The lengths keep a "|" inside a field from making two
// different entries encode alike.
func AuditHash(prev string, e store.AuditEntry) string {
	h := sha256.New()
	h.Write([]byte(prev))
	fields := [...]string{
		e.Time.UTC().Format(time.RFC3339Nano),
		e.Actor, e.Action, e.Object, string(e.Details),
	}
	var buf []byte
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, '|')
		}
		buf = strconv.AppendInt(buf, int64(len(f)), 10)
		buf = append(buf, ':')
		buf = append(buf, f...)
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// AppendAudit appends e to the audit log and returns it with its ID, Hash,
// and Time (now when zero). The previous hash is read inside the same write
// transaction, so processes sharing the file extend one chain.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if err := e.Validate(); err != nil {
		return store.AuditEntry{}, err
	}
	if err := checkTime("audit time", e.Time); err != nil {
		return store.AuditEntry{}, err
	}
	e.Time = orNow(e.Time)

	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock from here
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("sqlite: append audit: %w", err)
	}
	defer rollback(tx)
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT hash FROM audit ORDER BY id DESC LIMIT 1`).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.AuditEntry{}, fmt.Errorf("sqlite: append audit: %w", err)
	}
	e.Hash = AuditHash(prev, e)
	err = tx.QueryRowContext(ctx, `
		INSERT INTO audit (time, actor, action, object, details, hash)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		nanos(e.Time), e.Actor, e.Action, e.Object, nullJSON(e.Details), e.Hash).Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("sqlite: append audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return store.AuditEntry{}, fmt.Errorf("sqlite: append audit: %w", err)
	}
	return e, nil
}

const auditColumns = `id, time, actor, action, object, details, hash`

func scanAudit(sc scanner) (store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		t       sql.NullInt64
		details []byte
	)
	err := sc.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Object, &details, &e.Hash)
	e.Time, e.Details = fromNanos(t), details
	return e, err
}

// ListAudit returns up to n entries at or after since, in the order they
// were appended. A non-positive n means 100; n is capped at 10000.
func (s *Store) ListAudit(ctx context.Context, since time.Time, n int) ([]store.AuditEntry, error) {
	if err := checkTime("since", since); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit
		WHERE time >= ? ORDER BY id LIMIT ?`, sinceNanos(since), store.Limit(n))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}

// VerifyAudit recomputes the hash chain from the first entry and returns a
// *ChainError for the first entry that does not match. Removing entries
// from the end of the log cannot be detected from the log alone; compare the
// last hash with a copy kept elsewhere for that.
func (s *Store) VerifyAudit(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit ORDER BY id`)
	if err != nil {
		return fmt.Errorf("sqlite: verify audit: %w", err)
	}
	defer rows.Close()
	prev := ""
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return fmt.Errorf("sqlite: verify audit: %w", err)
		}
		if want := AuditHash(prev, e); want != e.Hash {
			return &ChainError{ID: e.ID, Want: want, Got: e.Hash}
		}
		prev = e.Hash
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: verify audit: %w", err)
	}
	return nil
}
