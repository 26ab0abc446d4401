package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/internal/sqlq"
	"github.com/tollgate-voip/tollgate/reputation"
)

var (
	_ reputation.Store          = (*Reputation)(nil)
	_ reputation.Versioned      = (*Reputation)(nil)
	_ reputation.BatchUpserter  = (*Reputation)(nil)
	_ reputation.KnownGoodStore = (*Reputation)(nil)
	_ honeypot.EventStore       = (*Reputation)(nil)
)

// Reputation keeps reputation entries, bans, lockouts and honeypot events
// in PostgreSQL: the shared store of cluster mode, so a ban or an entry
// set on one node is in every node's next refresh. It behaves as
// store/sqlite.Reputation does (same merge, canonical values, expiry,
// purge and ban counts) and owns its own tables, versioned under their
// own schema table.
//
// Times are kept as Unix nanoseconds (bigint), as in SQLite, so they
// round-trip exactly. Text that comes from the network or from operators
// unchecked (reasons, ban sources, lockout subjects, the SIP fields of
// honeypot events) is kept as bytea: PostgreSQL's text refuses NUL bytes
// and invalid UTF-8, which a scanner's headers may well hold, and an
// event batch must not be lost to one odd byte.
type Reputation struct {
	pool *pgxpool.Pool
}

// reputationMigrations holds the reputation schema, one step per
// version; steps are only ever appended.
var reputationMigrations = []string{
	// 1: entries, bans, lockouts, honeypot events.
	`
CREATE TABLE reputation_entries (
	kind          text NOT NULL CHECK (kind IN ('ip', 'number', 'range', 'ua')),
	value         text NOT NULL CHECK (value <> ''),
	source        text NOT NULL,
	reason        bytea NOT NULL DEFAULT '',
	first_seen_ns bigint NOT NULL,
	last_seen_ns  bigint NOT NULL,
	hits          bigint NOT NULL,
	score         integer NOT NULL,
	expires_ns    bigint,
	PRIMARY KEY (kind, value)
);
CREATE INDEX reputation_entries_expires ON reputation_entries (expires_ns);

CREATE TABLE reputation_bans (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ip         text NOT NULL,
	reason     bytea NOT NULL DEFAULT '',
	source     bytea NOT NULL DEFAULT '',
	created_ns bigint NOT NULL,
	expires_ns bigint NOT NULL,
	level      integer NOT NULL DEFAULT 0,
	released   boolean NOT NULL DEFAULT false
);
CREATE INDEX reputation_bans_ip ON reputation_bans (ip);
CREATE INDEX reputation_bans_expires ON reputation_bans (expires_ns);

CREATE TABLE reputation_lockouts (
	kind     text NOT NULL,
	subject  bytea NOT NULL,
	reason   bytea NOT NULL DEFAULT '',
	failures integer NOT NULL,
	since_ns bigint NOT NULL,
	until_ns bigint NOT NULL,
	PRIMARY KEY (kind, subject)
);

CREATE TABLE honeypot_events (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time_ns     bigint NOT NULL,
	kind        text NOT NULL,
	source_ip   text NOT NULL,
	source_port integer NOT NULL,
	transport   text NOT NULL,
	method      bytea NOT NULL DEFAULT '',
	user_agent  bytea NOT NULL DEFAULT '',
	from_uri    bytea NOT NULL DEFAULT '',
	to_uri      bytea NOT NULL DEFAULT '',
	request_uri bytea NOT NULL DEFAULT '',
	call_id     bytea NOT NULL DEFAULT '',
	dialed      bytea NOT NULL DEFAULT '',
	e164        bytea NOT NULL DEFAULT '',
	username    bytea NOT NULL DEFAULT '',
	password    bytea NOT NULL DEFAULT '',
	digits      bytea NOT NULL DEFAULT '',
	detail      bytea NOT NULL DEFAULT '',
	message     bytea
);
CREATE INDEX honeypot_events_time ON honeypot_events (time_ns);
CREATE INDEX honeypot_events_ip ON honeypot_events (source_ip, time_ns);
`,
	// 2: one row raised in every transaction that changes entries, bans
	// or lockouts, so each node can tell cheaply whether to re-read.
	`
CREATE TABLE reputation_version (
	id integer PRIMARY KEY CHECK (id = 1),
	v  bigint NOT NULL
);
INSERT INTO reputation_version (id, v) VALUES (1, 0);
`,
	// 3: keys of writes a node buffered while the database was away, so
	// that replaying them (again, after a crash) has no second effect.
	`
ALTER TABLE reputation_bans ADD COLUMN client_key text;
CREATE UNIQUE INDEX reputation_bans_client_key ON reputation_bans (client_key);
CREATE TABLE reputation_applied (
	key        text PRIMARY KEY,
	applied_ns bigint NOT NULL
);
CREATE INDEX reputation_applied_time ON reputation_applied (applied_ns);
`,
	// 4: learned entries carry a status and their evidence (JSON). Numbers
	// the honeypot learned before were learned from one unproven datagram:
	// they become suspected.
	`
ALTER TABLE reputation_entries ADD COLUMN status text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'suspected'));
ALTER TABLE reputation_entries ADD COLUMN evidence bytea;
UPDATE reputation_entries SET status = 'suspected' WHERE source = 'honeypot' AND kind IN ('number', 'range');
`,
	// 5: a lockout names the sources it allows (comma-separated).
	`
ALTER TABLE reputation_lockouts ADD COLUMN allowed text NOT NULL DEFAULT '';
`,
	// 6: a lockout may name its tenant ('' : the username in every
	// tenant), so the key takes the tenant; sources known to be an
	// account's own are kept here, for every node and the next start.
	`
ALTER TABLE reputation_lockouts ADD COLUMN tenant bytea NOT NULL DEFAULT '';
ALTER TABLE reputation_lockouts DROP CONSTRAINT reputation_lockouts_pkey;
ALTER TABLE reputation_lockouts ADD PRIMARY KEY (kind, tenant, subject);

CREATE TABLE reputation_known_good (
	tenant  bytea NOT NULL,
	account bytea NOT NULL,
	source  text NOT NULL,
	last_ns bigint NOT NULL,
	PRIMARY KEY (tenant, account, source)
);
CREATE INDEX reputation_known_good_account ON reputation_known_good (account, last_ns);
CREATE INDEX reputation_known_good_last ON reputation_known_good (last_ns);
`,
}

