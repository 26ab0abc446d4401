package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
)

// migrations holds the schema, one step per version; steps are only ever
// appended. Decisions and the audit log are partitioned by time (decisions
// by month, audit by year) so retention drops whole partitions.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE blocks (
	id         bigserial PRIMARY KEY,
	tenant     text NOT NULL DEFAULT '',
	kind       text NOT NULL CHECK (kind IN ('number', 'prefix', 'extension', 'ip')),
	value      text NOT NULL CHECK (value <> ''),
	scope      text NOT NULL DEFAULT '',
	reason     text NOT NULL DEFAULT '',
	source     text NOT NULL DEFAULT '',
	created_by text NOT NULL DEFAULT '',
	created    timestamptz NOT NULL,
	expires    timestamptz
);
CREATE INDEX blocks_expires ON blocks (expires);

CREATE TABLE kill_switches (
	tenant text PRIMARY KEY,
	active boolean NOT NULL,
	reason text NOT NULL DEFAULT '',
	set_by text NOT NULL DEFAULT '',
	since  timestamptz NOT NULL
);

-- One row per call id: the first decision for a call wins, whichever node
-- wrote it (a unique index on a partitioned table must include the
-- partition key, so uniqueness lives here).
CREATE TABLE decision_ids (
	call_id text PRIMARY KEY,
	time    timestamptz NOT NULL
);
CREATE INDEX decision_ids_time ON decision_ids (time);

CREATE TABLE decisions (
	id           bigint GENERATED ALWAYS AS IDENTITY,
	call_id      text NOT NULL,
	time         timestamptz NOT NULL,
	tenant       text NOT NULL DEFAULT '',
	extension    text NOT NULL DEFAULT '',
	caller       text NOT NULL DEFAULT '',
	callee       text NOT NULL DEFAULT '',
	e164         text NOT NULL DEFAULT '',
	country      text NOT NULL DEFAULT '',
	type         text NOT NULL DEFAULT '',
	direction    text NOT NULL DEFAULT '',
	source_ip    text NOT NULL DEFAULT '',
	action       text NOT NULL DEFAULT '',
	enforced     text NOT NULL DEFAULT '',
	shadow       boolean NOT NULL DEFAULT false,
	risk         integer NOT NULL DEFAULT 0,
	max_duration integer NOT NULL DEFAULT 0,
	rate         double precision NOT NULL DEFAULT 0,
	reasons      json,
	node         text NOT NULL DEFAULT ''
) PARTITION BY RANGE (time);
CREATE INDEX decisions_time ON decisions (time);
CREATE INDEX decisions_call_id ON decisions (call_id);
CREATE INDEX decisions_tenant_extension ON decisions (tenant, extension, time);
CREATE INDEX decisions_e164 ON decisions (e164, time);

CREATE TABLE call_events (
	id            bigserial PRIMARY KEY,
	call_id       text NOT NULL,
	type          text NOT NULL,
	time          timestamptz NOT NULL,
	tenant        text NOT NULL DEFAULT '',
	duration      integer NOT NULL DEFAULT 0,
	cost          double precision NOT NULL DEFAULT 0,
	international boolean NOT NULL DEFAULT false,
	UNIQUE (call_id, type)
);
CREATE INDEX call_events_time ON call_events (time);

CREATE TABLE alerts (
	id        bigserial PRIMARY KEY,
	time      timestamptz NOT NULL,
	tenant    text NOT NULL DEFAULT '',
	extension text NOT NULL DEFAULT '',
	severity  text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
	code      text NOT NULL,
	text      text NOT NULL DEFAULT '',
	status    text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
	details   json
);
CREATE INDEX alerts_time ON alerts (time);
CREATE INDEX alerts_status_time ON alerts (status, time);

CREATE TABLE audit (
	id      bigint NOT NULL,
	time    timestamptz NOT NULL,
	actor   text NOT NULL,
	action  text NOT NULL,
	object  text NOT NULL DEFAULT '',
	details text,
	hash    text NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX audit_id ON audit (id);
CREATE INDEX audit_time ON audit (time);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit log is append-only';
END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
-- The head of the chain: the last id and hash, updated in the same
-- transaction as each append under an advisory lock, so appends from any
-- node extend one chain in one order.
CREATE TABLE audit_head (
	one  boolean PRIMARY KEY DEFAULT true CHECK (one),
	id   bigint NOT NULL,
	hash text NOT NULL
);
-- When retention drops old audit partitions, the hash of the last entry
-- dropped is kept here so the rest of the chain still verifies.
CREATE TABLE audit_anchor (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	last_id bigint NOT NULL,
	hash    text NOT NULL
);

CREATE TABLE tokens (
	name    text PRIMARY KEY,
	role    text NOT NULL,
	hash    text NOT NULL,
	created timestamptz NOT NULL
);
`,
	// 2: API tokens expire, are revoked and record their last use.
	`
ALTER TABLE tokens ADD COLUMN expires timestamptz;
ALTER TABLE tokens ADD COLUMN revoked timestamptz;
ALTER TABLE tokens ADD COLUMN last_used timestamptz;
`,
}

// Advisory lock keys (arbitrary, fixed).
const (
	lockAudit     = 7_161_502
	lockPartition = 7_161_503
)

// schema is this store's tables and their version record.
var schema = pgschema.Schema{Name: "database", VersionTable: "schema_version", Lock: pgschema.LockRecords, Steps: migrations}

// migrate applies the missing schema steps, one node at a time.
func (s *Store) migrate(ctx context.Context) error { return schema.Migrate(ctx, s.pool) }

// monthOf returns the first instant of t's UTC month.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func yearOf(t time.Time) time.Time {
	return time.Date(t.UTC().Year(), 1, 1, 0, 0, 0, 0, time.UTC)
}

// partition makes sure the partition of table holding t exists: monthly
// for decisions, yearly for audit. Partitions already seen are cached.
func (s *Store) partition(ctx context.Context, q querier, table string, t time.Time) error {
	var from, to time.Time
	var name string
	if table == "audit" {
		from = yearOf(t)
		to = from.AddDate(1, 0, 0)
		name = fmt.Sprintf("audit_y%04d", from.Year())
	} else {
		from = monthOf(t)
		to = from.AddDate(0, 1, 0)
		name = fmt.Sprintf("%s_y%04dm%02d", table, from.Year(), from.Month())
	}
	s.partMu.Lock()
	known := s.parts[name]
	s.partMu.Unlock()
	if known {
		return nil
	}
	// Two nodes may create the same partition at once: serialize creation.
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockPartition); err != nil {
		return err
	}
	sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
		name, table, from.Format(time.RFC3339), to.Format(time.RFC3339))
	if _, err := q.Exec(ctx, sql); err != nil {
		return fmt.Errorf("partition %s: %w", name, err)
	}
	s.partMu.Lock()
	s.parts[name] = true
	s.partMu.Unlock()
	return nil
}
