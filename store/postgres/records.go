package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

func itoa(n int) string { return strconv.Itoa(n) }

const decisionColumns = `call_id, time, tenant, extension, caller, callee, e164, country, type,
	direction, source_ip, action, enforced, shadow, risk, max_duration, rate, reasons, node`

var decisionColumnNames = []string{"ord", "call_id", "time", "tenant", "extension", "caller", "callee", "e164", "country", "type",
	"direction", "source_ip", "action", "enforced", "shadow", "risk", "max_duration", "rate", "reasons", "node"}

func checkDecision(d *store.Decision) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := checkTime("decision time", d.Time); err != nil {
		return err
	}
	for _, v := range []string{d.CallID, d.Tenant, d.Extension, d.Caller, d.Callee, d.E164, d.Country, d.Type, d.Direction, d.SourceIP, d.Action, d.Enforced, d.Node} {
		if err := noNUL("decision", v); err != nil {
			return err
		}
	}
	return nil
}

// AppendDecisions implements store.Decisions: the batch is copied (COPY)
// into a temporary table and moved into the partitioned log in one
// statement; a call id already stored, by this node or another, is
// skipped, and within a batch the first decision for a call wins.
func (s *Store) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	for i := range ds {
		if err := checkDecision(&ds[i]); err != nil {
			return err
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		months := map[time.Time]bool{}
		for i := range ds {
			months[monthOf(ds[i].Time)] = true
		}
		for m := range months {
			if err := s.partition(ctx, tx, "decisions", m); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS decisions_in (ord integer,
			call_id text, time timestamptz, tenant text, extension text, caller text, callee text, e164 text,
			country text, type text, direction text, source_ip text, action text, enforced text, shadow boolean,
			risk integer, max_duration integer, rate double precision, reasons json, node text) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"decisions_in"}, decisionColumnNames, pgx.CopyFromSlice(len(ds), func(i int) ([]any, error) {
			d := &ds[i]
			return []any{i, d.CallID, ts(d.Time), d.Tenant, d.Extension, d.Caller, d.Callee, d.E164, d.Country, d.Type,
				d.Direction, d.SourceIP, d.Action, d.Enforced, d.Shadow, d.Risk, d.MaxDuration, d.Rate, nullJSON(d.Reasons), d.Node}, nil
		}))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			WITH firsts AS (
				SELECT DISTINCT ON (call_id) * FROM decisions_in ORDER BY call_id, ord
			), fresh AS (
				INSERT INTO decision_ids (call_id, time) SELECT call_id, time FROM firsts
				ON CONFLICT (call_id) DO NOTHING RETURNING call_id
			)
			INSERT INTO decisions (`+decisionColumns+`)
			SELECT `+prefixed("f.", decisionColumns)+` FROM firsts f JOIN fresh USING (call_id) ORDER BY f.ord`)
		return err
	})
	if err != nil {
		s.forgetPartitions()
		return wrap("append decisions", err)
	}
	return nil
}

func prefixed(p, cols string) string {
	fs := strings.Split(cols, ",")
	for i, f := range fs {
		fs[i] = p + strings.TrimSpace(f)
	}
	return strings.Join(fs, ", ")
}

// forgetPartitions drops the cache of known partitions after a failed
// transaction (one it created may have been rolled back).
func (s *Store) forgetPartitions() {
	s.partMu.Lock()
	clear(s.parts)
	s.partMu.Unlock()
}

// QueryDecisions implements store.Decisions: newest first; From inclusive,
// To exclusive.
func (s *Store) QueryDecisions(ctx context.Context, q store.DecisionQuery) ([]store.Decision, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string { args = append(args, v); return "$" + itoa(len(args)) }
	if q.CallID != "" {
		where = append(where, "call_id = "+arg(q.CallID))
	}
	if q.Tenant != "" {
		where = append(where, "tenant = "+arg(q.Tenant))
	}
	if q.Extension != "" {
		where = append(where, "extension = "+arg(q.Extension))
	}
	if q.Number != "" {
		n := arg(q.Number)
		where = append(where, "(callee = "+n+" OR e164 = "+n+" OR caller = "+n+")")
	}
	if q.Action != "" {
		where = append(where, "action = "+arg(q.Action))
	}
	if !q.From.IsZero() {
		if err := checkTime("query from", q.From); err != nil {
			return nil, err
		}
		where = append(where, "time >= "+arg(ts(q.From)))
	}
	if !q.To.IsZero() {
		if err := checkTime("query to", q.To); err != nil {
			return nil, err
		}
		where = append(where, "time < "+arg(ts(q.To)))
	}
	query := `SELECT ` + decisionColumns + ` FROM decisions`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ` + arg(store.Limit(q.Limit))
	return s.decisions(ctx, "query decisions", query, args...)
}

// DecisionsSince implements store.Decisions: oldest first.
func (s *Store) DecisionsSince(ctx context.Context, since time.Time) ([]store.Decision, error) {
	if err := checkTime("since", since); err != nil {
		return nil, err
	}
	if since.IsZero() {
		return s.decisions(ctx, "decisions since", `SELECT `+decisionColumns+` FROM decisions ORDER BY time, id`)
	}
	return s.decisions(ctx, "decisions since", `SELECT `+decisionColumns+` FROM decisions WHERE time >= $1 ORDER BY time, id`, ts(since))
}