// NewReputation builds the reputation store on pool, which the caller
// keeps: Close leaves it open. It brings the reputation tables up to
// date; several nodes may do so at once.
func NewReputation(ctx context.Context, pool *pgxpool.Pool) (*Reputation, error) {
	if err := onPool(ctx, "reputation/postgres", pool, reputationSchema); err != nil {
		return nil, err
	}
	return &Reputation{pool: pool}, nil
}

// reputationSchema is the reputation tables and their version record.
var reputationSchema = pgschema.Schema{Name: "reputation", VersionTable: "reputation_schema_version", Lock: pgschema.LockReputation, Steps: reputationMigrations}

// Close does nothing: the pool belongs to the caller.
func (db *Reputation) Close() error { return nil }

// write runs f in a transaction and raises the version in it, so a node
// that reads the new version also reads the change; when f fails the
// transaction is rolled back and the version stays.
func (db *Reputation) write(ctx context.Context, f func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := f(tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE reputation_version SET v = v + 1 WHERE id = 1`)
		return err
	})
}

// errNoChange rolls back a write that changed nothing (the version stays).
var errNoChange = errors.New("nothing changed")

// Version implements reputation.Versioned: one primary-key read, cheap
// enough to ask every second on every node.
func (db *Reputation) Version(ctx context.Context) (int64, error) {
	var v int64
	err := db.pool.QueryRow(ctx, `SELECT v FROM reputation_version WHERE id = 1`).Scan(&v)
	return v, err
}

// storable reports whether PostgreSQL's text can hold s. A filter that
// it cannot hold matches nothing stored (and must not become an error,
// as it is not one in SQLite).
func storable(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

// raw is s as bytea (never NULL, which a nil slice would be).
func raw(s string) []byte { return append([]byte{}, s...) }

// Upsert implements reputation.Store.
func (db *Reputation) Upsert(ctx context.Context, e reputation.Entry) (reputation.Entry, error) {
	if err := reputation.Normalize(&e, time.Now()); err != nil {
		return e, err
	}
	var out reputation.Entry
	err := db.write(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = upsertEntry(ctx, tx, e)
		return err
	})
	if err != nil {
		return e, err
	}
	return out, nil
}

// UpsertBatch implements reputation.BatchUpserter: every entry merged in
// one transaction. Rows are locked in (kind, value) order, so two nodes
// folding overlapping batches cannot deadlock.
func (db *Reputation) UpsertBatch(ctx context.Context, es []reputation.Entry) error {
	if len(es) == 0 {
		return nil
	}
	norm, err := reputation.NormalizeBatch(es, time.Now())
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		for _, e := range norm {
			if _, err := upsertEntry(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// upsertEntry merges the normalized entry e into its row under the row's lock,
// so concurrent sightings from several nodes all count. A row that does
// not exist yet cannot be locked, so it is inserted; if another node
// inserted it first (the insert waits for that node's commit), its row is
// locked and merged into.
func upsertEntry(ctx context.Context, tx pgx.Tx, e reputation.Entry) (reputation.Entry, error) {
	for {
		old, err := scanRepEntry(tx.QueryRow(ctx, `SELECT `+repEntryCols+` FROM reputation_entries WHERE kind=$1 AND value=$2 FOR UPDATE`, e.Kind, e.Value))
		if err == nil {
			m := reputation.Merge(old, e)
			ev, err := reputation.EncodeEvidence(m.Evidence)
			if err != nil {
				return e, err
			}
			_, err = tx.Exec(ctx, `UPDATE reputation_entries SET source=$3, reason=$4, first_seen_ns=$5, last_seen_ns=$6, hits=$7, score=$8, expires_ns=$9,
				status=$10, evidence=$11 WHERE kind=$1 AND value=$2`,
				m.Kind, m.Value, m.Source, raw(m.Reason), m.FirstSeen.UnixNano(), m.LastSeen.UnixNano(), m.Hits, m.Score, optNanos(m.Expires), m.Status, ev)
			return m, err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return e, err
		}
		ev, err := reputation.EncodeEvidence(e.Evidence)
		if err != nil {
			return e, err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO reputation_entries (`+repEntryCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
			ON CONFLICT (kind, value) DO NOTHING`,
			e.Kind, e.Value, e.Source, raw(e.Reason), e.FirstSeen.UnixNano(), e.LastSeen.UnixNano(), e.Hits, e.Score, optNanos(e.Expires), e.Status, ev)
		if err != nil {
			return e, err
		}
		if tag.RowsAffected() == 1 {
			return e, nil
		}
	}
}

const repEntryCols = `kind, value, source, reason, first_seen_ns, last_seen_ns, hits, score, expires_ns, status, evidence`

func scanRepEntry(r sqlq.Scanner) (reputation.Entry, error) {
	var e reputation.Entry
	var reason []byte
	var first, last int64
	var exp *int64
	var ev []byte
	if err := r.Scan(&e.Kind, &e.Value, &e.Source, &reason, &first, &last, &e.Hits, &e.Score, &exp, &e.Status, &ev); err != nil {
		return e, err
	}
	e.Reason = string(reason)
	e.FirstSeen, e.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
	if exp != nil {
		e.Expires = time.Unix(0, *exp).UTC()
	}
	var err error
	if e.Evidence, err = reputation.DecodeEvidence(ev); err != nil {
		return e, fmt.Errorf("reputation/postgres: evidence of %s %s: %w", e.Kind, e.Value, err)
	}
	return e, nil
}

// Get implements reputation.Store.
func (db *Reputation) Get(ctx context.Context, kind, value string) (reputation.Entry, error) {
	k, v, err := reputation.Canonical(kind, value)
	if err != nil {
		return reputation.Entry{}, err
	}
	e, err := scanRepEntry(db.pool.QueryRow(ctx, `SELECT `+repEntryCols+` FROM reputation_entries WHERE kind=$1 AND value=$2`, k, v))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("%w: %s %s", reputation.ErrNotFound, k, v)
	}
	return e, err
}

// Remove implements reputation.Store.
func (db *Reputation) Remove(ctx context.Context, kind, value string) error {
	k, v, err := reputation.Canonical(kind, value)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM reputation_entries WHERE kind=$1 AND value=$2`, k, v)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s %s", reputation.ErrNotFound, k, v)
		}
		return nil
	})
}

