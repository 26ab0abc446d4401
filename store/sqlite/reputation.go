package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/honeypot"
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
// in tollgate.db, in its own tables versioned under their own schema
// table, so it never touches the records tables' schema. It is safe for
// concurrent use, and several processes (and tollgate nodes on a shared
// file) may open it.
type Reputation struct{ file }

var reputationMigrations = []string{
	// 1: entries, bans, lockouts, honeypot events.
	`
CREATE TABLE reputation_entries (
	kind       TEXT NOT NULL CHECK (kind IN ('ip', 'number', 'range', 'ua')),
	value      TEXT NOT NULL CHECK (value <> ''),
	source     TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	hits       INTEGER NOT NULL,
	score      INTEGER NOT NULL,
	expires    INTEGER,
	PRIMARY KEY (kind, value)
);
CREATE INDEX reputation_entries_expires ON reputation_entries (expires);

CREATE TABLE reputation_bans (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	ip       TEXT NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	source   TEXT NOT NULL DEFAULT '',
	created  INTEGER NOT NULL,
	expires  INTEGER NOT NULL,
	level    INTEGER NOT NULL DEFAULT 0,
	released INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reputation_bans_ip ON reputation_bans (ip);
CREATE INDEX reputation_bans_expires ON reputation_bans (expires);

CREATE TABLE reputation_lockouts (
	kind     TEXT NOT NULL,
	subject  TEXT NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	failures INTEGER NOT NULL,
	since    INTEGER NOT NULL,
	until    INTEGER NOT NULL,
	PRIMARY KEY (kind, subject)
);

CREATE TABLE honeypot_events (
	id         INTEGER PRIMARY KEY,
	time       INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	source_ip  TEXT NOT NULL,
	source_port INTEGER NOT NULL,
	transport  TEXT NOT NULL,
	method     TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	from_uri   TEXT NOT NULL DEFAULT '',
	to_uri     TEXT NOT NULL DEFAULT '',
	request_uri TEXT NOT NULL DEFAULT '',
	call_id    TEXT NOT NULL DEFAULT '',
	dialed     TEXT NOT NULL DEFAULT '',
	e164       TEXT NOT NULL DEFAULT '',
	username   TEXT NOT NULL DEFAULT '',
	password   TEXT NOT NULL DEFAULT '',
	digits     TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '',
	message    BLOB
);
CREATE INDEX honeypot_events_time ON honeypot_events (time);
CREATE INDEX honeypot_events_ip ON honeypot_events (source_ip, time);
`,
	// 2: a version raised in every transaction that changes entries, bans
	// or lockouts, so a reader can tell cheaply whether to re-read.
	`
CREATE TABLE reputation_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	v  INTEGER NOT NULL
);
INSERT INTO reputation_version (id, v) VALUES (1, 0);
`,
	// 3: learned entries carry a status and their evidence (JSON). Numbers
	// the honeypot learned before were learned from one unproven datagram:
	// they become suspected.
	`
ALTER TABLE reputation_entries ADD COLUMN status TEXT NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'suspected'));
ALTER TABLE reputation_entries ADD COLUMN evidence TEXT;
UPDATE reputation_entries SET status = 'suspected' WHERE source = 'honeypot' AND kind IN ('number', 'range');
`,
	// 4: a lockout names the sources it allows (comma-separated).
	`
ALTER TABLE reputation_lockouts ADD COLUMN allowed TEXT NOT NULL DEFAULT '';
`,
	// 5: a lockout may name its tenant ('' : the username in every
	// tenant), so the key takes the tenant; sources known to be an
	// account's own are kept here, for every node and the next start.
	`
CREATE TABLE reputation_lockouts_new (
	kind     TEXT NOT NULL,
	tenant   TEXT NOT NULL DEFAULT '',
	subject  TEXT NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	failures INTEGER NOT NULL,
	since    INTEGER NOT NULL,
	until    INTEGER NOT NULL,
	allowed  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (kind, tenant, subject)
);
INSERT INTO reputation_lockouts_new (kind, tenant, subject, reason, failures, since, until, allowed)
	SELECT kind, '', subject, reason, failures, since, until, allowed FROM reputation_lockouts;
DROP TABLE reputation_lockouts;
ALTER TABLE reputation_lockouts_new RENAME TO reputation_lockouts;

CREATE TABLE reputation_known_good (
	tenant  TEXT NOT NULL,
	account TEXT NOT NULL,
	source  TEXT NOT NULL,
	last    INTEGER NOT NULL,
	PRIMARY KEY (tenant, account, source)
);
CREATE INDEX reputation_known_good_account ON reputation_known_good (account, last);
CREATE INDEX reputation_known_good_last ON reputation_known_good (last);
`,
}

