package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/gob"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLite is the embedded Store: one database file (voice.db in the data
// directory), WAL mode, records encrypted with Keys.
type SQLite struct {
	db   *sql.DB
	keys *Keys
}

var _ Store = (*SQLite)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS voice_subjects (
	tenant TEXT NOT NULL,
	id TEXT NOT NULL,
	kind TEXT NOT NULL,
	key_id TEXT NOT NULL,
	sealed BLOB NOT NULL,
	created_ns INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS voice_subjects_kind ON voice_subjects (tenant, kind);
CREATE TABLE IF NOT EXISTS voice_generation (
	tenant TEXT NOT NULL,
	kind TEXT NOT NULL,
	gen INTEGER NOT NULL,
	PRIMARY KEY (tenant, kind)
);
CREATE TABLE IF NOT EXISTS voice_results (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	call_id TEXT NOT NULL,
	tenant TEXT NOT NULL,
	time_ns INTEGER NOT NULL,
	op TEXT NOT NULL,
	subject TEXT NOT NULL,
	decision TEXT NOT NULL,
	score REAL NOT NULL,
	llr REAL NOT NULL,
	speech REAL NOT NULL,
	risk INTEGER NOT NULL,
	reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS voice_results_call ON voice_results (call_id);
CREATE TABLE IF NOT EXISTS voice_call_stats (
	call_id TEXT NOT NULL,
	key TEXT NOT NULL,
	key_id TEXT NOT NULL,
	sealed BLOB NOT NULL,
	updated_ns INTEGER NOT NULL,
	PRIMARY KEY (call_id, key)
);
`

// OpenSQLite opens (creating if needed) the voice database at path.
func OpenSQLite(path string, keys *Keys) (*SQLite, error) {
	if keys == nil {
		return nil, errors.New("voice store: no encryption key")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, err
	}
	u := url.URL{Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+u.EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("voice store: %s: %w", path, err)
	}
	return &SQLite{db: db, keys: keys}, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

type sealedSubject struct {
	Label      string
	Model      string
	Speech     float64
	Utterances int
	Print      []byte
	Stats      []byte
	Audio      [][]byte
}

func subjectAAD(tenant, id string) string { return "subject\x00" + tenant + "\x00" + id }

// PutSubject creates or replaces a subject.
func (s *SQLite) PutSubject(ctx context.Context, sub Subject) error {
	kid, sealed, err := sealSubject(s.keys, sub)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var oldKind string
	err = tx.QueryRowContext(ctx, `SELECT kind FROM voice_subjects WHERE tenant=? AND id=?`, sub.Tenant, sub.ID).Scan(&oldKind)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO voice_subjects (tenant,id,kind,key_id,sealed,created_ns,updated_ns) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (tenant,id) DO UPDATE SET kind=excluded.kind, key_id=excluded.key_id, sealed=excluded.sealed, updated_ns=excluded.updated_ns`,
		sub.Tenant, sub.ID, sub.Kind, kid, sealed, sub.Created.UnixNano(), sub.Updated.UnixNano()); err != nil {
		return err
	}
	for _, k := range []string{sub.Kind, oldKind} {
		if k != "" {
			if err := bump(ctx, tx, sub.Tenant, k); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

func bump(ctx context.Context, tx *sql.Tx, tenant, kind string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO voice_generation (tenant,kind,gen) VALUES (?,?,1) ON CONFLICT (tenant,kind) DO UPDATE SET gen=gen+1`, tenant, kind)
	return err
}

// sealSubject encrypts what a subject holds beyond its key, kind and
// times; every backend stores the same sealed form.
func sealSubject(keys *Keys, sub Subject) (keyID string, sealed []byte, err error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(sealedSubject{sub.Label, sub.Model, sub.Speech, sub.Utterances, sub.Print, sub.Stats, sub.Audio}); err != nil {
		return "", nil, err
	}
	return keys.Seal(buf.Bytes(), subjectAAD(sub.Tenant, sub.ID))
}

func (s *SQLite) open(tenant, id, kind, kid string, sealed []byte, created, updated int64) (Subject, error) {
	return openSubject(s.keys, tenant, id, kind, kid, sealed, created, updated)
}

// openSubject is the inverse of sealSubject.
func openSubject(keys *Keys, tenant, id, kind, kid string, sealed []byte, created, updated int64) (Subject, error) {
	plain, err := keys.Open(kid, sealed, subjectAAD(tenant, id))
	if err != nil {
		return Subject{}, fmt.Errorf("subject %s/%s: %w", tenant, id, err)
	}
	var ss sealedSubject
	if err := gob.NewDecoder(bytes.NewReader(plain)).Decode(&ss); err != nil {
		return Subject{}, fmt.Errorf("subject %s/%s: %w", tenant, id, err)
	}
	return Subject{Tenant: tenant, ID: id, Kind: kind, Label: ss.Label, Model: ss.Model, Speech: ss.Speech, Utterances: ss.Utterances,
		Created: time.Unix(0, created).UTC(), Updated: time.Unix(0, updated).UTC(), Print: ss.Print, Stats: ss.Stats, Audio: ss.Audio}, nil
}

// GetSubject reads one subject.
func (s *SQLite) GetSubject(ctx context.Context, tenant, id string) (Subject, error) {
	var kind, kid string
	var sealed []byte
	var created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT kind,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE tenant=? AND id=?`, tenant, id).Scan(&kind, &kid, &sealed, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Subject{}, ErrNotFound
	}
	if err != nil {
		return Subject{}, err
	}
	return s.open(tenant, id, kind, kid, sealed, created, updated)
}

// DeleteSubject removes a subject and everything sealed with it.
func (s *SQLite) DeleteSubject(ctx context.Context, tenant, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var kind string
	err = tx.QueryRowContext(ctx, `SELECT kind FROM voice_subjects WHERE tenant=? AND id=?`, tenant, id).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM voice_subjects WHERE tenant=? AND id=?`, tenant, id); err != nil {
		return err
	}
	if err := bump(ctx, tx, tenant, kind); err != nil {
		return err
	}
	return tx.Commit()
}

// Subjects lists a tenant's subjects of one kind.
func (s *SQLite) Subjects(ctx context.Context, tenant, kind string) ([]Subject, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE tenant=? AND kind=? ORDER BY id`, tenant, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Subject
	for rows.Next() {
		var id, kid string
		var sealed []byte
		var created, updated int64
		if err := rows.Scan(&id, &kid, &sealed, &created, &updated); err != nil {
			return nil, err
		}
		sub, err := s.open(tenant, id, kind, kid, sealed, created, updated)
		if err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// Generation implements Store.
func (s *SQLite) Generation(ctx context.Context, tenant, kind string) (string, error) {
	var g int64
	err := s.db.QueryRowContext(ctx, `SELECT gen FROM voice_generation WHERE tenant=? AND kind=?`, tenant, kind).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return "0", nil
	}
	return fmt.Sprint(g), err
}

// AddResult records a result against a call.
func (s *SQLite) AddResult(ctx context.Context, r Result) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO voice_results (call_id,tenant,time_ns,op,subject,decision,score,llr,speech,risk,reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		r.CallID, r.Tenant, r.Time.UnixNano(), r.Op, r.Subject, r.Decision, r.Score, r.LLR, r.Speech, r.Risk, r.Reason)
	return err
}

// Results implements Store.
func (s *SQLite) Results(ctx context.Context, callIDs []string) (map[string][]Result, error) {
	out := map[string][]Result{}
	for len(callIDs) > 0 {
		n := min(len(callIDs), 500)
		batch := callIDs[:n]
		callIDs = callIDs[n:]
		args := make([]any, len(batch))
		for i, c := range batch {
			args[i] = c
		}
		rows, err := s.db.QueryContext(ctx, `SELECT call_id,tenant,time_ns,op,subject,decision,score,llr,speech,risk,reason FROM voice_results WHERE call_id IN (?`+strings.Repeat(",?", n-1)+`) ORDER BY seq`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r Result
			var t int64
			if err := rows.Scan(&r.CallID, &r.Tenant, &t, &r.Op, &r.Subject, &r.Decision, &r.Score, &r.LLR, &r.Speech, &r.Risk, &r.Reason); err != nil {
				rows.Close()
				return nil, err
			}
			r.Time = time.Unix(0, t).UTC()
			out[r.CallID] = append(out[r.CallID], r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func statsAAD(callID, key string) string { return "callstats\x00" + callID + "\x00" + key }

// CallStats implements Store; nil, nil when there are none.
func (s *SQLite) CallStats(ctx context.Context, callID, key string) ([]byte, error) {
	var kid string
	var sealed []byte
	err := s.db.QueryRowContext(ctx, `SELECT key_id,sealed FROM voice_call_stats WHERE call_id=? AND key=?`, callID, key).Scan(&kid, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.keys.Open(kid, sealed, statsAAD(callID, key))
}

// PutCallStats implements Store.
func (s *SQLite) PutCallStats(ctx context.Context, callID, key string, stats []byte, now time.Time) error {
	kid, sealed, err := s.keys.Seal(stats, statsAAD(callID, key))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO voice_call_stats (call_id,key,key_id,sealed,updated_ns) VALUES (?,?,?,?,?)
		ON CONFLICT (call_id,key) DO UPDATE SET key_id=excluded.key_id, sealed=excluded.sealed, updated_ns=excluded.updated_ns`, callID, key, kid, sealed, now.UnixNano())
	return err
}

// ExpireCallStats implements Store.
func (s *SQLite) ExpireCallStats(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM voice_call_stats WHERE updated_ns < ?`, before.UnixNano())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Rekey rewrites every subject sealed with a key other than the current
// one, and returns how many it rewrote.
func (s *SQLite) Rekey(ctx context.Context) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tenant,id FROM voice_subjects WHERE key_id<>?`, s.keys.Current())
	if err != nil {
		return 0, err
	}
	var ids [][2]string
	for rows.Next() {
		var t, id string
		if err := rows.Scan(&t, &id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, [2]string{t, id})
	}
	rows.Close()
	n := 0
	for _, k := range ids {
		sub, err := s.GetSubject(ctx, k[0], k[1])
		if err != nil {
			return n, err
		}
		if err := s.PutSubject(ctx, sub); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