// List implements reputation.Store. Ties are ordered byte-wise, as in
// SQLite, whatever the database's collation.
func (db *Reputation) List(ctx context.Context, q reputation.Query) ([]reputation.Entry, error) {
	if !storable(q.Kind) || !storable(q.Source) || !storable(q.Status) {
		return nil, nil
	}
	w := sqlq.Dollar()
	w.AndIf(q.Kind != "", "kind = ?", q.Kind)
	w.AndIf(q.Source != "", "source = ?", q.Source)
	w.AndIf(q.Status != "", "status = ?", q.Status)
	w.AndIf(!q.Now.IsZero(), "(expires_ns IS NULL OR expires_ns > ?)", q.Now.UnixNano())
	s := `SELECT ` + repEntryCols + ` FROM reputation_entries` + w.String() + ` ORDER BY last_seen_ns DESC, kind COLLATE "C", value COLLATE "C"` + sqlq.Limit(q.Limit, 0, math.MaxInt)
	rows, err := db.pool.Query(ctx, s, w.Args...)
	return sqlq.Collect(rows, err, scanRepEntry)
}

// Purge deletes entries that expired before now and bans that ended
// before keepBans ago; it returns how many rows went. Several nodes may
// purge at once: each row goes once. The version moves only when a row
// went.
func (db *Reputation) Purge(ctx context.Context, now time.Time, keepBans time.Duration) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		t1, err := tx.Exec(ctx, `DELETE FROM reputation_entries WHERE expires_ns IS NOT NULL AND expires_ns <= $1`, now.UnixNano())
		if err != nil {
			return err
		}
		t2, err := tx.Exec(ctx, `DELETE FROM reputation_bans WHERE expires_ns <= $1`, now.Add(-keepBans).UnixNano())
		if err != nil {
			return err
		}
		// Replay keys are kept as long as ended bans are: a node's buffer
		// older than that is not replayed twice in practice.
		t3, err := tx.Exec(ctx, `DELETE FROM reputation_applied WHERE applied_ns <= $1`, now.Add(-keepBans).UnixNano())
		if err != nil {
			return err
		}
		if n = t1.RowsAffected() + t2.RowsAffected() + t3.RowsAffected(); n == 0 {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return 0, nil
	}
	return n, err
}