// reputationFile is the reputation tables of tollgate.db, versioned
// apart from the records tables.
var reputationFile = schema{name: "reputation", versionTable: "reputation_schema", steps: reputationMigrations}

// OpenReputation opens (creating if needed) the database file at path:
// tollgate.db in the data directory, beside the records tables. Its
// connections keep synchronous=NORMAL: a sighting lost to a power cut is
// seen again.
func OpenReputation(path string) (*Reputation, error) {
	f, err := openFile("reputation/sqlite", path, reputationFile, fileOptions{normalSync: true})
	if err != nil {
		return nil, err
	}
	return &Reputation{f}, nil
}

// write runs f in a transaction on the writing connection and raises the
// version in the same transaction, so a reader that sees the new version
// also sees the change; when f fails nothing is written and the version
// stays.
func (db *Reputation) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	return db.file.write(ctx, `UPDATE reputation_version SET v = v + 1 WHERE id = 1`, f)
}

// Version implements reputation.Versioned: one primary-key read.
func (db *Reputation) Version(ctx context.Context) (int64, error) {
	var v int64
	err := db.r.QueryRowContext(ctx, `SELECT v FROM reputation_version WHERE id = 1`).Scan(&v)
	return v, err
}

// Upsert implements reputation.Store.
func (db *Reputation) Upsert(ctx context.Context, e reputation.Entry) (reputation.Entry, error) {
	if err := reputation.Normalize(&e, time.Now()); err != nil {
		return e, err
	}
	in := e
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = upsertEntry(ctx, tx, in)
		return err
	})
	if err != nil {
		return in, err
	}
	return e, nil
}

// upsertEntry merges the normalized entry e into its row.
func upsertEntry(ctx context.Context, tx *sql.Tx, e reputation.Entry) (reputation.Entry, error) {
	old, err := getEntry(ctx, tx, e.Kind, e.Value)
	switch {
	case err == nil:
		e = reputation.Merge(old, e)
	case errors.Is(err, reputation.ErrNotFound):
	default:
		return e, err
	}
	ev, err := reputation.EncodeEvidence(e.Evidence)
	if err != nil {
		return e, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO reputation_entries (kind, value, source, reason, first_seen, last_seen, hits, score, expires, status, evidence)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, value) DO UPDATE SET source = excluded.source, reason = excluded.reason,
			first_seen = excluded.first_seen, last_seen = excluded.last_seen, hits = excluded.hits,
			score = excluded.score, expires = excluded.expires, status = excluded.status, evidence = excluded.evidence`,
		e.Kind, e.Value, e.Source, e.Reason, e.FirstSeen.UnixNano(), e.LastSeen.UnixNano(), e.Hits, e.Score, nanos(e.Expires), e.Status, ev)
	return e, err
}

// UpsertBatch implements reputation.BatchUpserter: every entry merged in
// one transaction.
func (db *Reputation) UpsertBatch(ctx context.Context, es []reputation.Entry) error {
	if len(es) == 0 {
		return nil
	}
	norm, err := reputation.NormalizeBatch(es, time.Now())
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		for _, e := range norm {
			if _, err := upsertEntry(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

const repEntryCols = `kind, value, source, reason, first_seen, last_seen, hits, score, expires, status, evidence`

func scanRepEntry(s sqlq.Scanner) (reputation.Entry, error) {
	var e reputation.Entry
	var first, last int64
	var exp sql.NullInt64
	var ev sql.NullString
	if err := s.Scan(&e.Kind, &e.Value, &e.Source, &e.Reason, &first, &last, &e.Hits, &e.Score, &exp, &e.Status, &ev); err != nil {
		return e, err
	}
	e.FirstSeen, e.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
	if exp.Valid {
		e.Expires = time.Unix(0, exp.Int64).UTC()
	}
	if ev.Valid {
		var err error
		if e.Evidence, err = reputation.DecodeEvidence([]byte(ev.String)); err != nil {
			return e, fmt.Errorf("reputation/sqlite: evidence of %s %s: %w", e.Kind, e.Value, err)
		}
	}
	return e, nil
}

func getEntry(ctx context.Context, q rowQuerier, kind, value string) (reputation.Entry, error) {
	e, err := scanRepEntry(q.QueryRowContext(ctx, `SELECT `+repEntryCols+` FROM reputation_entries WHERE kind = ? AND value = ?`, kind, value))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("%w: %s %s", reputation.ErrNotFound, kind, value)
	}
	return e, err
}

// Get implements reputation.Store.
func (db *Reputation) Get(ctx context.Context, kind, value string) (reputation.Entry, error) {
	k, v, err := reputation.Canonical(kind, value)
	if err != nil {
		return reputation.Entry{}, err
	}
	return getEntry(ctx, db.r, k, v)
}

// Remove implements reputation.Store.
func (db *Reputation) Remove(ctx context.Context, kind, value string) error {
	k, v, err := reputation.Canonical(kind, value)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM reputation_entries WHERE kind = ? AND value = ?`, k, v)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s %s", reputation.ErrNotFound, k, v)
		}
		return nil
	})
}

