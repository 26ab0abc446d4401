package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/internal/sqlq"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// Voice is the embedded voice store: one database file (voice.db in the
// data directory), records sealed with vstore.Keys.
type Voice struct {
	file
	keys *vstore.Keys
}

var _ vstore.Store = (*Voice)(nil)

const voiceSchema = `
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

// voiceFile is voice.db's tables; step 1 creates them only where
// missing, as the files made before the schema was versioned hold them.
var voiceFile = schema{name: "voice", versionTable: "voice_schema", steps: []string{voiceSchema}}

// OpenVoice opens (creating if needed) the voice database at path; keys
// seal the records.
func OpenVoice(path string, keys *vstore.Keys) (*Voice, error) {
	if keys == nil {
		return nil, vstore.ErrNoKeys
	}
	f, err := openFile("voice store", path, voiceFile, fileOptions{})
	if err != nil {
		return nil, err
	}
	return &Voice{file: f, keys: keys}, nil
}

// PutSubject creates or replaces a subject.
func (s *Voice) PutSubject(ctx context.Context, sub vstore.Subject) error {
	kid, sealed, err := s.keys.SealSubject(sub)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
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
			if err := bumpVoiceGen(ctx, tx, sub.Tenant, k); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

func bumpVoiceGen(ctx context.Context, tx *sql.Tx, tenant, kind string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO voice_generation (tenant,kind,gen) VALUES (?,?,1) ON CONFLICT (tenant,kind) DO UPDATE SET gen=gen+1`, tenant, kind)
	return err
}

// GetSubject reads one subject.
func (s *Voice) GetSubject(ctx context.Context, tenant, id string) (vstore.Subject, error) {
	var kind, kid string
	var sealed []byte
	var created, updated int64
	err := s.r.QueryRowContext(ctx, `SELECT kind,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE tenant=? AND id=?`, tenant, id).Scan(&kind, &kid, &sealed, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return vstore.Subject{}, vstore.ErrNotFound
	}
	if err != nil {
		return vstore.Subject{}, err
	}
	return s.keys.OpenSubject(tenant, id, kind, kid, sealed, created, updated)
}

// DeleteSubject removes a subject and everything sealed with it.
func (s *Voice) DeleteSubject(ctx context.Context, tenant, id string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var kind string
	err = tx.QueryRowContext(ctx, `SELECT kind FROM voice_subjects WHERE tenant=? AND id=?`, tenant, id).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return vstore.ErrNotFound
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM voice_subjects WHERE tenant=? AND id=?`, tenant, id); err != nil {
		return err
	}
	if err := bumpVoiceGen(ctx, tx, tenant, kind); err != nil {
		return err
	}
	return tx.Commit()
}

// Subjects lists a tenant's subjects of one kind.
func (s *Voice) Subjects(ctx context.Context, tenant, kind string) ([]vstore.Subject, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+vstore.SubjectCols+` FROM voice_subjects WHERE tenant=? AND kind=? ORDER BY id`, tenant, kind)
	return sqlq.Collect(rows, err, func(r sqlq.Scanner) (vstore.Subject, error) { return s.keys.ScanSubject(r, tenant, kind) })
}

// Generation implements Store.
func (s *Voice) Generation(ctx context.Context, tenant, kind string) (string, error) {
	var g int64
	err := s.r.QueryRowContext(ctx, `SELECT gen FROM voice_generation WHERE tenant=? AND kind=?`, tenant, kind).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return "0", nil
	}
	return fmt.Sprint(g), err
}

// AddResult records a result against a call.
func (s *Voice) AddResult(ctx context.Context, r vstore.Result) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO voice_results (call_id,tenant,time_ns,op,subject,decision,score,llr,speech,risk,reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		r.CallID, r.Tenant, r.Time.UnixNano(), r.Op, r.Subject, r.Decision, r.Score, r.LLR, r.Speech, r.Risk, r.Reason)
	return err
}

// Results implements Store.
func (s *Voice) Results(ctx context.Context, callIDs []string) (map[string][]vstore.Result, error) {
	var all []vstore.Result
	for len(callIDs) > 0 {
		n := min(len(callIDs), 500)
		args := make([]any, n)
		for i, c := range callIDs[:n] {
			args[i] = c
		}
		callIDs = callIDs[n:]
		rows, err := s.r.QueryContext(ctx, `SELECT `+vstore.ResultCols+` FROM voice_results WHERE call_id IN (?`+strings.Repeat(",?", n-1)+`) ORDER BY seq`, args...)
		rs, err := sqlq.Collect(rows, err, vstore.ScanResult)
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	return vstore.ByCall(all), nil
}

// CallStats implements Store; nil, nil when there are none.
func (s *Voice) CallStats(ctx context.Context, callID, key string) ([]byte, error) {
	var kid string
	var sealed []byte
	err := s.r.QueryRowContext(ctx, `SELECT key_id,sealed FROM voice_call_stats WHERE call_id=? AND key=?`, callID, key).Scan(&kid, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.keys.OpenStats(callID, key, kid, sealed)
}

// PutCallStats implements Store.
func (s *Voice) PutCallStats(ctx context.Context, callID, key string, stats []byte, now time.Time) error {
	kid, sealed, err := s.keys.SealStats(callID, key, stats)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO voice_call_stats (call_id,key,key_id,sealed,updated_ns) VALUES (?,?,?,?,?)
		ON CONFLICT (call_id,key) DO UPDATE SET key_id=excluded.key_id, sealed=excluded.sealed, updated_ns=excluded.updated_ns`, callID, key, kid, sealed, now.UnixNano())
	return err
}

// ExpireCallStats implements Store.
func (s *Voice) ExpireCallStats(ctx context.Context, before time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM voice_call_stats WHERE updated_ns < ?`, before.UnixNano())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Rekey rewrites every subject sealed with a key other than the current
// one, and returns how many it rewrote.
func (s *Voice) Rekey(ctx context.Context) (int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant,id FROM voice_subjects WHERE key_id<>?`, s.keys.Current())
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