// applyOnce runs fn in one transaction with the key recorded in it, unless
// the key was recorded before (fn's effect is then already stored).
func (db *Reputation) applyOnce(ctx context.Context, key string, fn func(tx pgx.Tx) error) error {
	if key == "" || !storable(key) {
		return &reputation.FieldError{Field: "key", Msg: "want a non-empty replay key"}
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO reputation_applied (key, applied_ns) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, time.Now().UnixNano())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoChange
		}
		return fn(tx)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// UpsertBatchOnce is UpsertBatch applied at most once per key: a buffered
// batch replayed twice does not add its hits twice.
func (db *Reputation) UpsertBatchOnce(ctx context.Context, key string, es []reputation.Entry) error {
	norm, err := reputation.NormalizeBatch(es, time.Now())
	if err != nil {
		return err
	}
	return db.applyOnce(ctx, key, func(tx pgx.Tx) error {
		for _, e := range norm {
			if _, err := upsertEntry(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpsertOnce is Upsert applied at most once per key; a repeated call
// returns the entry as stored.
func (db *Reputation) UpsertOnce(ctx context.Context, key string, e reputation.Entry) (reputation.Entry, error) {
	if err := reputation.Normalize(&e, time.Now()); err != nil {
		return e, err
	}
	out, applied := e, false
	err := db.applyOnce(ctx, key, func(tx pgx.Tx) error {
		var err error
		out, err = upsertEntry(ctx, tx, e)
		applied = err == nil
		return err
	})
	if err == nil && !applied {
		return db.Get(ctx, e.Kind, e.Value)
	}
	return out, err
}

// AppendEventsOnce is AppendEvents applied at most once per key.
func (db *Reputation) AppendEventsOnce(ctx context.Context, key string, evs []honeypot.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return db.applyOnce(ctx, key, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"honeypot_events"}, honeypotEventCols, honeypotEventRows(evs))
		return err
	})
}

// AddBanOnce is AddBan for a ban carrying a key its node gave it: the
// ban is stored once whatever the number of calls, each returning it
// with the same id.
func (db *Reputation) AddBanOnce(ctx context.Context, key string, b reputation.Ban) (reputation.Ban, error) {
	if key == "" || !storable(key) {
		return b, &reputation.FieldError{Field: "key", Msg: "want a non-empty replay key"}
	}
	if err := reputation.NormalizeBan(&b, time.Now()); err != nil {
		return b, err
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO reputation_bans (ip, reason, source, created_ns, expires_ns, level, released, client_key)
			VALUES ($1, $2, $3, $4, $5, $6, false, $7) ON CONFLICT (client_key) DO NOTHING RETURNING id`,
			b.IP, raw(b.Reason), raw(b.Source), b.Created.UnixNano(), b.Expires.UnixNano(), b.Level, key).Scan(&b.ID)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// Stored before: nothing changes, the version stays.
		if err := tx.QueryRow(ctx, `SELECT id FROM reputation_bans WHERE client_key = $1`, key).Scan(&b.ID); err != nil {
			return err
		}
		return errNoChange
	})
	if errors.Is(err, errNoChange) {
		err = nil
	}
	return b, err
}

// AddBan implements reputation.Store.
func (db *Reputation) AddBan(ctx context.Context, b reputation.Ban) (reputation.Ban, error) {
	if err := reputation.NormalizeBan(&b, time.Now()); err != nil {
		return b, err
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO reputation_bans (ip, reason, source, created_ns, expires_ns, level, released)
			VALUES ($1, $2, $3, $4, $5, $6, false) RETURNING id`,
			b.IP, raw(b.Reason), raw(b.Source), b.Created.UnixNano(), b.Expires.UnixNano(), b.Level).Scan(&b.ID)
	})
	return b, err
}