// List implements reputation.Store.
func (db *Reputation) List(ctx context.Context, q reputation.Query) ([]reputation.Entry, error) {
	w := sqlq.Question()
	w.AndIf(q.Kind != "", "kind = ?", q.Kind)
	w.AndIf(q.Source != "", "source = ?", q.Source)
	w.AndIf(q.Status != "", "status = ?", q.Status)
	w.AndIf(!q.Now.IsZero(), "(expires IS NULL OR expires > ?)", q.Now.UnixNano())
	s := `SELECT ` + repEntryCols + ` FROM reputation_entries` + w.String() + " ORDER BY last_seen DESC, kind, value" + sqlq.Limit(q.Limit, 0, math.MaxInt)
	rows, err := db.r.QueryContext(ctx, s, w.Args...)
	return sqlq.Collect(rows, err, scanRepEntry)
}

// Purge deletes entries that expired before now and bans that ended
// before keepBans ago; it returns how many rows went. The version moves
// only when a row went.
func (db *Reputation) Purge(ctx context.Context, now time.Time, keepBans time.Duration) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		r1, err := tx.ExecContext(ctx, `DELETE FROM reputation_entries WHERE expires IS NOT NULL AND expires <= ?`, now.UnixNano())
		if err != nil {
			return err
		}
		r2, err := tx.ExecContext(ctx, `DELETE FROM reputation_bans WHERE expires <= ?`, now.Add(-keepBans).UnixNano())
		if err != nil {
			return err
		}
		a, _ := r1.RowsAffected()
		b, _ := r2.RowsAffected()
		if n = a + b; n == 0 {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return 0, nil
	}
	return n, err
}

// errNoChange rolls back a write that changed nothing (the version stays).
var errNoChange = errors.New("nothing changed")

