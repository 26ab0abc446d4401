package sqlite

// migrations holds the schema, one step per version: migrations[i] takes the
// database from version i to version i+1. Steps are only ever appended; a
// released step is never edited.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE blocks (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant     TEXT NOT NULL DEFAULT '',
	kind       TEXT NOT NULL CHECK (kind IN ('number', 'prefix', 'extension', 'ip')),
	value      TEXT NOT NULL CHECK (value <> ''),
	scope      TEXT NOT NULL DEFAULT '',
	reason     TEXT NOT NULL DEFAULT '',
	source     TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL DEFAULT '',
	created    INTEGER NOT NULL,
	expires    INTEGER
);
CREATE INDEX blocks_expires ON blocks (expires);

CREATE TABLE kill_switches (
	tenant TEXT PRIMARY KEY,
	active INTEGER NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	set_by TEXT NOT NULL DEFAULT '',
	since  INTEGER NOT NULL
);

CREATE TABLE decisions (
	id           INTEGER PRIMARY KEY,
	call_id      TEXT NOT NULL UNIQUE,
	time         INTEGER NOT NULL,
	tenant       TEXT NOT NULL DEFAULT '',
	extension    TEXT NOT NULL DEFAULT '',
	caller       TEXT NOT NULL DEFAULT '',
	callee       TEXT NOT NULL DEFAULT '',
	e164         TEXT NOT NULL DEFAULT '',
	country      TEXT NOT NULL DEFAULT '',
	type         TEXT NOT NULL DEFAULT '',
	direction    TEXT NOT NULL DEFAULT '',
	source_ip    TEXT NOT NULL DEFAULT '',
	action       TEXT NOT NULL DEFAULT '',
	enforced     TEXT NOT NULL DEFAULT '',
	shadow       INTEGER NOT NULL DEFAULT 0,
	risk         INTEGER NOT NULL DEFAULT 0,
	max_duration INTEGER NOT NULL DEFAULT 0,
	rate         REAL NOT NULL DEFAULT 0,
	reasons      TEXT,
	node         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX decisions_time ON decisions (time);
CREATE INDEX decisions_tenant_extension ON decisions (tenant, extension, time);
CREATE INDEX decisions_e164 ON decisions (e164, time);

CREATE TABLE call_events (
	id            INTEGER PRIMARY KEY,
	call_id       TEXT NOT NULL,
	type          TEXT NOT NULL,
	time          INTEGER NOT NULL,
	tenant        TEXT NOT NULL DEFAULT '',
	duration      INTEGER NOT NULL DEFAULT 0,
	cost          REAL NOT NULL DEFAULT 0,
	international INTEGER NOT NULL DEFAULT 0,
	UNIQUE (call_id, type)
);
CREATE INDEX call_events_time ON call_events (time);

CREATE TABLE alerts (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	time      INTEGER NOT NULL,
	tenant    TEXT NOT NULL DEFAULT '',
	extension TEXT NOT NULL DEFAULT '',
	severity  TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
	code      TEXT NOT NULL,
	text      TEXT NOT NULL DEFAULT '',
	status    TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
	details   TEXT
);
CREATE INDEX alerts_time ON alerts (time);
CREATE INDEX alerts_status_time ON alerts (status, time);
CREATE INDEX alerts_tenant_time ON alerts (tenant, time);

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time    INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	object  TEXT NOT NULL DEFAULT '',
	details TEXT,
	hash    TEXT NOT NULL
);
CREATE INDEX audit_time ON audit (time);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TABLE tokens (
	name    TEXT PRIMARY KEY,
	role    TEXT NOT NULL,
	hash    TEXT NOT NULL,
	created INTEGER NOT NULL
);
`,
	// 2: decisions_e164 served no query (a number search matches caller,
	// callee or e164, which SQLite answers from the time index), yet cost
	// every logged decision a B-tree insert on the call-setup path.
	`DROP INDEX IF EXISTS decisions_e164;`,
	// 3: API tokens expire, are revoked and record their last use.
	`
ALTER TABLE tokens ADD COLUMN expires INTEGER;
ALTER TABLE tokens ADD COLUMN revoked INTEGER;
ALTER TABLE tokens ADD COLUMN last_used INTEGER;
`,
}

// recordsSchema is tollgate.db's records tables; its version table is
// the file's first, before other domains shared the file.
var recordsSchema = schema{name: "records", versionTable: "schema_version", steps: migrations}