const repBanCols = `id, ip, reason, source, created_ns, expires_ns, level, released`

func scanRepBan(r sqlq.Scanner) (reputation.Ban, error) {
	var b reputation.Ban
	var reason, source []byte
	var c, e int64
	if err := r.Scan(&b.ID, &b.IP, &reason, &source, &c, &e, &b.Level, &b.Released); err != nil {
		return b, err
	}
	b.Reason, b.Source = string(reason), string(source)
	b.Created, b.Expires = time.Unix(0, c).UTC(), time.Unix(0, e).UTC()
	return b, nil
}

// Bans implements reputation.Store.
func (db *Reputation) Bans(ctx context.Context, now time.Time, all bool) ([]reputation.Ban, error) {
	w := sqlq.Dollar()
	w.AndIf(!all, "NOT released AND expires_ns > ?", now.UnixNano())
	rows, err := db.pool.Query(ctx, `SELECT `+repBanCols+` FROM reputation_bans`+w.String()+` ORDER BY id DESC LIMIT 100000`, w.Args...)
	return sqlq.Collect(rows, err, scanRepBan)
}

// BanCount implements reputation.Store.
func (db *Reputation) BanCount(ctx context.Context, ip string) (int, error) {
	ip, err := reputation.CanonicalIP(ip)
	if err != nil {
		return 0, err
	}
	var n int
	err = db.pool.QueryRow(ctx, `SELECT count(*) FROM reputation_bans WHERE ip = $1`, ip).Scan(&n)
	return n, err
}

