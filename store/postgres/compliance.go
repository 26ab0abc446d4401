package postgres

// Compliance keeps opt-outs and consent records in the cluster's
// PostgreSQL database, so an opt-out recorded through one node is known to
// every node. It behaves as sqlite.Compliance does: the same validation,
// the same record fields, times kept as Unix nanoseconds (so they
// round-trip exactly) and a version counter raised in every changing
// transaction, which compliance.Live polls to know when to reload.

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
)

var _ compliance.Store = (*Compliance)(nil)

// migrations holds the schema, one step per version; steps are only ever
// appended. The version lives in its own table so these tables can share
// a database with the other domains of store/postgres.
var complianceMigrations = []string{
	// 1: initial schema.
	`
CREATE TABLE compliance_opt_outs (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant  text NOT NULL DEFAULT '',
	number  text NOT NULL CHECK (number <> ''),
	reason  text NOT NULL DEFAULT '',
	source  text NOT NULL DEFAULT '',
	by_whom text NOT NULL DEFAULT '',
	time_ns bigint NOT NULL
);
CREATE INDEX compliance_opt_outs_number ON compliance_opt_outs (number, tenant);

CREATE TABLE compliance_consents (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant     text NOT NULL,
	number     text NOT NULL CHECK (number <> ''),
	type       text NOT NULL,
	source     text NOT NULL,
	time_ns    bigint NOT NULL,
	expires_ns bigint,
	by_whom    text NOT NULL DEFAULT '',
	created_ns bigint NOT NULL
);
CREATE INDEX compliance_consents_number ON compliance_consents (number, tenant);

-- One row, raised in every transaction that changes the records.
CREATE TABLE compliance_version (
	id integer PRIMARY KEY CHECK (id = 1),
	v  bigint NOT NULL
);
INSERT INTO compliance_version (id, v) VALUES (1, 0);
`,
}

// Compliance is a compliance.Store on a PostgreSQL database; several
// nodes may share it.
type Compliance struct {
	pool *pgxpool.Pool
}

// NewCompliance builds the store on pool, which the caller keeps: Close
// leaves it open (a cluster node shares one pool among its stores). It
// brings the compliance tables up to date; several nodes may do so at
// once.
func NewCompliance(ctx context.Context, pool *pgxpool.Pool) (*Compliance, error) {
	if err := onPool(ctx, "compliance/postgres", pool, complianceSchema); err != nil {
		return nil, err
	}
	return &Compliance{pool: pool}, nil
}

// complianceSchema is this store's tables and their version record.
var complianceSchema = pgschema.Schema{Name: "compliance", VersionTable: "compliance_schema_version", Lock: pgschema.LockCompliance, Steps: complianceMigrations}

// Close does nothing: the pool belongs to the caller.
func (s *Compliance) Close() error { return nil }

func optNanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromOptNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// write runs f and raises the version in one transaction, so a reader
// that sees the new version also sees the change.
func (s *Compliance) write(ctx context.Context, f func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := f(tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE compliance_version SET v = v + 1 WHERE id = 1`)
		return err
	})
}

// AddOptOut implements compliance.Store.
func (s *Compliance) AddOptOut(ctx context.Context, o compliance.OptOut) (compliance.OptOut, error) {
	if err := o.Normalize(time.Now()); err != nil {
		return o, err
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO compliance_opt_outs (tenant, number, reason, source, by_whom, time_ns) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`,
			o.Tenant, o.Number, o.Reason, o.Source, o.By, o.Time.UnixNano()).Scan(&o.ID)
	})
	return o, err
}

const optOutCols = `id, tenant, number, reason, source, by_whom, time_ns`

func scanOptOuts(rows pgx.Rows) ([]compliance.OptOut, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (compliance.OptOut, error) {
		var o compliance.OptOut
		var t int64
		err := r.Scan(&o.ID, &o.Tenant, &o.Number, &o.Reason, &o.Source, &o.By, &t)
		o.Time = time.Unix(0, t).UTC()
		return o, err
	})
}

// RemoveOptOut implements compliance.Store.
func (s *Compliance) RemoveOptOut(ctx context.Context, tenant, number string) ([]compliance.OptOut, error) {
	var out []compliance.OptOut
	err := s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM compliance_opt_outs WHERE number = $1 AND tenant = $2 RETURNING `+optOutCols, number, tenant)
		if err != nil {
			return err
		}
		if out, err = scanOptOuts(rows); err != nil {
			return err
		}
		if len(out) == 0 {
			return compliance.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// DELETE … RETURNING gives no order; callers see them as SQLite
	// lists them, oldest first.
	slices.SortFunc(out, func(a, b compliance.OptOut) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// OptOuts implements compliance.Store.
func (s *Compliance) OptOuts(ctx context.Context) ([]compliance.OptOut, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+optOutCols+` FROM compliance_opt_outs ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return scanOptOuts(rows)
}

// AddConsent implements compliance.Store.
func (s *Compliance) AddConsent(ctx context.Context, c compliance.Consent) (compliance.Consent, error) {
	if err := c.Normalize(time.Now()); err != nil {
		return c, err
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO compliance_consents (tenant, number, type, source, time_ns, expires_ns, by_whom, created_ns) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id`,
			c.Tenant, c.Number, c.Type, c.Source, c.Time.UnixNano(), optNanos(c.Expires), c.By, c.Created.UnixNano()).Scan(&c.ID)
	})
	return c, err
}

// Consents implements compliance.Store. A negative Limit returns every
// record; zero returns at most 100.
func (s *Compliance) Consents(ctx context.Context, q compliance.ConsentQuery) ([]compliance.Consent, error) {
	query := `SELECT id, tenant, number, type, source, time_ns, expires_ns, by_whom, created_ns FROM compliance_consents
		WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR number = $2) ORDER BY id DESC`
	args := []any{q.Tenant, q.Number}
	if q.Limit >= 0 {
		n := q.Limit
		if n == 0 {
			n = 100
		}
		query += ` LIMIT $3`
		args = append(args, min(n, 10000))
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (compliance.Consent, error) {
		var c compliance.Consent
		var t, cr int64
		var e *int64
		err := r.Scan(&c.ID, &c.Tenant, &c.Number, &c.Type, &c.Source, &t, &e, &c.By, &cr)
		c.Time, c.Expires, c.Created = time.Unix(0, t).UTC(), fromOptNanos(e), time.Unix(0, cr).UTC()
		return c, err
	})
}

// Version implements compliance.Store: one primary-key read, cheap enough
// to ask every second on every node.
func (s *Compliance) Version(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT v FROM compliance_version WHERE id = 1`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
