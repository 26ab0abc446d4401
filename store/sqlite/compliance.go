package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tollgate-voip/tollgate/compliance"
)

var _ compliance.Store = (*Compliance)(nil)

// complianceSchema is compliance.db's schema.
const complianceSchema = `
CREATE TABLE IF NOT EXISTS opt_outs (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant TEXT NOT NULL DEFAULT '',
	number TEXT NOT NULL CHECK (number <> ''),
	reason TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL DEFAULT '',
	by     TEXT NOT NULL DEFAULT '',
	time   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS opt_outs_number ON opt_outs (number, tenant);
CREATE TABLE IF NOT EXISTS consents (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant  TEXT NOT NULL,
	number  TEXT NOT NULL CHECK (number <> ''),
	type    TEXT NOT NULL,
	source  TEXT NOT NULL,
	time    INTEGER NOT NULL,
	expires INTEGER,
	by      TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_number ON consents (number, tenant);
CREATE TABLE IF NOT EXISTS version (id INTEGER PRIMARY KEY CHECK (id = 1), v INTEGER NOT NULL);
INSERT OR IGNORE INTO version (id, v) VALUES (1, 0);
`

// complianceFile is compliance.db's tables; step 1 creates them only
// where missing, as the files made before the schema was versioned
// already hold them.
var complianceFile = schema{name: "compliance", versionTable: "compliance_schema", steps: []string{complianceSchema}}

// Compliance keeps opt-outs and consent records in an SQLite file (WAL
// mode), which several processes may open at once: a compliance.Store.
type Compliance struct{ file }

// OpenCompliance opens (creating if needed) the database at path.
func OpenCompliance(path string) (*Compliance, error) {
	f, err := openFile("compliance/sqlite", path, complianceFile, fileOptions{})
	if err != nil {
		return nil, err
	}
	return &Compliance{f}, nil
}

// write runs f in a transaction that raises the data version.
func (s *Compliance) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	return s.file.write(ctx, `UPDATE version SET v = v + 1 WHERE id = 1`, f)
}

// AddOptOut implements compliance.Store.
func (s *Compliance) AddOptOut(ctx context.Context, o compliance.OptOut) (compliance.OptOut, error) {
	if err := o.Normalize(time.Now()); err != nil {
		return o, err
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO opt_outs (tenant, number, reason, source, by, time) VALUES (?, ?, ?, ?, ?, ?)`,
			o.Tenant, o.Number, o.Reason, o.Source, o.By, o.Time.UnixNano())
		if err != nil {
			return err
		}
		o.ID, err = r.LastInsertId()
		return err
	})
	return o, err
}

// RemoveOptOut implements compliance.Store.
func (s *Compliance) RemoveOptOut(ctx context.Context, tenant, number string) ([]compliance.OptOut, error) {
	var out []compliance.OptOut
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, tenant, number, reason, source, by, time FROM opt_outs WHERE number = ? AND tenant = ?`, number, tenant)
		if err != nil {
			return err
		}
		out, err = scanOptOuts(rows)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			return compliance.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM opt_outs WHERE number = ? AND tenant = ?`, number, tenant)
		return err
	})
	return out, err
}

func scanOptOuts(rows *sql.Rows) ([]compliance.OptOut, error) {
	defer rows.Close()
	var out []compliance.OptOut
	for rows.Next() {
		var o compliance.OptOut
		var t sql.NullInt64
		if err := rows.Scan(&o.ID, &o.Tenant, &o.Number, &o.Reason, &o.Source, &o.By, &t); err != nil {
			return nil, err
		}
		o.Time = fromNanos(t)
		out = append(out, o)
	}
	return out, rows.Err()
}

// OptOuts implements compliance.Store.
func (s *Compliance) OptOuts(ctx context.Context) ([]compliance.OptOut, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant, number, reason, source, by, time FROM opt_outs ORDER BY id`)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO consents (tenant, number, type, source, time, expires, by, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Tenant, c.Number, c.Type, c.Source, c.Time.UnixNano(), nanos(c.Expires), c.By, c.Created.UnixNano())
		if err != nil {
			return err
		}
		c.ID, err = r.LastInsertId()
		return err
	})
	return c, err
}

// Consents implements compliance.Store. A negative Limit returns every
// record; zero returns at most 100.
func (s *Compliance) Consents(ctx context.Context, q compliance.ConsentQuery) ([]compliance.Consent, error) {
	query := `SELECT id, tenant, number, type, source, time, expires, by, created FROM consents WHERE (? = '' OR tenant = ?) AND (? = '' OR number = ?) ORDER BY id DESC`
	args := []any{q.Tenant, q.Tenant, q.Number, q.Number}
	if q.Limit >= 0 {
		n := q.Limit
		if n == 0 {
			n = 100
		}
		query += ` LIMIT ?`
		args = append(args, min(n, 10000))
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []compliance.Consent
	for rows.Next() {
		var c compliance.Consent
		var t, e, cr sql.NullInt64
		if err := rows.Scan(&c.ID, &c.Tenant, &c.Number, &c.Type, &c.Source, &t, &e, &c.By, &cr); err != nil {
			return nil, err
		}
		c.Time, c.Expires, c.Created = fromNanos(t), fromNanos(e), fromNanos(cr)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Version implements compliance.Store.
func (s *Compliance) Version(ctx context.Context) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT v FROM version WHERE id = 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