// ReleaseBan implements reputation.Store.
func (db *Reputation) ReleaseBan(ctx context.Context, id int64) (reputation.Ban, error) {
	var b reputation.Ban
	err := db.write(ctx, func(tx pgx.Tx) error {
		var err error
		b, err = scanRepBan(tx.QueryRow(ctx, `UPDATE reputation_bans SET released = true WHERE id = $1 RETURNING `+repBanCols, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: ban %d", reputation.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		// What was learned about the same address goes with the ban.
		tag, err := tx.Exec(ctx, `DELETE FROM reputation_entries WHERE kind = 'ip' AND value = $1 AND source IN ($2, $3)`,
			b.IP, reputation.SourceHoneypot, reputation.SourceDetector)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			b.Freed = reputation.KindIP + "/" + b.IP
		}
		return nil
	})
	return b, err
}

// PutLockout implements reputation.Store.
func (db *Reputation) PutLockout(ctx context.Context, l reputation.Lockout) error {
	if err := reputation.NormalizeLockout(&l); err != nil {
		return err
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO reputation_lockouts (kind, tenant, subject, reason, failures, since_ns, until_ns, allowed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (kind, tenant, subject) DO UPDATE SET reason = excluded.reason, failures = excluded.failures,
				since_ns = excluded.since_ns, until_ns = excluded.until_ns, allowed = excluded.allowed`,
			l.Kind, raw(l.Tenant), raw(l.Subject), raw(l.Reason), l.Failures, l.Since.UnixNano(), l.Until.UnixNano(), strings.Join(l.Allowed, ","))
		return err
	})
}

// Lockouts implements reputation.Store.
func (db *Reputation) Lockouts(ctx context.Context, now time.Time) ([]reputation.Lockout, error) {
	rows, err := db.pool.Query(ctx, `SELECT kind, tenant, subject, reason, failures, since_ns, until_ns, allowed FROM reputation_lockouts
		WHERE until_ns > $1 ORDER BY since_ns DESC`, now.UnixNano())
	return sqlq.Collect(rows, err, func(r sqlq.Scanner) (reputation.Lockout, error) {
		var l reputation.Lockout
		var tenant, subject, reason []byte
		var s, u int64
		var allowed string
		err := r.Scan(&l.Kind, &tenant, &subject, &reason, &l.Failures, &s, &u, &allowed)
		l.Tenant, l.Subject, l.Reason = string(tenant), string(subject), string(reason)
		if allowed != "" {
			l.Allowed = strings.Split(allowed, ",")
		}
		l.Since, l.Until = time.Unix(0, s).UTC(), time.Unix(0, u).UTC()
		return l, err
	})
}

// ReleaseLockout implements reputation.Store.
func (db *Reputation) ReleaseLockout(ctx context.Context, kind, tenant, subject string) error {
	if !storable(kind) {
		return fmt.Errorf("%w: lockout %s %s", reputation.ErrNotFound, kind, subject)
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM reputation_lockouts WHERE kind = $1 AND tenant = $2 AND subject = $3`, kind, raw(tenant), raw(subject))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: lockout %s %s (tenant %q)", reputation.ErrNotFound, kind, subject, tenant)
		}
		return nil
	})
}

// PutKnownGood implements reputation.KnownGoodStore: one transaction
// that raises the source's last success and trims the account's list to
// reputation.MaxKnownGood. It does not move the version (screening does
// not read known-good sources). Nodes recording new sources of one
// account at the same instant each trim by what they see, so the list
// may briefly hold one more per racing node; the next success trims it.
func (db *Reputation) PutKnownGood(ctx context.Context, k reputation.KnownGood) error {
	if err := reputation.NormalizeKnownGood(&k); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO reputation_known_good (tenant, account, source, last_ns) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant, account, source) DO UPDATE SET last_ns = greatest(reputation_known_good.last_ns, excluded.last_ns)`,
			raw(k.Tenant), raw(k.Account), k.Source, k.Last.UnixNano()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM reputation_known_good WHERE tenant = $1 AND account = $2 AND source NOT IN (
			SELECT source FROM reputation_known_good WHERE tenant = $1 AND account = $2 ORDER BY last_ns DESC, source LIMIT $3)`,
			raw(k.Tenant), raw(k.Account), reputation.MaxKnownGood)
		return err
	})
}