func (s *Store) decisions(ctx context.Context, op, query string, args ...any) ([]store.Decision, error) {
	query = strings.Replace(query, "reasons, node", "reasons::text, node", 1)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.Decision
	for rows.Next() {
		var (
			d       store.Decision
			t       *time.Time
			reasons *string
		)
		if err := rows.Scan(&d.CallID, &t, &d.Tenant, &d.Extension, &d.Caller, &d.Callee, &d.E164, &d.Country, &d.Type,
			&d.Direction, &d.SourceIP, &d.Action, &d.Enforced, &d.Shadow, &d.Risk, &d.MaxDuration, &d.Rate, &reasons, &d.Node); err != nil {
			return nil, wrap(op, err)
		}
		d.Time = fromTS(t)
		if reasons != nil {
			d.Reasons = []byte(*reasons)
		}
		out = append(out, d)
	}
	return out, wrap(op, rows.Err())
}

func checkCallEvent(e *store.CallEvent) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if err := noNUL("call event", e.CallID+e.Type+e.Tenant); err != nil {
		return err
	}
	return checkTime("call event time", e.Time)
}

// AppendCallEvents implements store.Decisions: COPY into a temporary
// table, then one insert that skips (call id, type) pairs already stored.
func (s *Store) AppendCallEvents(ctx context.Context, es []store.CallEvent) error {
	if len(es) == 0 {
		return nil
	}
	for i := range es {
		if err := checkCallEvent(&es[i]); err != nil {
			return err
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS call_events_in (ord integer, call_id text, type text,
			time timestamptz, tenant text, duration integer, cost double precision, international boolean) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"call_events_in"},
			[]string{"ord", "call_id", "type", "time", "tenant", "duration", "cost", "international"},
			pgx.CopyFromSlice(len(es), func(i int) ([]any, error) {
				e := &es[i]
				return []any{i, e.CallID, e.Type, ts(e.Time), e.Tenant, e.Duration, e.Cost, e.International}, nil
			}))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO call_events (call_id, type, time, tenant, duration, cost, international)
			SELECT call_id, type, time, tenant, duration, cost, international FROM
				(SELECT DISTINCT ON (call_id, type) * FROM call_events_in ORDER BY call_id, type, ord) f
			ORDER BY ord
			ON CONFLICT (call_id, type) DO NOTHING`)
		return err
	})
	return wrap("append call events", err)
}

// CallEventsSince implements store.Decisions: oldest first.
func (s *Store) CallEventsSince(ctx context.Context, since time.Time) ([]store.CallEvent, error) {
	if err := checkTime("since", since); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT call_id, type, time, tenant, duration, cost, international
		FROM call_events WHERE $1::timestamptz IS NULL OR time >= $1 ORDER BY time, id`, ts(since))
	if err != nil {
		return nil, wrap("call events since", err)
	}
	defer rows.Close()
	var out []store.CallEvent
	for rows.Next() {
		var e store.CallEvent
		var t *time.Time
		if err := rows.Scan(&e.CallID, &e.Type, &t, &e.Tenant, &e.Duration, &e.Cost, &e.International); err != nil {
			return nil, wrap("call events since", err)
		}
		e.Time = fromTS(t)
		out = append(out, e)
	}
	return out, wrap("call events since", rows.Err())
}

// AuditHash is the hash of an audit entry chained to prev; it is the same
// as store/sqlite's, so a chain can move between the two stores.
func AuditHash(prev string, e store.AuditEntry) string { return sqlite.AuditHash(prev, e) }

// ChainError reports the first audit entry whose hash does not verify.
type ChainError = sqlite.ChainError

// AppendAudit implements store.Audit. The append takes a transaction-wide
// advisory lock and reads the chain's head from audit_head, so entries
// appended by any number of nodes form one chain in id order.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if err := e.Validate(); err != nil {
		return store.AuditEntry{}, err
	}
	if err := checkTime("audit time", e.Time); err != nil {
		return store.AuditEntry{}, err
	}
	if err := noNUL("audit", e.Actor+e.Action+e.Object+string(e.Details)); err != nil {
		return store.AuditEntry{}, err
	}
	e.Time = orNow(e.Time) // microseconds: what is hashed is what is stored
	// The year's partition is made in its own transaction, committed
	// before the append takes the audit lock. Making it inside the append
	// deadlocks either way round: audit lock first, with Retention (which
	// takes the partition lock, then the audit lock); partition first,
	// with another appender that holds the audit lock and whose INSERT
	// waits for the partition's DDL locks.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.partition(ctx, tx, "audit", e.Time)
	})
	if err == nil {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.appendAudit(ctx, tx, &e) })
	}
	if err != nil {
		s.forgetPartitions()
		return store.AuditEntry{}, wrap("append audit", err)
	}
	return e, nil
}