// AddBan implements reputation.Store.
func (db *Reputation) AddBan(ctx context.Context, b reputation.Ban) (reputation.Ban, error) {
	if err := reputation.NormalizeBan(&b, time.Now()); err != nil {
		return b, err
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO reputation_bans (ip, reason, source, created, expires, level, released) VALUES (?, ?, ?, ?, ?, ?, 0)`,
			b.IP, b.Reason, b.Source, b.Created.UnixNano(), b.Expires.UnixNano(), b.Level)
		if err != nil {
			return err
		}
		b.ID, err = res.LastInsertId()
		return err
	})
	return b, err
}

const repBanCols = `id, ip, reason, source, created, expires, level, released`

// honeypotEventCols are the columns of an event but its id.
const honeypotEventCols = `time, kind, source_ip, source_port, transport, method, user_agent,
	from_uri, to_uri, request_uri, call_id, dialed, e164, username, password, digits, detail, message`

func scanRepBan(s sqlq.Scanner) (reputation.Ban, error) {
	var b reputation.Ban
	var c, e int64
	if err := s.Scan(&b.ID, &b.IP, &b.Reason, &b.Source, &c, &e, &b.Level, &b.Released); err != nil {
		return b, err
	}
	b.Created, b.Expires = time.Unix(0, c).UTC(), time.Unix(0, e).UTC()
	return b, nil
}

// Bans implements reputation.Store.
func (db *Reputation) Bans(ctx context.Context, now time.Time, all bool) ([]reputation.Ban, error) {
	w := sqlq.Question()
	w.AndIf(!all, "released = 0 AND expires > ?", now.UnixNano())
	rows, err := db.r.QueryContext(ctx, `SELECT `+repBanCols+` FROM reputation_bans`+w.String()+` ORDER BY id DESC LIMIT 100000`, w.Args...)
	return sqlq.Collect(rows, err, scanRepBan)
}

// BanCount implements reputation.Store.
func (db *Reputation) BanCount(ctx context.Context, ip string) (int, error) {
	ip, err := reputation.CanonicalIP(ip)
	if err != nil {
		return 0, err
	}
	var n int
	err = db.r.QueryRowContext(ctx, `SELECT count(*) FROM reputation_bans WHERE ip = ?`, ip).Scan(&n)
	return n, err
}

// ReleaseBan implements reputation.Store.
func (db *Reputation) ReleaseBan(ctx context.Context, id int64) (reputation.Ban, error) {
	var b reputation.Ban
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = scanRepBan(tx.QueryRowContext(ctx, `SELECT `+repBanCols+` FROM reputation_bans WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: ban %d", reputation.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reputation_bans SET released = 1 WHERE id = ?`, id); err != nil {
			return err
		}
		b.Released = true
		// What was learned about the same address goes with the ban.
		res, err := tx.ExecContext(ctx, `DELETE FROM reputation_entries WHERE kind = 'ip' AND value = ? AND source IN (?, ?)`,
			b.IP, reputation.SourceHoneypot, reputation.SourceDetector)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
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
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO reputation_lockouts (kind, tenant, subject, reason, failures, since, until, allowed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, tenant, subject) DO UPDATE SET reason = excluded.reason, failures = excluded.failures, since = excluded.since, until = excluded.until,
				allowed = excluded.allowed`,
			l.Kind, l.Tenant, l.Subject, l.Reason, l.Failures, l.Since.UnixNano(), l.Until.UnixNano(), strings.Join(l.Allowed, ","))
		return err
	})
}

// Lockouts implements reputation.Store.
func (db *Reputation) Lockouts(ctx context.Context, now time.Time) ([]reputation.Lockout, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kind, tenant, subject, reason, failures, since, until, allowed FROM reputation_lockouts WHERE until > ? ORDER BY since DESC`, now.UnixNano())
	return sqlq.Collect(rows, err, func(r sqlq.Scanner) (reputation.Lockout, error) {
		var l reputation.Lockout
		var s, u int64
		var allowed string
		err := r.Scan(&l.Kind, &l.Tenant, &l.Subject, &l.Reason, &l.Failures, &s, &u, &allowed)
		l.Since, l.Until = time.Unix(0, s).UTC(), time.Unix(0, u).UTC()
		if allowed != "" {
			l.Allowed = strings.Split(allowed, ",")
		}
		return l, err
	})
}