// KnownGood implements reputation.KnownGoodStore.
func (db *Reputation) KnownGood(ctx context.Context, tenant, account string, since time.Time) ([]reputation.KnownGood, error) {
	q := `SELECT tenant, account, source, last_ns FROM reputation_known_good WHERE account = $1 AND last_ns >= $2`
	args := []any{raw(account), since.UnixNano()}
	if tenant != "" {
		q += ` AND tenant IN ($3, '')`
		args = append(args, raw(tenant))
	}
	rows, err := db.pool.Query(ctx, q+` ORDER BY last_ns DESC, source`, args...)
	return sqlq.Collect(rows, err, func(r sqlq.Scanner) (reputation.KnownGood, error) {
		var k reputation.KnownGood
		var t, a []byte
		var last int64
		err := r.Scan(&t, &a, &k.Source, &last)
		k.Tenant, k.Account, k.Last = string(t), string(a), time.Unix(0, last).UTC()
		return k, err
	})
}

// PurgeKnownGood implements reputation.KnownGoodStore.
func (db *Reputation) PurgeKnownGood(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM reputation_known_good WHERE last_ns < $1`, before.UnixNano())
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

var honeypotEventCols = []string{"time_ns", "kind", "source_ip", "source_port", "transport", "method", "user_agent",
	"from_uri", "to_uri", "request_uri", "call_id", "dialed", "e164", "username", "password", "digits", "detail", "message"}

// AppendEvents implements honeypot.EventStore: one COPY (all or nothing)
// per batch.
func (db *Reputation) AppendEvents(ctx context.Context, evs []honeypot.Event) error {
	if len(evs) == 0 {
		return nil
	}
	_, err := db.pool.CopyFrom(ctx, pgx.Identifier{"honeypot_events"}, honeypotEventCols, honeypotEventRows(evs))
	return err
}

func honeypotEventRows(evs []honeypot.Event) pgx.CopyFromSource {
	return pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
		e := &evs[i]
		return []any{e.Time.UnixNano(), e.Kind, e.SourceIP, int32(e.SourcePort), e.Transport, raw(e.Method), raw(e.UserAgent),
			raw(e.From), raw(e.To), raw(e.RequestURI), raw(e.CallID), raw(e.Dialed), raw(e.E164), raw(e.Username),
			raw(e.Password), raw(e.Digits), raw(e.Detail), e.Message}, nil
	})
}

// Events implements honeypot.EventStore.
func (db *Reputation) Events(ctx context.Context, q honeypot.EventQuery) ([]honeypot.Event, error) {
	if !storable(q.SourceIP) || !storable(q.Kind) {
		return nil, nil
	}
	w := sqlq.Dollar()
	w.AndIf(q.SourceIP != "", "source_ip = ?", q.SourceIP)
	w.AndIf(q.Kind != "", "kind = ?", q.Kind)
	w.AndIf(!q.Since.IsZero(), "time_ns >= ?", q.Since.UnixNano())
	s := `SELECT id, ` + strings.Join(honeypotEventCols, ", ") + ` FROM honeypot_events` + w.String() + " ORDER BY id DESC" + sqlq.Limit(q.Limit, 1000, 10000)
	rows, err := db.pool.Query(ctx, s, w.Args...)
	return sqlq.Collect(rows, err, func(r sqlq.Scanner) (honeypot.Event, error) {
		var e honeypot.Event
		var t int64
		var f [12][]byte
		if err := r.Scan(&e.ID, &t, &e.Kind, &e.SourceIP, &e.SourcePort, &e.Transport, &f[0], &f[1], &f[2], &f[3], &f[4],
			&f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11], &e.Message); err != nil {
			return e, err
		}
		e.Time = time.Unix(0, t).UTC()
		for i, p := range []*string{&e.Method, &e.UserAgent, &e.From, &e.To, &e.RequestURI, &e.CallID, &e.Dialed, &e.E164,
			&e.Username, &e.Password, &e.Digits, &e.Detail} {
			*p = string(f[i])
		}
		return e, nil
	})
}