// appendAudit adds e to the hash chain under the audit lock.
func (s *Store) appendAudit(ctx context.Context, tx pgx.Tx, e *store.AuditEntry) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockAudit); err != nil {
		return err
	}
	var prev string
	var last int64
	err := tx.QueryRow(ctx, `SELECT id, hash FROM audit_head`).Scan(&last, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	e.ID = last + 1
	e.Hash = AuditHash(prev, *e)
	if _, err := tx.Exec(ctx, `INSERT INTO audit (id, time, actor, action, object, details, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.ID, ts(e.Time), e.Actor, e.Action, e.Object, nullJSON(e.Details), e.Hash); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_head (id, hash) VALUES ($1, $2)
		ON CONFLICT (one) DO UPDATE SET id = excluded.id, hash = excluded.hash`, e.ID, e.Hash)
	return err
}

const auditColumns = `id, time, actor, action, object, details, hash`

func scanAudit(row pgx.Row) (store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		t       *time.Time
		details *string
	)
	err := row.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Object, &details, &e.Hash)
	e.Time = fromTS(t)
	if details != nil {
		e.Details = []byte(*details)
	}
	return e, err
}

// ListAudit implements store.Audit: in append order.
func (s *Store) ListAudit(ctx context.Context, since time.Time, n int) ([]store.AuditEntry, error) {
	if err := checkTime("since", since); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit WHERE $1::timestamptz IS NULL OR time >= $1 ORDER BY id LIMIT $2`, ts(since), store.Limit(n))
	if err != nil {
		return nil, wrap("list audit", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, wrap("list audit", err)
		}
		out = append(out, e)
	}
	return out, wrap("list audit", rows.Err())
}

// VerifyAudit implements store.Audit: it recomputes the chain from the
// first kept entry (after the anchor left by retention, if any) and
// returns a *ChainError for the first entry that does not match, or when
// ids have a gap.
func (s *Store) VerifyAudit(ctx context.Context) error {
	prev, last := "", int64(0)
	err := s.pool.QueryRow(ctx, `SELECT last_id, hash FROM audit_anchor`).Scan(&last, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return wrap("verify audit", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit WHERE id > $1 ORDER BY id`, last)
	if err != nil {
		return wrap("verify audit", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return wrap("verify audit", err)
		}
		want := AuditHash(prev, e)
		if want != e.Hash || e.ID != last+1 {
			return &ChainError{ID: e.ID, Want: want, Got: e.Hash}
		}
		prev, last = e.Hash, e.ID
	}
	return wrap("verify audit", rows.Err())
}

// Retention drops what is older than the given ages: decision partitions
// (whole months) ending before now-decisions, call events and decision
// ids older than that, and audit partitions (whole years) ending before
// now-audit, keeping the hash of the last dropped audit entry as the
// chain's anchor. A zero age keeps everything of that kind. It returns
// the partitions dropped.
func (s *Store) Retention(ctx context.Context, now time.Time, decisions, audit time.Duration) ([]string, error) {
	var dropped []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockPartition); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockAudit); err != nil {
			return err
		}
		drop := func(table string, before time.Time) error {
			rows, err := tx.Query(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
				FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
				WHERE i.inhparent = $1::regclass ORDER BY c.relname`, table)
			if err != nil {
				return err
			}
			type part struct{ name, bound string }
			var parts []part
			for rows.Next() {
				var p part
				if err := rows.Scan(&p.name, &p.bound); err != nil {
					rows.Close()
					return err
				}
				parts = append(parts, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, p := range parts {
				// FOR VALUES FROM ('…') TO ('…')
				i := strings.LastIndex(p.bound, "TO ('")
				if i < 0 {
					continue
				}
				end, err := time.Parse("2006-01-02 15:04:05-07", strings.TrimSuffix(p.bound[i+5:], "')"))
				if err != nil || end.After(before) {
					continue
				}
				if table == "audit" {
					var id int64
					var hash string
					err := tx.QueryRow(ctx, `SELECT id, hash FROM `+pgx.Identifier{p.name}.Sanitize()+` ORDER BY id DESC LIMIT 1`).Scan(&id, &hash)
					if err == nil {
						if _, err := tx.Exec(ctx, `INSERT INTO audit_anchor (last_id, hash) VALUES ($1, $2)
							ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash
							WHERE audit_anchor.last_id < excluded.last_id`, id, hash); err != nil {
							return err
						}
					} else if !errors.Is(err, pgx.ErrNoRows) {
						return err
					}
				}
				if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{p.name}.Sanitize()); err != nil {
					return fmt.Errorf("drop %s: %w", p.name, err)
				}
				dropped = append(dropped, p.name)
			}
			return nil
		}
		if decisions > 0 {
			before := now.Add(-decisions)
			if err := drop("decisions", before); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM decision_ids WHERE time < $1`, ts(monthOf(before))); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM call_events WHERE time < $1`, ts(before)); err != nil {
				return err
			}
		}
		if audit > 0 {
			if err := drop("audit", now.Add(-audit)); err != nil {
				return err
			}
		}
		return nil
	})
	s.forgetPartitions()
	if err != nil {
		return nil, wrap("retention", err)
	}
	return dropped, nil
}