// ReleaseLockout implements reputation.Store.
func (db *Reputation) ReleaseLockout(ctx context.Context, kind, tenant, subject string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM reputation_lockouts WHERE kind = ? AND tenant = ? AND subject = ?`, kind, tenant, subject)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: lockout %s %s", reputation.ErrNotFound, kind, lockName(tenant, subject))
		}
		return nil
	})
}

// lockName is a lockout's subject as messages name it.
func lockName(tenant, subject string) string {
	if tenant == "" {
		return subject
	}
	return subject + " of tenant " + tenant
}

// PutKnownGood implements reputation.KnownGoodStore. It does not move
// the version: known-good sources are read when a lockout is decided,
// not by screening.
func (db *Reputation) PutKnownGood(ctx context.Context, k reputation.KnownGood) error {
	if err := reputation.NormalizeKnownGood(&k); err != nil {
		return err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO reputation_known_good (tenant, account, source, last) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant, account, source) DO UPDATE SET last = max(last, excluded.last)`,
		k.Tenant, k.Account, k.Source, k.Last.UnixNano()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM reputation_known_good WHERE tenant = ? AND account = ? AND source NOT IN (
		SELECT source FROM reputation_known_good WHERE tenant = ? AND account = ? ORDER BY last DESC, source LIMIT ?)`,
		k.Tenant, k.Account, k.Tenant, k.Account, reputation.MaxKnownGood); err != nil {
		return err
	}
	return tx.Commit()
}

// KnownGood implements reputation.KnownGoodStore.
func (db *Reputation) KnownGood(ctx context.Context, tenant, account string, since time.Time) ([]reputation.KnownGood, error) {
	q := `SELECT tenant, account, source, last FROM reputation_known_good WHERE account = ? AND last >= ?`
	args := []any{account, since.UnixNano()}
	if tenant != "" {
		q += ` AND tenant IN (?, '')`
		args = append(args, tenant)
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY last DESC, source`, args...)
	return sqlq.Collect(rows, err, func(r sqlq.Scanner) (reputation.KnownGood, error) {
		var k reputation.KnownGood
		var last int64
		err := r.Scan(&k.Tenant, &k.Account, &k.Source, &last)
		k.Last = time.Unix(0, last).UTC()
		return k, err
	})
}

// PurgeKnownGood implements reputation.KnownGoodStore.
func (db *Reputation) PurgeKnownGood(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM reputation_known_good WHERE last < ?`, before.UnixNano())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AppendEvents implements honeypot.EventStore: one transaction per batch.
func (db *Reputation) AppendEvents(ctx context.Context, evs []honeypot.Event) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO honeypot_events (`+honeypotEventCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, e := range evs {
		if _, err := st.ExecContext(ctx, e.Time.UnixNano(), e.Kind, e.SourceIP, e.SourcePort, e.Transport, e.Method, e.UserAgent,
			e.From, e.To, e.RequestURI, e.CallID, e.Dialed, e.E164, e.Username, e.Password, e.Digits, e.Detail, e.Message); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Events implements honeypot.EventStore.
func (db *Reputation) Events(ctx context.Context, q honeypot.EventQuery) ([]honeypot.Event, error) {
	w := sqlq.Question()
	w.AndIf(q.SourceIP != "", "source_ip = ?", q.SourceIP)
	w.AndIf(q.Kind != "", "kind = ?", q.Kind)
	w.AndIf(!q.Since.IsZero(), "time >= ?", q.Since.UnixNano())
	rows, err := db.r.QueryContext(ctx, `SELECT id, `+honeypotEventCols+` FROM honeypot_events`+w.String()+" ORDER BY id DESC"+sqlq.Limit(q.Limit, 1000, 10000), w.Args...)
	return sqlq.Collect(rows, err, func(r sqlq.Scanner) (honeypot.Event, error) {
		var e honeypot.Event
		var t int64
		err := r.Scan(&e.ID, &t, &e.Kind, &e.SourceIP, &e.SourcePort, &e.Transport, &e.Method, &e.UserAgent, &e.From, &e.To,
			&e.RequestURI, &e.CallID, &e.Dialed, &e.E164, &e.Username, &e.Password, &e.Digits, &e.Detail, &e.Message)
		e.Time = time.Unix(0, t).UTC()
		return e, err
	})
}
